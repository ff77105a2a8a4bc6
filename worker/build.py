"""`build_worker` is used by both `python -m worker` and the tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import redis.asyncio as aioredis
from temporalio.client import Client
from temporalio.worker import Worker

from worker.activities import Activities
from worker.settings import WorkerSettings
from workflows.registry import WORKFLOWS


@dataclass
class WorkerDeps:
    redis: aioredis.Redis


def build_worker(
    client: Client, deps: WorkerDeps, settings: WorkerSettings, *, task_queue: str | None = None
) -> Worker:
    activities = Activities(
        deps.redis,
        max_per_run=settings.updates_max_per_run,
        ttl_seconds=settings.updates_ttl_seconds,
    )
    return Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=list(WORKFLOWS),
        activities=[activities.publish_update, activities.process_document],
        max_concurrent_activities=settings.max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
        graceful_shutdown_timeout=timedelta(seconds=settings.shutdown_grace_seconds),
    )
