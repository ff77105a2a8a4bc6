"""Activities: the only place workflow-driven I/O happens. Built once per worker with its clients."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import redis.asyncio as aioredis
from temporalio import activity

from workflows._common import PUBLISH_UPDATE_ACTIVITY, PublishUpdateInput
from workflows.content_ingestion import (
    PROCESS_DOCUMENT_ACTIVITY,
    ProcessDocumentInput,
    ProcessDocumentResult,
)

UPDATES_KEY = "signalway:updates:{run_id}"
UPDATES_SEQ_KEY = "signalway:updates-seq:{run_id}"
UPDATES_CHANNEL = "signalway:updates-ch:{run_id}"


class Activities:
    def __init__(self, redis: aioredis.Redis, *, max_per_run: int, ttl_seconds: int) -> None:
        self._redis = redis
        self._max_per_run = max_per_run
        self._ttl = ttl_seconds

    async def _store_update(self, run_id: str, message: dict[str, Any]) -> None:
        seq = await self._redis.incr(UPDATES_SEQ_KEY.format(run_id=run_id))
        record = json.dumps({"id": seq, **message}, separators=(",", ":"))
        key = UPDATES_KEY.format(run_id=run_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, record)
            pipe.ltrim(key, -self._max_per_run, -1)
            pipe.expire(key, self._ttl)
            pipe.expire(UPDATES_SEQ_KEY.format(run_id=run_id), self._ttl)
            pipe.publish(UPDATES_CHANNEL.format(run_id=run_id), record)
            await pipe.execute()

    @activity.defn(name=PUBLISH_UPDATE_ACTIVITY)
    async def publish_update(self, input: PublishUpdateInput) -> None:
        await self._store_update(
            input.run_id,
            {
                "timestamp": int(time.time() * 1000),
                "workflow_run_id": input.run_id,
                "type": input.type,
                "message": input.message if input.message is not None else input.type,
                "details": input.details,
                "workstream_id": input.workstream_id,
            },
        )

    @activity.defn(name=PROCESS_DOCUMENT_ACTIVITY)
    async def process_document(self, input: ProcessDocumentInput) -> ProcessDocumentResult:
        # Resume after the last part a previous attempt reported.
        start = int(activity.info().heartbeat_details[0]) if activity.info().heartbeat_details else 0
        for part in range(start + 1, input.parts + 1):
            if input.part_delay_secs:
                await asyncio.sleep(input.part_delay_secs)
            await self._store_update(
                input.run_id,
                {
                    "timestamp": int(time.time() * 1000),
                    "workflow_run_id": input.run_id,
                    "type": "PROGRESS",
                    "message": f"Processing document {input.document_id}: part {part} of {input.parts}",
                    "details": {
                        "current": part,
                        "total": input.parts,
                        "percentage": round(part * 100 / input.parts),
                    },
                    "workstream_id": None,
                },
            )
            activity.heartbeat(part)
        return ProcessDocumentResult(parts_processed=input.parts)
