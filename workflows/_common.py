"""Payloads and helpers shared by several workflows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from temporalio import workflow

# Activity names the worker registers; workflows call them by name so that this package
# never imports the worker.
PUBLISH_UPDATE_ACTIVITY = "publishUpdate"


class Payload(BaseModel):
    """Base for every workflow message: unknown fields refused, so typos surface as 422."""

    model_config = ConfigDict(extra="forbid")


class PublishUpdateInput(Payload):
    run_id: str
    type: str = "UPDATE"
    message: str | None = None
    details: Any = None
    workstream_id: str | None = None


class EventReceived(Payload):
    """An external event delivered to a waiting workflow."""

    event_key: str = Field(min_length=1, max_length=1024)
    payload: Any = None


async def publish_update(
    type: str, message: str | None = None, details: Any = None, workstream_id: str | None = None
) -> None:
    """Publish a progress message for the current run through an activity, so that a replay
    never publishes it twice."""
    await workflow.execute_activity(
        PUBLISH_UPDATE_ACTIVITY,
        PublishUpdateInput(
            run_id=workflow.info().run_id,
            type=type,
            message=message,
            details=details,
            workstream_id=workstream_id,
        ),
        start_to_close_timeout=timedelta(seconds=10),
    )
