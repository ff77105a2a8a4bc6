"""Payloads of the "wait for an event" step (the event triggers API)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from .._common import Payload

REGISTER_TRIGGER_ACTIVITY = "registerTrigger"
SETTLE_TRIGGER_ACTIVITY = "settleTrigger"
# What the gateway sends a waiting run when its trigger is sent to or cancelled.
TRIGGER_SIGNAL = "signalway_trigger"


class RegisterTriggerInput(Payload):
    project: str
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
    project: str
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
