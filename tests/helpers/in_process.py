"""The real gateway app in-process: `TestClient` runs it, an `httpx.AsyncClient` drives it.

`TestClient` runs the app (and its lifespan) on an event loop of its own, in a thread, and
blocks its caller until an answer is complete. Async tests share the session's event loop
with the in-process worker, so a blocking call from a test would stall the worker the app
is waiting for. Each request is therefore sent from a worker thread: the test awaits it,
and its loop keeps running meanwhile.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.exceptions import StarletteDeprecationWarning

from signalway.gateway.settings import GatewaySettings
from signalway.tokens import mint
from tests.helpers.gateway import API_KEY
from tests.helpers.stack import Stack

with warnings.catch_warnings():
    # Starlette's TestClient prefers `httpx2` and warns (an error here) when it finds only
    # `httpx`, which is what the project depends on. Requests below go through TestClient's
    # own methods, so they work with either package.
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

BASE_URL = "http://testserver"
SECRET = secrets.token_urlsafe(32)
# A project of its own: the session's other tests list and count their projects' runs.
PROJECT = f"in-process-{uuid.uuid4().hex[:8]}"


def bearer(user: str = "alice", *permissions: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint(SECRET, project=PROJECT, user=user, permissions=permissions)}"}


def settings_for(stack: Stack, task_queue: str, **overrides: object) -> GatewaySettings:
    values: dict[str, object] = {
        "temporal_address": stack.temporal_address, "redis_url": stack.redis_url, "task_queue": task_queue,
        "jwt_secret": SECRET, "api_keys": {API_KEY: PROJECT}, **overrides,
    }
    return GatewaySettings.model_validate(values)


class _ThreadedTestClient(httpx.AsyncBaseTransport):
    def __init__(self, client: TestClient) -> None:
        self._client = client

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        answer = await asyncio.to_thread(
            self._client.request, request.method, str(request.url), headers=request.headers.multi_items(),
            content=body, follow_redirects=False,
        )
        # TestClient read the answer in full; it is handed back as a plain, re-readable response.
        return httpx.Response(answer.status_code, headers=answer.headers.multi_items(), content=answer.content)


@asynccontextmanager
async def serve(app: Starlette, **client_options: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An async client for `app`, with the app's lifespan running for as long as it is open."""
    with TestClient(app, base_url=BASE_URL) as test_client:
        transport = _ThreadedTestClient(test_client)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL, **client_options) as http:
            yield http
