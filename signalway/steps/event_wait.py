"""`wait_for_event`: wait durably for an external event identified by a key.

    registerTrigger (activity, idempotent)   the trigger in Redis (an index; re-registered
                                             on an interval so it survives a Redis loss)
    wait for `signalway_trigger`             received | canceled, or a Temporal timer
    settleTrigger (activity)                 the outcome recorded in the registry

The timeout is a Temporal timer, so it fires with no gateway running.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from signalway import search_attributes as sa
    from signalway.event_keys import invalid_event_key
    from signalway.steps.contract import (
        REGISTER_TRIGGER_ACTIVITY,
        SETTLE_TRIGGER_ACTIVITY,
        TRIGGER_SIGNAL,
        RegisterTriggerInput,
        SettleTriggerInput,
        TriggerMessage,
        TriggerRegistered,
    )
    from signalway.steps.state import run_state

DEFAULT_TIMEOUT = timedelta(days=30)
# The error type of a wait in a run without a project (see `RunWithoutProject`).
RUN_WITHOUT_PROJECT = "RunWithoutProject"
# Before it, a run without the SignalwayProject search attribute filed its triggers under
# `default`; runs that waited so before an upgrade keep doing so (workflow.patched).
PROJECT_FROM_RUN_PATCH = "signalway-trigger-project-from-run"
REREGISTER_EVERY = timedelta(minutes=5)
_SHORT = timedelta(seconds=10)


class EventTimedOut(ApplicationError):
    """No event came before the timeout (type `EventTimedOut`, not retried)."""

    def __init__(self, event_key: str) -> None:
        super().__init__(f"no event {event_key!r} arrived in time", type="EventTimedOut", non_retryable=True)


class EventCanceled(ApplicationError):
    """The trigger was cancelled (`DELETE /v1/events/{key}`) (type `EventCanceled`, not retried)."""

    def __init__(self, event_key: str) -> None:
        super().__init__(f"the wait for {event_key!r} was canceled", type="EventCanceled", non_retryable=True)


class RunWithoutProject(ApplicationError):
    """The run has no `SignalwayProject` search attribute and the worker no
    SIGNALWAY_UNATTRIBUTED_RUNS_PROJECT, so its trigger belongs to no project (type
    `RunWithoutProject`, not retried). Start the run with `search_attributes(project=...)`."""

    def __init__(self, event_key: str) -> None:
        super().__init__(f"the wait for {event_key!r} belongs to no project: the run has no SignalwayProject "
                         "search attribute (start it with signalway.workflow.search_attributes(project=...)) and the "
                         "worker no SIGNALWAY_UNATTRIBUTED_RUNS_PROJECT", type=RUN_WITHOUT_PROJECT,
                         non_retryable=True)


class InvalidEventKey(ApplicationError):
    """A key no `/v1/events/{eventKey}` route could address (see `signalway.event_keys`)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, type="InvalidEventKey", non_retryable=True)


@dataclass
class _Waits:
    outcomes: dict[str, TriggerMessage] = field(default_factory=dict)  # by event key, first wins

    def on_signal(self, message: Any) -> None:
        self.deliver(message if isinstance(message, TriggerMessage) else TriggerMessage.model_validate(message))

    def deliver(self, message: TriggerMessage) -> None:
        self.outcomes.setdefault(message.event_key, message)


def _waits() -> _Waits:
    """Per-run; events that arrive before their wait are kept."""
    return run_state("_signalway_event_waits", _Waits, TRIGGER_SIGNAL)


def deliver_event(event_key: str, payload: Any) -> None:
    """For a workflow's own signal handler (e.g. `event_received`): an event by another path."""
    _waits().deliver(TriggerMessage(event_key=event_key, action="received", payload=payload, recorded=False))


async def _settle(registration: RegisterTriggerInput, status: str, payload: Any = None,
                  error: str | None = None) -> None:
    # The event key only adds to the activity's input (a replay compares commands, not
    # inputs), so histories written without it replay unchanged.
    await workflow.execute_activity(
        SETTLE_TRIGGER_ACTIVITY,
        SettleTriggerInput(project=registration.project, trigger_id=registration.trigger_id,
                           event_key=registration.event_key, status=status, payload=payload, error=error),
        start_to_close_timeout=_SHORT,
    )


