"""Signalway's steps for workflow code: import this module (and only this one) in a workflow.

    from signalway.workflow import publish_update, wait_for_event, webhook_and_wait

* `publish_update(type, message=None, details=None, workstream_id=None)`: a progress message
  clients read from the run's updates.
* `webhook_and_wait(url, variables, *, timeout=None, step=None, prompt=None)`: POST a signed
  webhook carrying a resume URL, then wait for the variables that come back through it.
* `wait_for_event(event_key, *, timeout=None, request_payload=None, reregister_every=...)`:
  wait for an event sent to `POST /v1/events/{event_key}/send`.

Each step's I/O happens in an activity on the workflow's task queue, which a worker with
`signalway.plugin.SignalwayPlugin` runs. The module is safe to import in the workflow sandbox: it
pulls in no I/O library (no httpx, redis, starlette or uvicorn). `search_attributes(...)` gives
what a run started with your own Temporal client needs to be served by Signalway.
"""

from __future__ import annotations

from temporalio import workflow as _workflow

with _workflow.unsafe.imports_passed_through():
    from signalway.search_attributes import search_attributes
    from signalway.steps.contract import (
        RESUME_SIGNAL,
        TRIGGER_SIGNAL,
        EventReceived,
        ResumeSignal,
        TriggerMessage,
        VariableType,
    )
    from signalway.steps.event_wait import (
        EventCanceled,
        EventTimedOut,
        InvalidEventKey,
        RunWithoutProject,
        deliver_event,
        wait_for_event,
    )
    from signalway.steps.progress import publish_update
    from signalway.steps.webhook_wait import (
        ResumeRevoked,
        ResumeStepNotWaiting,
        ResumeTimedOut,
        extend_step,
        step_deadline,
        webhook_and_wait,
    )

__all__ = [
    "RESUME_SIGNAL",
    "TRIGGER_SIGNAL",
    "EventCanceled",
    "EventReceived",
    "EventTimedOut",
    "InvalidEventKey",
    "ResumeRevoked",
    "ResumeSignal",
    "ResumeStepNotWaiting",
    "ResumeTimedOut",
    "RunWithoutProject",
    "TriggerMessage",
    "VariableType",
    "deliver_event",
    "extend_step",
    "publish_update",
    "search_attributes",
    "step_deadline",
    "wait_for_event",
    "webhook_and_wait",
]
