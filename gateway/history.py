"""Turning Temporal history events into the JSON the API surfaces show."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payloads
from temporalio.api.enums.v1 import EventType
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent

Decoder = Callable[[Payloads], Awaitable[Any]]

# Attributes that carry user payloads; they are decoded instead of shown as base64.
_PAYLOAD_FIELDS = ("input", "result", "details", "heartbeat_details", "last_completion_result")
# Attributes that are Temporal plumbing, not something an API user reads.
_DROPPED_FIELDS = ("header", "worker_version", "sdk_metadata", "worker_deployment_version")


def durable_event_type(event: HistoryEvent) -> str:
    """`EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED` -> `workflow_execution_signaled`."""
    return EventType.Name(event.event_type).removeprefix("EVENT_TYPE_").lower()


def event_time(event: HistoryEvent) -> datetime:
    return event.event_time.ToDatetime(tzinfo=UTC)


def failure_summary(failure: Failure) -> dict[str, Any]:
    summary: dict[str, Any] = {"message": failure.message}
    if failure.HasField("application_failure_info"):
        summary["type"] = failure.application_failure_info.type or None
    elif failure.HasField("timeout_failure_info"):
        summary["type"] = "TimeoutError"
    elif failure.HasField("canceled_failure_info"):
        summary["type"] = "CancelledError"
    elif failure.HasField("terminated_failure_info"):
        summary["type"] = "TerminatedError"
    elif failure.HasField("activity_failure_info") or failure.HasField("child_workflow_execution_failure_info"):
        summary["type"] = None
    if failure.HasField("cause"):
        summary["cause"] = failure_summary(failure.cause)
    return summary


def attributes(event: HistoryEvent) -> Message | None:
    field = event.WhichOneof("attributes")
    return getattr(event, field) if field else None


async def event_data(event: HistoryEvent, decode: Decoder) -> dict[str, Any]:
    """The event's attributes as JSON, payloads decoded and failures summarised."""
    attrs = attributes(event)
    if attrs is None:
        return {}
    data = MessageToDict(attrs, preserving_proto_field_name=True)
    for name in _DROPPED_FIELDS:
        data.pop(name, None)
    for name in _PAYLOAD_FIELDS:
        if name in data:
            value = getattr(attrs, name)
            data[name] = await decode(value) if isinstance(value, Payloads) else data[name]
    if "failure" in data:
        data["failure"] = failure_summary(attrs.failure)  # type: ignore[attr-defined]
    return data