async def wait_for_event(
    event_key: str,
    *,
    timeout: timedelta | None = None,  # noqa: ASYNC109 - a durable timer, not an asyncio timeout
    request_payload: Any = None,
    reregister_every: timedelta = REREGISTER_EVERY,
) -> Any:
    """Wait for the event `event_key` and return its payload.

    Raises `EventTimedOut` when the timeout passes first and `EventCanceled` when the trigger
    was cancelled (`DELETE /v1/events/{key}`). Cancelling the workflow cancels the trigger.
    Raises `InvalidEventKey`, before anything is scheduled, for a key no route can address, and
    `RunWithoutProject` when the run has no project (its `SignalwayProject` search attribute,
    which runs Signalway starts have; see `search_attributes`) and the worker maps none.
    """
    # Checked here as well as in the registration activity: a bad key is the workflow's own
    # mistake, so it fails now, with no activity retried and no trigger half-registered.
    reason = invalid_event_key(event_key)
    if reason is not None:
        raise InvalidEventKey(reason)
    waits = _waits()
    info = workflow.info()
    # The trigger's project is the run's; without one the worker decides (its setting for such
    # runs, else RunWithoutProject). Only runs that waited before this rule keep `default`.
    project = info.typed_search_attributes.get(sa.PROJECT)
    if project is None and not workflow.patched(PROJECT_FROM_RUN_PATCH):
        project = "default"
    timeout = timeout or DEFAULT_TIMEOUT
    requested = workflow.now()
    expires = requested + timeout
    registration = RegisterTriggerInput(
        project=project, trigger_id=str(workflow.uuid4()), event_key=event_key, workflow_id=info.workflow_id,
        run_id=info.run_id, step_run_id=f"{info.run_id}:{event_key}", request_payload=request_payload,
        timeout_secs=timeout.total_seconds(), requested_at=requested, expires_at=expires,
    )

    async def register() -> None:
        try:
            registered: TriggerRegistered = await workflow.execute_activity(
                REGISTER_TRIGGER_ACTIVITY, registration, result_type=TriggerRegistered, start_to_close_timeout=_SHORT)
        except ActivityError as exc:
            if isinstance(exc.cause, ApplicationError) and exc.cause.type == RUN_WITHOUT_PROJECT:
                raise RunWithoutProject(event_key) from None
            raise
        if registered.status == "conflict":
            raise ApplicationError(f"another run already waits for {event_key!r}", type="EventKeyInUse",
                                   non_retryable=True)
        if registered.status == "received":  # an early event, or a send we have not heard of yet
            waits.deliver(TriggerMessage(event_key=event_key, action="received", payload=registered.payload))

    try:
        await register()
        while event_key not in waits.outcomes:
            remaining = expires - workflow.now()
            if remaining <= timedelta(0):
                await _settle(registration, "timed_out", error="timed out")
                raise EventTimedOut(event_key)
            try:
                await workflow.wait_condition(lambda: event_key in waits.outcomes,
                                              timeout=min(remaining, reregister_every))
            except TimeoutError:
                if workflow.now() < expires:
                    await register()  # idempotent; restores the trigger if Redis lost it
    except (asyncio.CancelledError, ActivityError) as exc:
        # Cancelling the run surfaces here as CancelledError, or as an ActivityError when it
        # came while an activity (the registration) ran. Either way the trigger stops waiting
        # too (activities still run here), and callers see one kind: CancelledError.
        if not is_cancelled_exception(exc):
            raise
        await _settle(registration, "canceled", error="workflow canceled")
        raise asyncio.CancelledError("the workflow was canceled") from exc
    outcome = waits.outcomes.pop(event_key)
    if outcome.action == "canceled":
        raise EventCanceled(event_key)
    if not outcome.recorded:  # the gateway's send (or an early event) already recorded it
        await _settle(registration, "received", payload=outcome.payload)
    return outcome.payload
