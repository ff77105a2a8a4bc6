"""Request and response bodies of the durable workflows surface (the durable workflows API)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from signalway.times import rfc3339_ms


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


DurableStatus = Literal[
    "running", "completed", "failed", "cancelled", "terminated", "timed_out", "continued_as_new"
]


class CreateDurableWorkflow(_Body):
    """Start a durable workflow."""

    workflow_type: str = Field(min_length=1, max_length=200, description="Registered workflow type.")
    input: Any = Field(None, description="Workflow input (workflow-specific JSON).")


class SendSignal(_Body):
    """Request to send a signal to a workflow."""

    signal_type: str = Field(
        min_length=1, max_length=200, description="Signal name. Must match a signal the running workflow listens for."
    )
    payload: Any = Field(None, description="Signal payload (workflow-specific JSON, any shape; defaults to null).")


class WorkflowError(BaseModel):
    message: str
    type: str | None = None


class DurableWorkflow(BaseModel):
    id: str = Field(description="Workflow id (UUID).")
    workflow_type: str
    status: DurableStatus
    input: Any = None
    result: Any = None
    error: WorkflowError | None = None
    created_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None

    @field_serializer("created_at", "started_at", "completed_at")
    def _times(self, value: datetime | None) -> str | None:
        return rfc3339_ms(value)


class DurableWorkflowList(BaseModel):
    data: list[DurableWorkflow] = Field(description="Page of items returned by this query.")
    total: int = Field(description="Total number of items matching the query, across all pages.")


class SignalAccepted(BaseModel):
    status: Literal["accepted"] = "accepted"
    workflow_id: str
    signal_type: str
    event_id: int | None = Field(
        None, description="History event id that recorded the signal (a delivery receipt): only with "
        "`Prefer: return=representation`, else null.",
    )


class WorkflowEvent(BaseModel):
    """Workflow event response."""

    id: int = Field(description="Monotonically-assigned internal event identifier.")
    sequence_num: int
    event_type: str
    event_data: Any
    created_at: datetime = Field(description="Timestamp when this resource was created (RFC 3339).")
    workflow_id: str = Field(description="Durable workflow's identifier.")

    @field_serializer("created_at")
    def _time(self, value: datetime) -> str | None:
        return rfc3339_ms(value)


class WorkflowEventList(BaseModel):
    """Workflow events list response."""

    data: list[WorkflowEvent]
    total: int


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = Field(default_factory=dict)
