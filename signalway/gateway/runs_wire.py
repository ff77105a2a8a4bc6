"""The two wires of the workflow runs API: seed 001's, and the one the published Vertesia clients parse.

The published clients (PyPI `vertesia-client`, npm `@vertesia/client`) send `x-api-version:
<YYYYMMDD>` on every call and parse the service's current wire, which differs from seed 001
in the places below. A request that carries the header is answered in the client wire; one
without it exactly as seed 001 shows. A malformed version is a 400 (`wire_of`).

    what                        seed 001 (no header)                 client wire (x-api-version)
    started_at, closed_at       epoch seconds                        RFC 3339 UTC, `Z`, milliseconds
    details `history`           [event, ...]                         {"type": "events", "events": [...]}
    history `event_time`        epoch seconds                        RFC 3339 UTC, `Z`, milliseconds
    history signal, failure     `signal {name, input}`, `failure`    `signal {direction, signalName, input}`,
                                                                     `error {message, type}`
    pendingActivities           times epoch seconds, lastFailure     times RFC 3339, lastFailure its message
                                an object
    update messages             {id, timestamp, workflow_run_id,     {t, m?, w?, d?, ts, f?}: `t` the numeric
                                 type, message, details,              type, `d` always an object (a value that
                                 workstream_id}                       is not one comes as {"value": ...})
    a posted update             {type: name, message, details,       {type: 0..14, timestamp, workflow_run_id,
                                 workstream_id}                       message, details: object, workstream_id}
    list filters                the seed's                           + `interaction`; `documentId`, `eventName`,
                                                                     `ruleId` as the npm client's listRuns sends
    absent optional fields      null                                 left out

Updates are stored once, in the seed's form (`signalway.updates`): a numeric type is kept under
its lowercase legacy name (`MESSAGE_TYPES`), the spelling `@vertesia/common`'s own
`normalizeMessageType` reads, so a reader of either wire gets the same type back.
"""

from __future__ import annotations

import enum
import math
import re
from datetime import datetime
from typing import Any, Final, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, RootModel, StrictInt

from signalway.gateway.errors import BadRequest, Unprocessable
from signalway.gateway.runs_schemas import (
    ListRuns,
    RunDetails,
    RunError,
    RunList,
    RunStatus,
    Visibility,
)
from signalway.times import ms_to_rfc3339

API_VERSION_HEADER: Final = "x-api-version"
# What both published clients send by default (vertesia-client 1.6.0.dev20261022120426's
# DEFAULT_API_VERSION, @vertesia/client 1.5.0's CURRENT_API_VERSION_HEADER_VALUE).
CLIENT_API_VERSION: Final = "20260803"
_VERSION = re.compile(r"[0-9]{8}")


class Wire(enum.Enum):
    SEED = "seed"
    CLIENT = "client"


def wire_of(version: str | None) -> Wire:
    """The wire a request's `x-api-version` asks for: none → seed 001; a date `YYYYMMDD` → the
    client wire (Signalway serves one, whatever the date); anything else → 400."""
    if version is None:
        return Wire.SEED
    value = version.strip()
    if _VERSION.fullmatch(value):
        try:
            datetime.strptime(value, "%Y%m%d")
            return Wire.CLIENT
        except ValueError:
            pass
    raise BadRequest(
        f"x-api-version must be an API version, a date YYYYMMDD such as {CLIENT_API_VERSION}, "
        f"got {version[:40]!r}; leave the header out for the API's original format."
    )


# -- update messages -----------------------------------------------------------------------------

# AgentMessageType of @vertesia/common, by code; the names are its legacy (string) spellings.
MESSAGE_TYPES: Final = (
    "system", "thought", "plan", "update", "complete", "warning", "error", "answer", "question",
    "request_input", "idle", "terminated", "streaming_chunk", "batch_progress", "restarting",
)
UPDATE, COMPLETE, WARNING, TERMINATED, STREAMING_CHUNK = 3, 4, 5, 11, 12
_CODES: Final = {name: code for code, name in enumerate(MESSAGE_TYPES)}


