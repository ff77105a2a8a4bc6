"""`webhook_and_wait`: notify an outside system by webhook and wait, durably, for its answer.

    opened = openResumeStep (activity)      records the step in Redis, hashed token only
    deliverWebhook (activity, retried)      signed POST carrying resume_workflow_url
    wait for `signalway_resume`             resume | revoke | extend, or the deadline

The gateway's `POST /public/send-user-signal/{token}` checks the variables and signals the
run; an operator can revoke the URL or extend its deadline without touching the run. The
workflow itself can read a waiting step's deadline (`step_deadline`) and move it
(`extend_step`, which moves the URL's deadline in Redis first through `extendResumeStep`).
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
    from signalway.steps.contract import (
        DELIVER_WEBHOOK_ACTIVITY,
        EXTEND_RESUME_STEP_ACTIVITY,
        OPEN_RESUME_STEP_ACTIVITY,
        RESUME_SIGNAL,
        DeliverWebhookInput,
        ExtendResumeStepInput,
        OpenResumeStepInput,
        ResumeSignal,
        ResumeStepOpened,
        VariableType,
    )
    from signalway.steps.state import run_state

# Without a timeout a step still ends one day, so a forgotten URL does not live forever.
DEFAULT_TIMEOUT = timedelta(days=30)
_STATE = "_signalway_resume_steps"


class ResumeTimedOut(ApplicationError):
    """The step's deadline passed with no answer (type `ResumeTimedOut`, not retried)."""

    def __init__(self, step: str) -> None:
        super().__init__(f"resume step {step!r} timed out", type="ResumeTimedOut", non_retryable=True)


class ResumeRevoked(ApplicationError):
    """An operator revoked the step's resume URL (type `ResumeRevoked`, not retried)."""

    def __init__(self, step: str) -> None:
        super().__init__(f"resume step {step!r} was revoked", type="ResumeRevoked", non_retryable=True)


class ResumeStepNotWaiting(ApplicationError):
    """`extend_step` on a step that does not wait (type `ResumeStepNotWaiting`, not retried)."""

    def __init__(self, step: str, why: str) -> None:
        super().__init__(f"resume step {step!r} {why}", type="ResumeStepNotWaiting", non_retryable=True)


@dataclass
class _Step:
    deadline: datetime
    outcome: ResumeSignal | None = None
    # Set once its record is in Redis: only then can the URL's deadline move with it.
    opened: bool = False


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
    return run_state(_STATE, _Steps, RESUME_SIGNAL)


def _waiting(name: str) -> _Step | None:
    # Read without `_steps()`: that registers the signal handler, which a query must not do.
    state: _Steps | None = getattr(workflow.instance(), _STATE, None)
    step = state.steps.get(name) if state is not None else None
    return step if step is not None and step.outcome is None else None


def step_deadline(name: str) -> datetime | None:
    """The deadline of this run's step `name` while it waits; None before it began or once settled.

    Safe in a query: it reads and changes nothing.
    """
    step = _waiting(name)
    return step.deadline if step is not None else None


async def extend_step(name: str, seconds: float) -> datetime:
    """Move this run's waiting step `name` `seconds` later; its new deadline.

    The resume URL's record moves first (an activity), then the step's timer: a URL that
    expired while its step still waited would refuse the very answer the step waits for.
    Raises `ResumeStepNotWaiting` when the step is not waiting (or stopped meanwhile).
    """
    step = _waiting(name)
    if step is None:
        raise ResumeStepNotWaiting(name, "is not waiting")
    await workflow.wait_condition(lambda: step.opened or step.outcome is not None)
    deadline = step.deadline + timedelta(seconds=seconds)
    if step.outcome is None:
        try:
            await workflow.execute_activity(
                EXTEND_RESUME_STEP_ACTIVITY,
                ExtendResumeStepInput(run_id=workflow.info().run_id, step=name, deadline=deadline),
                start_to_close_timeout=timedelta(seconds=10),
            )
        except ActivityError as exc:
            cause = exc.cause.message if isinstance(exc.cause, ApplicationError) else "its record could not move"
            raise ResumeStepNotWaiting(name, cause) from None
    if step.outcome is not None:
        raise ResumeStepNotWaiting(name, "was settled meanwhile")
    # An operator's extension (the resume-URL API) may have moved it further meanwhile.
    step.deadline = max(step.deadline, deadline)
    return step.deadline


async def webhook_and_wait(
    url: str,
    variables: Mapping[str, VariableType],
    *,
    timeout: timedelta | None = None,  # noqa: ASYNC109 - a durable timer, not an asyncio timeout
    step: str | None = None,
    prompt: str | None = None,
) -> dict[str, Any]:
    """POST a signed webhook carrying a resume URL, then wait for the variables to come back.

    `prompt` (optional) says what is asked, in words for a person: the resume URL's page shows
    it to whoever opens the link, so it should hold nothing the link holder may not read.

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
                            deadline=current.deadline, prompt=prompt),
        result_type=ResumeStepOpened,
        start_to_close_timeout=timedelta(seconds=10),
    )
    current.opened = True
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
