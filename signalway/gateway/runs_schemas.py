"""Request and response bodies of the workflow runs surface (the workflow runs API)."""

from __future__ import annotations

from typing import Any, Final, Literal, TypedDict

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    SerializerFunctionWrapHandler,
    model_serializer,
)

RunStatus = Literal[
    "RUNNING", "COMPLETED", "FAILED", "CANCELED", "TERMINATED", "TIMED_OUT", "CONTINUED_AS_NEW"
]
Visibility = Literal["project", "private"]

MAX_PAGE_SIZE = 1000


class _Bounds(TypedDict):
    min_length: int
    max_length: int


# A TypedDict, not a dict: `Field(**_ATTRIBUTE)` then type-checks against Field's keywords.
_ATTRIBUTE: Final[_Bounds] = {"min_length": 1, "max_length": 1000}


class ExecuteWorkflow(BaseModel):
    """Start a run. `vars` is the workflow's input; the other fields become list filters."""

    # Clients of the seed send more fields than Signalway reads (config, data, ...); they are
    # accepted and ignored rather than breaking those clients.
    model_config = ConfigDict(extra="allow")

    vars: Any = Field(None, description="The workflow's input (workflow-specific JSON).")
    objectIds: list[str] | None = Field(  # noqa: N815 - the seed's field name
        None, max_length=1000, description="Documents the run works on; the first is its document_id by default."
    )
    document_id: str | None = Field(None, **_ATTRIBUTE, description="Recorded for the document_id filter.")
    event_name: str | None = Field(None, **_ATTRIBUTE, description="Recorded for the event_name filter.")
    rule_id: str | None = Field(None, **_ATTRIBUTE, description="Recorded for the rule_id filter.")
    rule_name: str | None = Field(None, **_ATTRIBUTE, description="Recorded for search_term.")
    visibility: Visibility = Field(
        "project", description="`private` runs are listed only to the user who started them (and superadmins)."
    )
    interaction: str | None = Field(
        None, **_ATTRIBUTE,
        description="Makes the run a conversation listed by /workflows/conversations under this name "
                    "(conversation workflow types get `default`).",
    )


class StartedRun(BaseModel):
    run_id: str
    workflow_id: str


class StartedRuns(RootModel[list[StartedRun]]):
    """The started run, in the one-element list existing clients read."""


class ListRuns(BaseModel):
    """Filters of the runs list; every one narrows the caller's own scope."""

    model_config = ConfigDict(extra="forbid")

    document_id: str | None = Field(None, **_ATTRIBUTE, description="The ID of the document to filter by.")
    event_name: str | None = Field(None, **_ATTRIBUTE, description="The name of the event to filter by.")
    rule_id: str | None = Field(None, **_ATTRIBUTE, description="The ID of the rule to filter by.")
    start: str | None = Field(None, description="Runs started at or after this ISO date.")
    end: str | None = Field(None, description="Runs started at or before this ISO date.")
    search_term: str | None = Field(
        None, **_ATTRIBUTE, description="Matches the workflow type, the rule name or the run ID."
    )
    status: str | None = Field(None, description="Execution status in any case, e.g. `running`, `COMPLETED`.")
    initiated_by: str | None = Field(None, **_ATTRIBUTE, description="Who started the run, e.g. `user:123`.")
    type: str | None = Field(None, **_ATTRIBUTE, description="Workflow type.")
    query: str | None = Field(
        None, max_length=4096,
        description="A Temporal list filter, ANDed with the caller's scope; it can never widen it.",
    )
    page_size: int = Field(50, ge=1, le=MAX_PAGE_SIZE, description="Runs per page.")
    next_page_token: str | None = Field(
        None, max_length=8192, description="The previous page's opaque token (base64)."
    )


class RunSummary(BaseModel):
    status: RunStatus
    started_at: int | None = Field(description="Epoch seconds.")
    closed_at: int | None = Field(description="Epoch seconds; null while running.")
    execution_duration: int | None = Field(description="Seconds from start to close; null while running.")
    run_id: str
    workflow_id: str
    type: str
    initiated_by: str | None = None
    interaction_name: str | None = None
    vertesia_workflow_type: str
    visibility: Visibility | None = None
    document_id: str | None = None
    event_name: str | None = None
    rule_id: str | None = None
    rule_name: str | None = None


class RunList(BaseModel):
    runs: list[RunSummary]
    next_page_token: str | None = Field(description="Opaque token for the next page; null on the last.")
    has_more: bool


class HistoryActivity(BaseModel):
    name: str
    id: str
    input: list[Any] | None = None
    scheduledEventId: str  # noqa: N815 - the seed's field names
    startedEventId: str | None = None  # noqa: N815

    @model_serializer(mode="wrap")
    def _omit_absent(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # `input` is shown once, on the scheduled event; `startedEventId` is null until started.
        data: dict[str, Any] = handler(self)
        if data.get("input") is None:
            data.pop("input", None)
        return data


class HistoryEntry(BaseModel):
    model_config = ConfigDict(extra="allow")  # `signal`, `failure`, ... where an event has them

    event_id: int
    event_time: int = Field(description="Epoch seconds.")
    event_type: str = Field(description="Temporal's EVENT_TYPE_* name.")
    task_id: str
    attempt: int
    activity: HistoryActivity | None = None
    result: list[Any] | None = None

    @model_serializer(mode="wrap")
    def _omit_absent(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # As the seed shows them: `activity` and `result` only on the events that have them.
        data: dict[str, Any] = handler(self)
        for name in ("activity", "result"):
            if data.get(name) is None:
                data.pop(name, None)
        return data


class RunError(BaseModel):
    message: str
    type: str | None = None


class PendingActivity(BaseModel):
    activityId: str  # noqa: N815 - Temporal's JSON names, as the seed's `pendingActivities`
    activityType: str  # noqa: N815
    state: str
    attempt: int
    maximumAttempts: int  # noqa: N815
    scheduledTime: int | None = None  # noqa: N815
    lastStartedTime: int | None = None  # noqa: N815
    lastHeartbeatTime: int | None = None  # noqa: N815
    lastFailure: RunError | None = None  # noqa: N815


class RunDetails(BaseModel):
    status: RunStatus
    started_at: int | None
    closed_at: int | None
    execution_duration: int | None
    run_id: str
    workflow_id: str
    type: str
    input: Any = None
    result: Any = None
    memo: dict[str, Any] = Field(default_factory=dict)
    history: list[HistoryEntry] = Field(
        default_factory=list, description="The run's history; left out of the answer with include_history=false.",
        json_schema_extra={"x-omitted-with": "include_history=false"},
    )
    pendingActivities: list[PendingActivity]  # noqa: N815 - the seed's field name
    error: RunError | None = None
    initiated_by: str | None = None
    visibility: Visibility | None = None
    resumes: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Audit of the run's resumed \"webhook and wait\" steps: step, resumed_at, client_ip, user_agent.",
    )


class ActionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(None, max_length=10_000, description="Recorded in the workflow history.")


class ActionDone(BaseModel):
    message: str


class Signalled(BaseModel):
    status: Literal["success"] = "success"
    message: str
    event_id: int | None = Field(
        None, description="History event id that recorded the signal (a delivery receipt): only with "
        "`Prefer: return=representation`, else null.",
    )
