"""An in-process worker on a fresh task queue per test, against the session's real Temporal and Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as aioredis
from temporalio.client import Client

from tests.helpers.stack import Stack
from tests.helpers.worker import RunningWorker
from worker.build import WorkerDeps, build_worker
from worker.settings import WorkerSettings


@pytest.fixture
async def worker(client: Client, redis: aioredis.Redis, stack: Stack) -> AsyncIterator[RunningWorker]:
    settings = WorkerSettings(temporal_address=stack.temporal_address, redis_url=stack.redis_url,
                              shutdown_grace_seconds=5)
    task_queue = str(uuid.uuid4())
    async with httpx.AsyncClient(timeout=5) as http, \
            build_worker(client, WorkerDeps(redis=redis, http=http), settings, task_queue=task_queue):
        yield RunningWorker(client=client, task_queue=task_queue)