def type_code(name: str) -> int:
    """A stored type name as the numeric type, in any case; a name the clients do not know
    (seed 001's `PROGRESS`, say) is UPDATE, as the clients' own parser reads it."""
    return _CODES.get(name.lower(), UPDATE)


def compact(message: dict[str, Any]) -> dict[str, Any]:
    """A stored (seed-shaped) message as the clients' CompactMessage."""
    code = type_code(str(message.get("type") or ""))
    out: dict[str, Any] = {"t": code}
    text = message.get("message")
    if isinstance(text, str) and text:
        out["m"] = text
    workstream = message.get("workstream_id")
    if isinstance(workstream, str) and workstream and workstream != "main":
        out["w"] = workstream  # the clients read a missing `w` as "main"
    details = message.get("details")
    if details is not None:
        out["d"] = details if isinstance(details, dict) else {"value": details}
        if code == STREAMING_CHUNK and isinstance(details, dict) and details.get("is_final") is True:
            out["f"] = 1
    timestamp = message.get("timestamp")
    if isinstance(timestamp, int):
        out["ts"] = timestamp
    return out


def closing(kind: str, message: str, details: dict[str, Any], timestamp: int) -> dict[str, Any]:
    """A stream's last frame (`WORKFLOW_CLOSED`, `STREAM_OVERFLOW`, `STREAM_INTERRUPTED`) in the
    client wire: the types the clients end a stream on, COMPLETE or TERMINATED, when the run
    closed (COMPLETE when it completed or continued as new); WARNING when the client should
    reconnect. The seed's name is `d.stream_end`."""
    if kind == "WORKFLOW_CLOSED":
        code = COMPLETE if details.get("status") in ("COMPLETED", "CONTINUED_AS_NEW") else TERMINATED
    else:
        code = WARNING
    return {"t": code, "m": message, "d": {"stream_end": kind, **details}, "ts": timestamp}


class ClientPostUpdate(BaseModel):
    """A progress update as the published clients post it (PostAgentRunUpdatePayload)."""

    model_config = ConfigDict(extra="forbid")

    type: StrictInt | str = Field(
        UPDATE, description="The numeric message type (0 SYSTEM … 14 RESTARTING); a name is taken as "
        "the original format takes it.",
    )
    message: str | None = Field(None, description="The message content.")
    details: dict[str, Any] | None = Field(None, description="Type-specific details (an object).")
    workstream_id: str | None = Field(None, max_length=1000, description="Workstream this update belongs to.")
    timestamp: float | None = Field(
        None, ge=0, description="Accepted and not kept: the gateway stamps every update itself, strictly "
        "increasing per run, since `since` resumes by it.",
    )
    workflow_run_id: str | None = Field(None, max_length=1000, description="The run, if given: the path's.")

    def stored(self, run_id: str) -> tuple[str, str, Any, str | None]:
        """(type, message, details, workstream_id) as the store keeps them."""
        if self.workflow_run_id is not None and self.workflow_run_id.lower() != run_id:
            raise Unprocessable("Invalid request body: workflow_run_id: it names another run than the path.")
        if self.timestamp is not None and not math.isfinite(self.timestamp):
            raise Unprocessable("Invalid request body: timestamp: must be a finite number.")
        if isinstance(self.type, int):
            if not 0 <= self.type < len(MESSAGE_TYPES):
                raise Unprocessable(f"Invalid request body: type: must be 0 to {len(MESSAGE_TYPES) - 1}.")
            name = MESSAGE_TYPES[self.type]
        elif 0 < len(self.type) <= 100:
            name = self.type
        else:
            raise Unprocessable("Invalid request body: type: a name must be 1 to 100 characters.")
        # No message is no message: the seed's default (the type's name) would show as content.
        return name, self.message if self.message is not None else "", self.details, self.workstream_id


