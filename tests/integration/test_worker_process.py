"""`python -m signalway.worker` as a real process: it drains in-flight activities on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import uuid

import redis.asyncio as aioredis
from signalway_examples.content_ingestion import IngestionInput, StandardContentIngestion
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from signalway.localstack import ManagedProcess
from signalway.updates import updates_key
from tests.helpers.polling import eventually
from tests.helpers.stack import Stack


async def test_sigterm_lets_the_running_activity_finish(client: Client, redis: aioredis.Redis, stack: Stack) -> None:
    task_queue = str(uuid.uuid4())
    process = ManagedProcess(
        "drain-worker", [sys.executable, "-m", "signalway.worker"], log_path=stack.data_dir / "drain-worker.log",
        env={"SIGNALWAY_TEMPORAL_ADDRESS": stack.temporal_address, "SIGNALWAY_REDIS_URL": stack.redis_url,
             "SIGNALWAY_TASK_QUEUE": task_queue, "SIGNALWAY_SHUTDOWN_GRACE_SECONDS": "20"},
    )
    try:
        handle = await client.start_workflow(
            StandardContentIngestion.run, IngestionInput(documentId="drain", parts=3, part_delay_secs=0.7),
            id=str(uuid.uuid4()), task_queue=task_queue,
        )
        key = updates_key(handle.result_run_id)
        await eventually(lambda: redis.zcard(key), what="the activity to start reporting")
        process.popen.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(process.popen.wait, 30)
        assert code == 0
        # The activity ran to its end during the drain and Temporal recorded its completion.
        parts = [json.loads(m)["details"]["current"] for m in await redis.zrange(key, 0, -1)]
        assert parts == [1, 2, 3]
        types = [e.event_type async for e in handle.fetch_history_events()]
        assert EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED in types
        assert "worker draining" in process.tail(50)
    finally:
        process.stop()
