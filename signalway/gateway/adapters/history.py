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

from signalway.times import rfc3339_ms

Decoder = Callable[[Payloads], Awaitable[Any]]
Event = HistoryEvent  # what services name a history event by, without importing `temporalio`

# Attributes that carry user payloads; they are decoded instead of shown as base64.
_PAYLOAD_FIELDS = ("input", "result", "details", "heartbeat_details", "last_completion_result")
# Attributes that are Temporal plumbing, not something an API user reads.
_DROPPED_FIELDS = ("header", "worker_version", "sdk_metadata", "worker_deployment_version")
# Memo entries Signalway keeps for itself (the start request's fingerprint, a copy of the
# input for lists): bookkeeping, left out of what a user reads.
_INTERNAL_MEMO_PREFIX = "signalway_"


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
    await _decode_maps(attrs, data, decode)
    return data


async def _decode_maps(attrs: Message, data: dict[str, Any], decode: Decoder) -> None:
    """The memo and the search attributes as `{name: value}` rather than base64 payloads;
    Signalway's own memo entries left out (and the memo with them when nothing else is in it)."""
    if "memo" in data:
        fields = attrs.memo.fields  # type: ignore[attr-defined]
        memo = {name: await decode(Payloads(payloads=[payload])) for name, payload in sorted(fields.items())
                if not name.startswith(_INTERNAL_MEMO_PREFIX)}
        if memo:
            data["memo"] = memo
        else:
            del data["memo"]
    if "search_attributes" in data:
        fields = attrs.search_attributes.indexed_fields  # type: ignore[attr-defined]
        data["search_attributes"] = {name: await decode(Payloads(payloads=[payload]))
                                     for name, payload in sorted(fields.items())}


ListDecoder = Callable[[Payloads], Awaitable[list[Any]]]
_ACTIVITY_OUTCOMES = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: "activity_task_completed_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED: "activity_task_failed_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: "activity_task_timed_out_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED: "activity_task_canceled_event_attributes",
}


def epoch_seconds(event: HistoryEvent) -> int:
    """Seed 001's `event_time`."""
    return int(event.event_time.seconds)


def event_time_rfc3339(event: HistoryEvent) -> str | None:
    """The client wire's `event_time` (gateway.runs_wire)."""
    return rfc3339_ms(event_time(event))


class RunHistory:
    """Maps history events, in order, to the runs surface's entries (the workflow runs API).

    It keeps a reference to each activity's scheduled entry only, so a later started event
    can fill in `startedEventId` there; the raw events are never kept.
    """

    def __init__(self, decode: ListDecoder, *, time_of: Callable[[HistoryEvent], Any] = epoch_seconds) -> None:
        self._decode = decode
        self._time_of = time_of  # how `event_time` is written: seed 001's epoch seconds by default
        self._scheduled: dict[int, dict[str, Any]] = {}

    async def _values(self, payloads: Payloads) -> list[Any]:
        try:
            return await self._decode(payloads)
        except Exception:  # the gateway's decoder shows what it cannot decode; this is a last guard
            return ["<undecodable payload>"]

    def _activity(self, scheduled_event_id: int, started_event_id: int | None) -> dict[str, Any] | None:
        scheduled = self._scheduled.get(scheduled_event_id)
        if scheduled is None:
            return None
        return {
            "name": scheduled["name"],
            "id": scheduled["id"],
            "scheduledEventId": str(scheduled_event_id),
            "startedEventId": str(started_event_id) if started_event_id else None,
        }

    async def entry(self, event: HistoryEvent) -> dict[str, Any]:
        kind = event.event_type
        entry: dict[str, Any] = {
            "event_id": event.event_id,
            "event_time": self._time_of(event),
            "event_type": EventType.Name(kind),
            "task_id": str(event.task_id),
            "attempt": 0,
        }
        if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            entry["input"] = await self._values(event.workflow_execution_started_event_attributes.input)
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            entry["attempt"] = event.workflow_task_scheduled_event_attributes.attempt
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            activity = {
                "name": attrs.activity_type.name,
                "id": attrs.activity_id,
                "input": await self._values(attrs.input),
                "scheduledEventId": str(event.event_id),
                "startedEventId": None,
            }
            self._scheduled[event.event_id] = activity
            entry["activity"] = activity
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started = event.activity_task_started_event_attributes
            entry["attempt"] = started.attempt
            scheduled = self._scheduled.get(started.scheduled_event_id)
            if scheduled is not None:
                scheduled["startedEventId"] = str(event.event_id)
            entry["activity"] = self._activity(started.scheduled_event_id, event.event_id)
        elif kind in _ACTIVITY_OUTCOMES:
            attrs = getattr(event, _ACTIVITY_OUTCOMES[kind])
            entry["activity"] = self._activity(attrs.scheduled_event_id, attrs.started_event_id)
            if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                entry["result"] = await self._values(attrs.result)
            elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED:
                # No `failure` on this event (HasField would raise): its details, if any.
                if attrs.details.payloads:
                    entry["details"] = await self._values(attrs.details)
            elif attrs.HasField("failure"):
                entry["failure"] = failure_summary(attrs.failure)
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
            entry["result"] = await self._values(event.workflow_execution_completed_event_attributes.result)
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
            entry["failure"] = failure_summary(event.workflow_execution_failed_event_attributes.failure)
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            signaled = event.workflow_execution_signaled_event_attributes
            entry["signal"] = {"name": signaled.signal_name, "input": await self._values(signaled.input)}
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
            entry["reason"] = event.workflow_execution_terminated_event_attributes.reason
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED:
            entry["reason"] = event.workflow_execution_cancel_requested_event_attributes.cause
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            request = event.workflow_execution_update_accepted_event_attributes.accepted_request
            entry["update"] = {
                "name": request.input.name,
                "id": request.meta.update_id,
                "input": await self._values(request.input.args),
            }
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
            outcome = event.workflow_execution_update_completed_event_attributes.outcome
            entry["update"] = {"id": event.workflow_execution_update_completed_event_attributes.meta.update_id}
            if outcome.HasField("success"):
                entry["result"] = await self._values(outcome.success)
            elif outcome.HasField("failure"):
                entry["failure"] = failure_summary(outcome.failure)
        return entry


async def close_outcome(close: HistoryEvent, decode: Decoder) -> tuple[Any, dict[str, Any] | None]:
    """A run's result, or its error `{message, type}`, from its close event."""
    kind = close.event_type
    if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
        return await decode(close.workflow_execution_completed_event_attributes.result), None
    if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
        summary = failure_summary(close.workflow_execution_failed_event_attributes.failure)
        return None, {"message": summary["message"], "type": summary.get("type")}
    if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
        reason = close.workflow_execution_terminated_event_attributes.reason
        return None, {"message": reason or "terminated", "type": "Terminated"}
    if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT:
        return None, {"message": "workflow timed out", "type": "TimedOut"}
    if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED:
        return None, {"message": "workflow cancelled", "type": "Canceled"}
    return None, None