class CompactMessage(BaseModel):
    """An update message in the Vertesia clients' format."""

    t: int = Field(ge=0, le=len(MESSAGE_TYPES) - 1, description="Numeric message type (AgentMessageType).")
    m: str | None = Field(None, description="Message content.")
    w: str | None = Field(None, description="Workstream, when not `main`.")
    d: dict[str, Any] | None = Field(None, description="Details (always an object).")
    f: Literal[0, 1] | None = Field(None, description="1 on the final chunk of a STREAMING_CHUNK stream.")
    ts: int | None = Field(None, description="Milliseconds since the epoch, the gateway's stamp.")


class CompactMessages(BaseModel):
    messages: list[CompactMessage]


# -- runs ----------------------------------------------------------------------------------------

# The clients' models have a few keys nullable and required (`started_at`, `closed_at`,
# `lastStartedTime`): those are always there. Every other field is optional, not nullable,
# there: left out here when it has no value.


def _is_none(value: Any) -> bool:
    return value is None


def _optional(description: str | None = None) -> Any:
    """An optional field, left out of the answer when it has no value."""
    return Field(None, exclude_if=_is_none, description=description)


class ClientListRuns(ListRuns):
    """The runs list filters as the clients send them (ListWorkflowRunsPayload)."""

    model_config = ConfigDict(extra="forbid")

    document_id: str | None = Field(
        None, min_length=1, max_length=1000, validation_alias=AliasChoices("document_id", "documentId"),
        description="The ID of the document to filter by (`documentId` too).",
    )
    event_name: str | None = Field(
        None, min_length=1, max_length=1000, validation_alias=AliasChoices("event_name", "eventName"),
        description="The name of the event to filter by (`eventName` too).",
    )
    rule_id: str | None = Field(
        None, min_length=1, max_length=1000, validation_alias=AliasChoices("rule_id", "ruleId"),
        description="The ID of the rule to filter by (`ruleId` too).",
    )
    interaction: str | None = Field(
        None, min_length=1, max_length=1000, description="Runs started with this interaction (conversations)."
    )
    has_reported_errors: bool | None = Field(None, description="Not supported: a 400 when given.")
    activity_state: str | None = Field(None, description="Not supported: a 400 when given.")
    interactive: bool | None = Field(None, description="Not supported: a 400 when given.")

    def unsupported(self) -> list[str]:
        return [name for name in ("has_reported_errors", "activity_state", "interactive")
                if getattr(self, name) is not None]


class _ClientRun(BaseModel):
    """What a run is in the Vertesia clients' format, listed or in detail."""

    status: RunStatus
    started_at: str | None = Field(description="RFC 3339 UTC.")
    closed_at: str | None = Field(description="RFC 3339 UTC; null while running.")
    execution_duration: int | None = _optional("Seconds from start to close.")
    run_id: str
    workflow_id: str
    type: str
    vertesia_workflow_type: str
    initiated_by: str | None = _optional()
    interaction_name: str | None = _optional()
    visibility: Visibility | None = _optional()


class ClientRunSummary(_ClientRun):
    document_id: str | None = _optional()
    event_name: str | None = _optional()
    rule_id: str | None = _optional()
    rule_name: str | None = _optional()


class ClientRunList(BaseModel):
    runs: list[ClientRunSummary]
    next_page_token: str | None = _optional("Opaque token for the next page; absent on the last.")
    has_more: bool


class ClientEventActivity(BaseModel):
    name: str | None = _optional()
    id: str | None = _optional()
    input: Any = _optional()
    scheduledEventId: str | None = _optional()  # noqa: N815 - the clients' field names
    startedEventId: str | None = None  # noqa: N815 - null until the activity started, as seed 001


class ClientEventSignal(BaseModel):
    direction: Literal["receiving", "sending"]
    signalName: str | None = _optional()  # noqa: N815 - the clients' field name
    input: Any = _optional()


