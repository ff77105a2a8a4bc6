"""An ApprovalWorkflow asking by webhook shows its step's deadline and extends it, resume URL included."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta

import pytest
import redis.asyncio as aioredis
from signalway_examples.approval import (
    ApprovalInput,
    ApprovalState,
    ApprovalWorkflow,
    ApproveInput,
    ExtendDeadlineInput,
)
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.worker import Replayer

from signalway.resume import ResumeStep, ResumeStore
from signalway.steps.contract import RESUME_SIGNAL, ResumeSignal
from tests.helpers.polling import eventually
from tests.helpers.worker import RunningWorker

# Nothing listens there: deliveries fail and retry in the background, the step waits all the same.
UNANSWERED_HOOK = "http://127.0.0.1:9/hook"


async def _start(worker: RunningWorker, timeout_secs: float) -> WorkflowHandle[ApprovalWorkflow, object]:
    return await worker.client.start_workflow(
        ApprovalWorkflow.run, ApprovalInput(subject="ship it?", timeout_secs=timeout_secs, webhook_url=UNANSWERED_HOOK),
        id=str(uuid.uuid4()), task_queue=worker.task_queue,
    )


async def _step(redis: aioredis.Redis, run_id: str) -> ResumeStep:
    async def recorded() -> ResumeStep | None:
        steps = await ResumeStore(redis).of_run(run_id)
        return steps[0] if steps else None

    return await eventually(recorded, what="the resume step's record")


def _ms(moment: datetime | None) -> int:
    assert moment is not None
    return int(moment.timestamp() * 1000)


async def test_state_shows_the_webhook_steps_deadline_and_extend_moves_the_url_too(
        webhook_worker: RunningWorker, redis: aioredis.Redis) -> None:
    handle = await _start(webhook_worker, timeout_secs=2)
    step = await _step(redis, handle.result_run_id or "")
    assert step.prompt == "ship it?"  # what the resume page shows the person asked

    state = await handle.query(ApprovalWorkflow.get_state)
    assert state.state == "pending" and state.deadline is not None
    assert _ms(state.deadline) == step.deadline_ms

    extended = await handle.execute_update(ApprovalWorkflow.extend_deadline, ExtendDeadlineInput(seconds=60))
    assert isinstance(extended, ApprovalState) and extended.deadline == state.deadline + timedelta(seconds=60)
    assert (await ResumeStore(redis).get(step.hashed) or step).deadline_ms == _ms(extended.deadline)

    await asyncio.sleep(2.5)  # past the first deadline: both the step and its URL still wait
    assert (await handle.query(ApprovalWorkflow.get_state)).state == "pending"
    assert (await ResumeStore(redis).get(step.hashed) or step).status == "waiting"

    # The resume-URL API's extend (a signal after moving the record) shows in the state as well.
    later = (extended.deadline or state.deadline) + timedelta(minutes=5)
    await handle.signal(RESUME_SIGNAL, ResumeSignal(step="approval", action="extend", deadline=later))

    async def moved() -> bool:
        return (await handle.query(ApprovalWorkflow.get_state)).deadline == later

    await eventually(moved, what="the state to show the operator's extension")

    await handle.signal(ApprovalWorkflow.approve, ApproveInput(approver="dana"))
    assert (await handle.result()).approved is True
    # The new update path replays deterministically from the history it wrote.
    history = await handle.fetch_history()
    await Replayer(workflows=[ApprovalWorkflow], data_converter=webhook_worker.client.data_converter
                   ).replay_workflow(history)


async def test_an_extension_after_the_url_was_used_is_refused(
        webhook_worker: RunningWorker, redis: aioredis.Redis) -> None:
    handle = await _start(webhook_worker, timeout_secs=60)
    step = await _step(redis, handle.result_run_id or "")
    # Revoked in Redis (as the resume-URL API does first), before the workflow hears of it.
    assert await ResumeStore(redis).revoke(step.hashed) == "ok"
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(ApprovalWorkflow.extend_deadline, ExtendDeadlineInput(seconds=60))
    assert "revoked" in str(refused.value.cause)
    state = await handle.query(ApprovalWorkflow.get_state)
    assert state.state == "pending" and _ms(state.deadline) == step.deadline_ms  # nothing moved
    # Ended by a decision, not terminated: a terminated run's coroutines would be torn down
    # mid-`finally` when the worker stops.
    await handle.signal(ApprovalWorkflow.approve, ApproveInput(approver="test"))
    await handle.result()

