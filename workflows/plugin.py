"""The shipped examples as a plugin of their own, beside `SignalwayPlugin`, as a team would ship
its workflows: their workflow classes and the one activity of their own (`processDocument`).

Worker-side code (it talks to Redis), so nothing in the examples' workflow modules imports it;
`signalway worker` loads it by name (`signalway_examples.plugin:examples_plugin`) when it runs
the examples."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from temporalio import activity
from temporalio.plugin import SimplePlugin

from signalway.redis_connect import RedisClient, close, connect
from signalway.updates import UpdateStore
from signalway.worker.settings import WorkerSettings

from .content_ingestion import (
    PROCESS_DOCUMENT_ACTIVITY,
    ProcessDocumentInput,
    ProcessDocumentResult,
)
from .registry import WORKFLOWS


class ExampleActivities:
    def __init__(self, settings: WorkerSettings, redis: RedisClient | None = None) -> None:
        self._settings = settings
        self._given = redis
        self._updates: UpdateStore | None = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        redis = self._given or connect(self._settings.redis_url)
        self._updates = UpdateStore(redis, max_per_run=self._settings.updates_max_per_run,
                                    ttl_seconds=self._settings.updates_ttl_seconds)
        try:
            yield
        finally:
            self._updates = None
            if self._given is None:
                await close(redis)

    @activity.defn(name=PROCESS_DOCUMENT_ACTIVITY)
    async def process_document(self, input: ProcessDocumentInput) -> ProcessDocumentResult:
        updates = self._updates
        if updates is None:
            raise RuntimeError("the examples' activities run only while their worker runs")
        # Resume after the last part a previous attempt reported.
        start = int(activity.info().heartbeat_details[0]) if activity.info().heartbeat_details else 0
        for part in range(start + 1, input.parts + 1):
            if input.part_delay_secs:
                await asyncio.sleep(input.part_delay_secs)
            await updates.publish(
                input.run_id,
                type="PROGRESS",
                message=f"Processing document {input.document_id}: part {part} of {input.parts}",
                details={"current": part, "total": input.parts, "percentage": round(part * 100 / input.parts)},
                # A retry resumes after the last heartbeat; a part published after it is not
                # published again.
                key=f"activity:{activity.info().activity_id}:part:{part}",
            )
            activity.heartbeat(part)
        return ProcessDocumentResult(parts_processed=input.parts)


def examples_plugin(settings: WorkerSettings, redis: RedisClient | None = None) -> SimplePlugin:
    """The four example workflows and `processDocument`, for `Worker(..., plugins=[...])`."""
    activities = ExampleActivities(settings, redis)
    return SimplePlugin("signalway.examples", workflows=list(WORKFLOWS), activities=[activities.process_document],
                        run_context=activities.running)
