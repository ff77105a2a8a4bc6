"""`webhook_and_wait`: notify an outside system by webhook and wait, durably, for its answer.

    opened = openResumeStep (activity)      records the step in Redis, hashed token only
    deliverWebhook (activity, retried)      signed POST carrying resume_workflow_url
    wait for `signalway_resume`             resume | revoke | extend, or the deadline

The gateway's `POST /public/send-user-signal/{token}` checks the variables and signals the
run; an operator can revoke the URL or extend its deadline without touching the run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from signalway import search_attributes as sa
    from workflows._common import run_state
    from workflows.webhook_wait.models import (
        DELIVER_WEBHOOK_ACTIVITY,
        OPEN_RESUME_STEP_ACTIVITY,
        RESUME_SIGNAL,
        DeliverWebhookInput,
        OpenResumeStepInput,
        ResumeSignal,
        ResumeStepOpened,
        VariableType,
    )

# Without a timeout a step still ends one day, so a forgotten URL does not live forever.
DEFAULT_TIMEOUT = timedelta(days=30)


class ResumeTimedOut(ApplicationError):
    def __init__(self, step: str) -> None:
        super().__init__(f"resume step {step!r} timed out", type="ResumeTimedOut", non_retryable=True)


class ResumeRevoked(ApplicationError):
    def __init__(self, step: str) -> None:
        super().__init__(f"resume step {step!r} was revoked", type="ResumeRevoked", non_retryable=True)


@dataclass
class _Step:
    deadline: datetime
    outcome: ResumeSignal | None = None


@dataclass
class _Steps:
    steps: dict[str, _Step] = field(default_factory=dict)
    early: dict[str, list[ResumeSignal]] = field(default_factory=dict)

    def on_signal(self, signal: Any) -> None:
        message = signal if isinstance(signal, ResumeSignal) else ResumeSignal.model_validate(signal)
        step = self.steps.get(message.step)
        if step is None:
            self.early.setdefault(message.step, []).append(message)
            return
        self.apply(step, message)

    @staticmethod
    def apply(step: _Step, message: ResumeSignal) -> None:
        if step.outcome is not None:
            return
        if message.action == "extend" and message.deadline is not None:
            step.deadline = message.deadline
        elif message.action in ("resume", "revoke"):
            step.outcome = message


def _steps() -> _Steps:
    return run_state("_signalway_resume_steps", _Steps, RESUME_SIGNAL)


async def webhook_and_wait(
    url: str,
    variables: Mapping[str, VariableType],
    *,
    timeout: timedelta | None = None,  # noqa: ASYNC109 - a durable timer, not an asyncio timeout
    step: str | None = None,
) -> dict[str, Any]:
    """POST a signed webhook carrying a resume URL, then wait for the variables to come back.

    Returns the variables (already checked by the gateway against `variables`' names and
    types). Raises `ResumeTimedOut` at the deadline and `ResumeRevoked` when an operator
    revoked the URL; both are `ApplicationError`s the workflow can catch.
    """
    state = _steps()
    info = workflow.info()
    name = step or f"step-{len(state.steps) + 1}"
    if name in state.steps:
        raise ApplicationError(f"resume step {name!r} already used in this run", type="DuplicateStep",
                               non_retryable=True)
    current = _Step(deadline=workflow.now() + (timeout or DEFAULT_TIMEOUT))
    state.steps[name] = current
    for early in state.early.pop(name, []):
        _Steps.apply(current, early)
    spec = dict(variables)
    opened: ResumeStepOpened = await workflow.execute_activity(
        OPEN_RESUME_STEP_ACTIVITY,
        OpenResumeStepInput(workflow_id=info.workflow_id, run_id=info.run_id, step=name,
                            project=info.typed_search_attributes.get(sa.PROJECT), variables=spec,
                            deadline=current.deadline),
        result_type=ResumeStepOpened,
        start_to_close_timeout=timedelta(seconds=10),
    )
    delivery = workflow.start_activity(
        DELIVER_WEBHOOK_ACTIVITY,
        DeliverWebhookInput(url=url, nonce=opened.nonce, workflow_id=info.workflow_id, run_id=info.run_id,
                            step=name, variables=spec, deadline=current.deadline),
        start_to_close_timeout=timedelta(seconds=30),
        schedule_to_close_timeout=max(current.deadline - workflow.now(), timedelta(seconds=1)),
        # The receiver may be down for a while: back off up to a minute, until the deadline.
        retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2,
                                 maximum_interval=timedelta(seconds=60)),
    )
    try:
        while current.outcome is None:
            deadline = current.deadline
            remaining = (deadline - workflow.now()).total_seconds()
            if remaining <= 0:
                raise ResumeTimedOut(name)

            def settled_or_moved(deadline: datetime = deadline) -> bool:
                return current.outcome is not None or current.deadline != deadline

            try:
                await workflow.wait_condition(settled_or_moved, timeout=timedelta(seconds=remaining))
            except TimeoutError:
                continue
    finally:
        if not delivery.done():
            delivery.cancel()
        try:
            await delivery
        except (ActivityError, asyncio.CancelledError):
            pass  # cancelled because we are done, or it gave up at the deadline: either is settled
    if current.outcome.action == "revoke":
        raise ResumeRevoked(name)
    return dict(current.outcome.variables or {})
