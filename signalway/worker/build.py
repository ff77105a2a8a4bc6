"""`build_worker` is used by both `python -m signalway.worker` and the tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import httpx
from signalway_examples.registry import WORKFLOWS
from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.worker import Worker

from signalway.redis_connect import RedisClient
from signalway.worker.activities import Activities
from signalway.worker.metrics import WorkerMetrics
from signalway.worker.resume import ResumeActivities
from signalway.worker.settings import WorkerSettings
from signalway.worker.triggers import TriggerActivities


@dataclass
class WorkerDeps:
    redis: RedisClient
    http: httpx.AsyncClient


def build_worker(
    client: Client, deps: WorkerDeps, settings: WorkerSettings, *, task_queue: str | None = None
) -> Worker:
    """The worker on `client`, whose interceptors apply to it too: with tracing on, the Temporal
    SDK's `TracingInterceptor` (added by `signalway.temporal.connect`) makes the workflow and
    activity spans. It issues no command and makes no span while replaying (spans are made
    outside the sandbox, through an extern function), so a history replays the same with or
    without it: tests/e2e/test_observability.py replays a traced run to prove it."""
    # The client's runtime meter: it exports to the worker's Prometheus endpoint when one is
    # configured (signalway.temporal.metrics_runtime), and is the SDK's no-op meter otherwise.
    metrics = WorkerMetrics((client.service_client.config.runtime or Runtime.default()).metric_meter)
    activities = Activities(
        deps.redis,
        max_per_run=settings.updates_max_per_run,
        ttl_seconds=settings.updates_ttl_seconds,
    )
    secret = settings.resume_secret.get_secret_value().encode() if settings.resume_secret else None
    resume = ResumeActivities(
        deps.redis, deps.http, resume_secret=secret,
        webhook_secret=settings.webhook_secret.get_secret_value() if settings.webhook_secret else None,
        public_url=settings.public_url,
        allowed_networks=settings.webhook_networks, metrics=metrics,
    )
    triggers = TriggerActivities(deps.redis, metrics, shards=settings.trigger_buckets)
    return Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=list(WORKFLOWS),
        activities=[activities.publish_update, activities.process_document, resume.open_step, resume.deliver,
                    resume.extend_step, triggers.register, triggers.settle],
        max_concurrent_activities=settings.max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
        graceful_shutdown_timeout=timedelta(seconds=settings.shutdown_grace_seconds),
    )
