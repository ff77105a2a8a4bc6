"""Cancelling an order at any moment — even while its trigger registers — is a `canceled` result."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from signalway.workflow import search_attributes
from tests.helpers.worker import RunningWorker


@pytest.mark.parametrize("delay", [0, 0.005, 0.02, 0.05, 0.1])
async def test_cancel_at_any_moment_is_a_canceled_order(worker: RunningWorker, delay: float) -> None:
    handle = await worker.client.start_workflow(
        "OrderFulfillmentWorkflow", {"order_id": f"c-{uuid.uuid4().hex[:6]}", "timeout_secs": 600},
        id=str(uuid.uuid4()), task_queue=worker.task_queue, search_attributes=search_attributes(project="alpha"))
    await asyncio.sleep(delay)
    await handle.cancel()
    assert (await handle.result())["status"] == "canceled"
