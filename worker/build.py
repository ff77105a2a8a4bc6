"""`build_worker`: Signalway's own worker, as a team would build theirs: a Temporal `Worker` with
`SignalwayPlugin` (the steps' activities) and the workflows it runs — by default the shipped
examples (with their own activity), or a team's classes (`signalway worker --workflows`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import httpx
from temporalio.client import Client
from temporalio.plugin import SimplePlugin
from temporalio.worker import Worker

from signalway.plugin import SignalwayPlugin
from signalway.redis_connect import RedisClient
from worker.settings import WorkerSettings


@dataclass
class WorkerDeps:
    """Clients the worker's activities use instead of opening their own (the tests' ones)."""

    redis: RedisClient | None = None
    http: httpx.AsyncClient | None = None


def build_worker(
    client: Client, deps: WorkerDeps | None, settings: WorkerSettings, *, task_queue: str | None = None,
    workflows: Sequence[type] | None = None,
) -> Worker:
    """The worker on `client` for `workflows` (default: the shipped examples), whose interceptors
    apply to it too: with tracing on, the Temporal SDK's `TracingInterceptor` (added by
    `signalway.temporal.connect`) makes the workflow and activity spans. It issues no command and
    makes no span while replaying (spans are made outside the sandbox, through an extern
    function), so a history replays the same with or without it: tests/e2e/test_observability.py
    replays a traced run to prove it."""
    deps = deps or WorkerDeps()
    plugins: list[SimplePlugin] = [SignalwayPlugin(settings, redis=deps.redis, http=deps.http)]
    if workflows is None:
        # Imported only here: a team's worker (`--workflows`) never loads the examples, so its own
        # package may be called `workflows` too.
        from worker.examples import examples_plugin

        plugins.append(examples_plugin(settings, deps.redis))
    return Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=list(workflows or ()),
        plugins=plugins,
        max_concurrent_activities=settings.max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
        graceful_shutdown_timeout=timedelta(seconds=settings.shutdown_grace_seconds),
    )
