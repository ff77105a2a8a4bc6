"""Activities: the only place workflow-driven I/O happens. Built once per worker with its clients."""

from __future__ import annotations

import asyncio

from signalway_examples._common import PUBLISH_UPDATE_ACTIVITY, PublishUpdateInput
from signalway_examples.content_ingestion import (
    PROCESS_DOCUMENT_ACTIVITY,
    ProcessDocumentInput,
    ProcessDocumentResult,
)
from temporalio import activity

from signalway.redis_connect import RedisClient
from signalway.updates import UpdateStore


class Activities:
    def __init__(self, redis: RedisClient, *, max_per_run: int, ttl_seconds: int) -> None:
        self._updates = UpdateStore(redis, max_per_run=max_per_run, ttl_seconds=ttl_seconds)

    @activity.defn(name=PUBLISH_UPDATE_ACTIVITY)
    async def publish_update(self, input: PublishUpdateInput) -> None:
        await self._updates.publish(
            input.run_id,
            type=input.type,
            message=input.message,
            details=input.details,
            workstream_id=input.workstream_id,
            # The activity id is the same on every attempt: a retry whose first attempt did
            # publish (but did not report back) publishes nothing more.
            key=f"activity:{activity.info().activity_id}",
        )

    @activity.defn(name=PROCESS_DOCUMENT_ACTIVITY)
    async def process_document(self, input: ProcessDocumentInput) -> ProcessDocumentResult:
        # Resume after the last part a previous attempt reported.
        start = int(activity.info().heartbeat_details[0]) if activity.info().heartbeat_details else 0
        for part in range(start + 1, input.parts + 1):
            if input.part_delay_secs:
                await asyncio.sleep(input.part_delay_secs)
            await self._updates.publish(
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