class ClientEventError(BaseModel):
    message: str | None = _optional()
    type: str | None = _optional()


class ClientHistoryEvent(BaseModel):
    model_config = ConfigDict(extra="allow")  # `input`, `reason`, `update` where an event has them

    event_id: int
    event_time: str | None = Field(description="RFC 3339 UTC.")
    event_type: str = Field(description="Temporal's EVENT_TYPE_* name.")
    task_id: str | None = _optional()
    attempt: int
    activity: ClientEventActivity | None = _optional()
    signal: ClientEventSignal | None = _optional()
    error: ClientEventError | None = _optional()
    result: Any = _optional()


class ClientHistory(BaseModel):
    type: Literal["events"]
    events: list[ClientHistoryEvent]


class ClientPendingActivity(BaseModel):
    activityId: str | None = _optional()  # noqa: N815 - the clients' field names
    activityType: str | None = _optional()  # noqa: N815
    state: str | None = _optional()
    attempt: int
    maximumAttempts: int  # noqa: N815
    scheduledTime: str | None = _optional()  # noqa: N815
    lastStartedTime: str | None  # noqa: N815
    lastHeartbeatTime: str | None = _optional()  # noqa: N815
    lastFailure: str | None = _optional("The last failure's message.")  # noqa: N815


class ClientRunDetails(_ClientRun):
    """The details answer in the Vertesia clients' format."""

    input: Any = _optional()
    result: Any = _optional()
    error: RunError | None = _optional()
    memo: dict[str, Any] = Field(default_factory=dict)
    history: ClientHistory | None = _optional("Left out with include_history=false.")
    pendingActivities: list[ClientPendingActivity]  # noqa: N815 - the clients' field name
    resumes: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Audit of the run's resumed \"webhook and wait\" steps: step, resumed_at, client_ip, user_agent.",
    )


def client_event(entry: dict[str, Any]) -> dict[str, Any]:
    """A history entry (with its RFC 3339 `event_time`) in the Vertesia clients' format."""
    signal = entry.pop("signal", None)
    if signal is not None:
        entry["signal"] = {"direction": "receiving", "signalName": signal["name"], "input": signal["input"]}
    failure = entry.pop("failure", None)
    if failure is not None:
        entry["error"] = {k: v for k in ("message", "type") if (v := failure.get(k)) is not None}
    if entry.get("activity", 0) is None:
        del entry["activity"]
    return entry


def seconds_to_rfc3339(seconds: int | None) -> str | None:
    return ms_to_rfc3339(seconds * 1000) if seconds is not None else None


def client_pending(activity: dict[str, Any]) -> ClientPendingActivity:
    """A pending activity (seed form: times in epoch seconds, lastFailure an object)."""
    failure = activity.get("lastFailure")
    return ClientPendingActivity(
        activityId=activity.get("activityId"), activityType=activity.get("activityType"),
        state=activity.get("state"), attempt=activity["attempt"], maximumAttempts=activity["maximumAttempts"],
        scheduledTime=seconds_to_rfc3339(activity.get("scheduledTime")),
        lastStartedTime=seconds_to_rfc3339(activity.get("lastStartedTime")),
        lastHeartbeatTime=seconds_to_rfc3339(activity.get("lastHeartbeatTime")),
        lastFailure=failure.get("message") if isinstance(failure, dict) else None,
    )


# -- the OpenAPI document: each answer in either wire ----------------------------------------


class RunListAnyWire(RootModel[RunList | ClientRunList]):
    """The runs: in the original format, or the Vertesia clients' when the request carries x-api-version."""


class RunDetailsAnyWire(RootModel[RunDetails | ClientRunDetails]):
    """The run: in the original format, or the Vertesia clients' when the request carries x-api-version."""


class ListRunsAnyWire(RootModel[ListRuns | ClientListRuns]):
    """The runs list filters: the original ones, or with x-api-version the Vertesia clients' (ListWorkflowRunsPayload)."""
