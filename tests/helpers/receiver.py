"""A real webhook receiver on 127.0.0.1 that records what the worker delivers (its resume URLs)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from signalway.localstack import free_port
from tests.helpers.gateway import WEBHOOK_SECRET
from tests.helpers.http import execute
from tests.helpers.polling import eventually


@dataclass
class Receiver:
    url: str
    deliveries: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    async def next_payload(self, within: float = 30) -> tuple[dict[str, Any], dict[str, str], bytes]:
        await eventually(lambda: _ready(self.deliveries), within=within, what="a webhook delivery")
        headers, body = self.deliveries[-1]
        payload = Webhook(WEBHOOK_SECRET).verify(body, headers)  # raises unless signed by Signalway
        return payload, headers, body


async def _ready(items: list[Any]) -> bool:
    return bool(items)


@asynccontextmanager
async def serve_receiver(port: int | None = None) -> AsyncIterator[Receiver]:
    """A real HTTP server that records webhook deliveries."""
    port = port or free_port()
    receiver = Receiver(url=f"http://127.0.0.1:{port}/hook")

    async def hook(request: Request) -> Response:
        receiver.deliveries.append((dict(request.headers), await request.body()))
        return Response(status_code=204)

    app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))

    async def listening() -> bool:
        return server.started

    task = asyncio.create_task(server.serve())
    await eventually(listening, within=10, what="the webhook receiver to listen")
    try:
        yield receiver
    finally:
        server.should_exit = True
        await task


async def start_approval(http: httpx.AsyncClient, receiver: Receiver, timeout_secs: float = 120,
                         subject: str = "ship?", **body: Any) -> tuple[str, str]:
    """An ApprovalWorkflow asking `receiver` by webhook; (workflow_id, run_id)."""
    return await execute(http, "ApprovalWorkflow",
                         {"subject": subject, "webhook_url": receiver.url, "timeout_secs": timeout_secs}, **body)


async def resume_url(http: httpx.AsyncClient, timeout_secs: float = 120, subject: str = "ship?",
                     **body: Any) -> tuple[str, str, str]:
    """Start an ApprovalWorkflow by webhook and catch its resume URL; (workflow_id, run_id, url)."""
    async with serve_receiver() as receiver:
        wid, rid = await start_approval(http, receiver, timeout_secs, subject, **body)
        payload, _, _ = await receiver.next_payload()
    return wid, rid, str(payload["resume_workflow_url"])
