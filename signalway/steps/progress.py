"""`publish_update`: a progress message for the current run, through an activity."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow

from signalway.steps.contract import PUBLISH_UPDATE_ACTIVITY, PublishUpdateInput


async def publish_update(
    type: str, message: str | None = None, details: Any = None, workstream_id: str | None = None
) -> None:
    """Publish a progress message for the current run through an activity, so that a replay
    never publishes it twice. Clients read it from the run's updates (stream or list)."""
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
