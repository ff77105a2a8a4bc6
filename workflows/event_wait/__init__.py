from .models import (
    REGISTER_TRIGGER_ACTIVITY,
    SETTLE_TRIGGER_ACTIVITY,
    TRIGGER_SIGNAL,
    RegisterTriggerInput,
    SettleTriggerInput,
    TriggerMessage,
    TriggerRegistered,
)
from .steps import (
    EventCanceled,
    EventTimedOut,
    InvalidEventKey,
    deliver_event,
    wait_for_event,
)

__all__ = [
    "REGISTER_TRIGGER_ACTIVITY",
    "SETTLE_TRIGGER_ACTIVITY",
    "TRIGGER_SIGNAL",
    "EventCanceled",
    "EventTimedOut",
    "InvalidEventKey",
    "RegisterTriggerInput",
    "SettleTriggerInput",
    "TriggerMessage",
    "TriggerRegistered",
    "deliver_event",
    "wait_for_event",
]
