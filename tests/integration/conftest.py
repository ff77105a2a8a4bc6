"""An in-process worker on a fresh task queue per test, against the session's real Temporal and Redis."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as aioredis
from starlette.applications import Starlette
from temporalio.client import Client

from signalway.gateway.app import create_app
from signalway.worker.build import WorkerDeps, build_worker
from signalway.worker.settings import WorkerSettings
from tests.helpers.gateway import WEBHOOK_SECRET
from tests.helpers.in_process import bearer, serve, settings_for
from tests.helpers.stack import Stack
from tests.helpers.worker import RunningWorker


@pytest.fixture
async def worker(client: Client, redis: aioredis.Redis, stack: Stack) -> AsyncIterator[RunningWorker]:
    settings = WorkerSettings(temporal_address=stack.temporal_address, redis_url=stack.redis_url,
                              shutdown_grace_seconds=5)
    task_queue = str(uuid.uuid4())
    async with httpx.AsyncClient(timeout=5) as http, \
            build_worker(client, WorkerDeps(redis=redis, http=http), settings, task_queue=task_queue):
        yield RunningWorker(client=client, task_queue=task_queue)


@pytest.fixture
async def webhook_worker(client: Client, redis: aioredis.Redis, stack: Stack) -> AsyncIterator[RunningWorker]:
    """The `worker` fixture's worker, able to run "webhook and wait" steps (resume and webhook
    secrets set, loopback receivers allowed)."""
    settings = WorkerSettings(temporal_address=stack.temporal_address, redis_url=stack.redis_url,
                              shutdown_grace_seconds=5, resume_secret=secrets.token_urlsafe(32),
                              webhook_secret=WEBHOOK_SECRET, webhook_allowed_networks="127.0.0.1/32")
    task_queue = str(uuid.uuid4())
    async with httpx.AsyncClient(timeout=2) as http, \
            build_worker(client, WorkerDeps(redis=redis, http=http), settings, task_queue=task_queue):
        yield RunningWorker(client=client, task_queue=task_queue)


@pytest.fixture
def app(stack: Stack, worker: RunningWorker) -> Starlette:
    """The gateway app in-process, on the `worker` fixture's task queue."""
    return create_app(settings_for(stack, worker.task_queue))


@pytest.fixture
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(app, headers=bearer(), timeout=30) as client:
        yield client
