"""The example workflows on a real Temporal dev server, with short real timeouts."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
import redis.asyncio as aioredis
from signalway_examples.approval import (
    ApprovalInput,
    ApprovalResult,
    ApprovalState,
    ApprovalWorkflow,
    ApproveInput,
    ExtendDeadlineInput,
)
from signalway_examples.content_ingestion import (
    IngestionInput,
    IngestionResult,
    StandardContentIngestion,
)
from signalway_examples.conversation import ConversationInput, ConversationWorkflow, UserInput
from signalway_examples.order_fulfillment import OrderFulfillmentWorkflow, OrderInput
from temporalio.client import WorkflowUpdateFailedError

from signalway.updates import updates_key
from signalway.workflow import EventReceived, search_attributes
from tests.helpers.worker import RunningWorker


async def test_approval_times_out_at_its_deadline(worker: RunningWorker) -> None:
    result = await worker.client.execute_workflow(
        ApprovalWorkflow.run, ApprovalInput(subject="late", timeout_secs=1),
        id=str(uuid.uuid4()), task_queue=worker.task_queue,
    )
    assert result == ApprovalResult(approved=False, timed_out=True)


async def test_extend_deadline_update_moves_the_deadline_and_validator_rejects(worker: RunningWorker) -> None:
    handle = await worker.client.start_workflow(
        ApprovalWorkflow.run, ApprovalInput(subject="extend", timeout_secs=2),
        id=str(uuid.uuid4()), task_queue=worker.task_queue,
    )
    before = await handle.query(ApprovalWorkflow.get_state)
    state = await handle.execute_update(ApprovalWorkflow.extend_deadline, ExtendDeadlineInput(seconds=60))
    assert isinstance(state, ApprovalState) and state.deadline is not None and before.deadline is not None
    assert (state.deadline - before.deadline).total_seconds() == pytest.approx(60)
    await asyncio.sleep(2.5)  # past the original deadline: still pending
    assert (await handle.query(ApprovalWorkflow.get_state)).state == "pending"
    await handle.signal(ApprovalWorkflow.approve, ApproveInput(approver="dana"))
    assert (await handle.result()).approved is True
    no_deadline = await worker.client.start_workflow(
        ApprovalWorkflow.run, ApprovalInput(subject="open"), id=str(uuid.uuid4()), task_queue=worker.task_queue,
    )
    with pytest.raises(WorkflowUpdateFailedError) as failure:
        await no_deadline.execute_update(ApprovalWorkflow.extend_deadline, ExtendDeadlineInput(seconds=1))
    assert "no deadline" in str(failure.value.cause)
    await no_deadline.terminate("test done")


async def test_order_is_fulfilled_by_its_two_events(worker: RunningWorker) -> None:
    handle = await worker.client.start_workflow(
        OrderFulfillmentWorkflow.run, OrderInput(order_id="42", timeout_secs=30),
        id=str(uuid.uuid4()), task_queue=worker.task_queue, search_attributes=search_attributes(project="alpha"),
    )
    # The shipped event may arrive first; it is kept until the workflow reaches that step.
    await handle.signal(OrderFulfillmentWorkflow.event_received,
                        EventReceived(event_key="order:42:shipped", payload={"carrier": "ups"}))
    await handle.signal(OrderFulfillmentWorkflow.event_received,
                        EventReceived(event_key="order:42:paid", payload={"amount": 10}))
    result = await handle.result()
    assert (result.status, result.paid, result.shipped) == ("fulfilled", {"amount": 10}, {"carrier": "ups"})


async def test_order_times_out_keeping_what_arrived(worker: RunningWorker) -> None:
    handle = await worker.client.start_workflow(
        OrderFulfillmentWorkflow.run, OrderInput(order_id="7", timeout_secs=1.5),
        id=str(uuid.uuid4()), task_queue=worker.task_queue, search_attributes=search_attributes(project="alpha"),
    )
    await handle.signal(OrderFulfillmentWorkflow.event_received, EventReceived(event_key="order:7:paid", payload=1))
    result = await handle.result()
    assert (result.status, result.paid, result.shipped) == ("timed_out", 1, None)


async def test_ingestion_reports_progress_one_to_n(worker: RunningWorker, redis: aioredis.Redis) -> None:
    handle = await worker.client.start_workflow(
        StandardContentIngestion.run, IngestionInput(documentId="doc-9", parts=3),
        id=str(uuid.uuid4()), task_queue=worker.task_queue,
    )
    assert await handle.result() == IngestionResult(success=True)
    run_id = handle.result_run_id
    messages = [json.loads(m) for m in await redis.zrange(updates_key(run_id), 0, -1)]
    assert [(m["type"], m["details"]["current"], m["details"]["total"]) for m in messages] == [
        ("PROGRESS", 1, 3), ("PROGRESS", 2, 3), ("PROGRESS", 3, 3)]
    assert [m["id"] for m in messages] == [1, 2, 3]
    assert all(m["workflow_run_id"] == run_id for m in messages)
    assert 0 < await redis.ttl(updates_key(run_id)) <= 90 * 24 * 3600


async def test_conversation_answers_each_message(worker: RunningWorker, redis: aioredis.Redis) -> None:
    handle = await worker.client.start_workflow(
        ConversationWorkflow.run, ConversationInput(), id=str(uuid.uuid4()), task_queue=worker.task_queue,
    )
    for text in ("hello", "bye"):
        await handle.signal(ConversationWorkflow.user_input, UserInput(message=text))
    assert (await handle.result()).turns == 2
    answers = [json.loads(m) for m in await redis.zrange(updates_key(handle.result_run_id), 0, -1)]
    assert [(a["type"], a["message"]) for a in answers] == [("ANSWER", "echo: hello"), ("ANSWER", "echo: bye")]
