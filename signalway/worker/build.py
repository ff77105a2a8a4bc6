"""`build_worker`: Signalway's own worker, as a team would build theirs: a Temporal `Worker` with
`SignalwayPlugin` (the steps' activities) and the workflows it runs — by default the shipped
examples (with their own activity), or a team's classes (`signalway worker --workflows`)."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import httpx
from temporalio.client import Client
from temporalio.plugin import SimplePlugin
from temporalio.worker import Worker

from signalway.plugin import SignalwayPlugin
from signalway.redis_connect import RedisClient
from signalway.worker.settings import WorkerSettings

# The shipped examples' plugin: their workflows and their own activity (workflows/plugin.py).
EXAMPLES_PLUGIN = "signalway_examples.plugin"


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
        # Loaded by name, and only here: a team's worker (`--workflows`) never loads the examples,
        # and Signalway's own code never imports them (they are a customer of its public API).
        examples_plugin = importlib.import_module(EXAMPLES_PLUGIN).examples_plugin
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
