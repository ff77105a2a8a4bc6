"""The steps' wire contract: activity names, signal names and their JSON payloads.

Running histories and workers in other languages depend on every name here: they never change
(docs/steps-contract.md). Fields are only ever added, optional, so that older histories decode.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# Activities Signalway's worker (or a worker with `SignalwayPlugin`) runs.
PUBLISH_UPDATE_ACTIVITY = "publishUpdate"
OPEN_RESUME_STEP_ACTIVITY = "openResumeStep"
DELIVER_WEBHOOK_ACTIVITY = "deliverWebhook"
EXTEND_RESUME_STEP_ACTIVITY = "extendResumeStep"
REGISTER_TRIGGER_ACTIVITY = "registerTrigger"
SETTLE_TRIGGER_ACTIVITY = "settleTrigger"
# Signals the gateway sends a run. The one signal of every resume step: resume, revoke or extend.
RESUME_SIGNAL = "signalway_resume"
# What the gateway sends a waiting run when its trigger is sent to or cancelled.
TRIGGER_SIGNAL = "signalway_trigger"

VariableType = Literal["string", "number", "boolean", "file"]


class Payload(BaseModel):
    """Base of every step message: unknown fields refused, so typos surface."""

    model_config = ConfigDict(extra="forbid")


class PublishUpdateInput(Payload):
    run_id: str
    type: str = "UPDATE"
    message: str | None = None
    details: Any = None
    workstream_id: str | None = None


# Its docstring is the description the shipped catalog gives the signals taking it.
class EventReceived(Payload):
    """An external event delivered to a waiting workflow."""

    event_key: str = Field(min_length=1, max_length=1024)
    payload: Any = None


# -- webhook_and_wait -------------------------------------------------------------------------

class OpenResumeStepInput(Payload):
    workflow_id: str
    run_id: str
    step: str
    project: str | None
    variables: dict[str, VariableType]
    deadline: datetime | None
    # What the step asks, shown to whoever opens the resume URL in a browser. Optional, so
    # histories recorded before it existed still decode.
    prompt: str | None = Field(None, max_length=10_000)


class ResumeStepOpened(Payload):
    # Not a secret: the resume token is an HMAC of it under the worker's resume secret, so the
    # resume URL itself never enters Temporal history.
    nonce: str


class DeliverWebhookInput(Payload):
    url: str
    nonce: str
    workflow_id: str
    run_id: str
    step: str
    variables: dict[str, VariableType]
    deadline: datetime | None


class ExtendResumeStepInput(Payload):
    """The workflow moving its own step's deadline: the resume URL's record follows."""

    run_id: str
    step: str
    deadline: datetime


class ResumeAudit(Payload):
    at: datetime
    client_ip: str | None = None
    user_agent: str | None = None


class ResumeSignal(Payload):
    step: str = Field(min_length=1, max_length=200)
    action: Literal["resume", "revoke", "extend"]
    variables: dict[str, Any] | None = None
    deadline: datetime | None = None
    audit: ResumeAudit | None = None


# -- wait_for_event ---------------------------------------------------------------------------

class RegisterTriggerInput(Payload):
    # The run's `SignalwayProject` search attribute. None for a run without it: the worker then
    # files the trigger under SIGNALWAY_UNATTRIBUTED_RUNS_PROJECT, or refuses (RunWithoutProject).
    project: str | None
    trigger_id: str
    event_key: str
    workflow_id: str
    run_id: str
    step_run_id: str
    request_payload: Any = None
    timeout_secs: float
    requested_at: datetime
    expires_at: datetime


class TriggerRegistered(Payload):
    status: str  # waiting | received | timed_out | canceled | conflict
    payload: Any = None


class SettleTriggerInput(Payload):
    project: str | None  # as registered
    trigger_id: str
    # Names the trigger's bucket in the registry; None in histories from before it was passed.
    event_key: str | None = None
    status: Literal["received", "timed_out", "canceled"]
    payload: Any = None
    error: str | None = None


class TriggerMessage(Payload):
    event_key: str = Field(min_length=1, max_length=1024)
    action: Literal["received", "canceled"]
    payload: Any = None
    # False when the event came another way (a workflow's own signal): the step records it.
    recorded: bool = True
