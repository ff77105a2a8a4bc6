"""Payloads of the "webhook and wait" step (the resume URL API)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from .._common import Payload

VariableType = Literal["string", "number", "boolean", "file"]

OPEN_RESUME_STEP_ACTIVITY = "openResumeStep"
DELIVER_WEBHOOK_ACTIVITY = "deliverWebhook"
EXTEND_RESUME_STEP_ACTIVITY = "extendResumeStep"
# The one signal the gateway sends for every resume step: resume, revoke or extend.
RESUME_SIGNAL = "signalway_resume"


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
