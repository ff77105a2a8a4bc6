from __future__ import annotations

from pydantic import Field

from signalway.settings import CommonSettings


class WorkerSettings(CommonSettings):
    """Settings of `signalway worker` (env prefix `SIGNALWAY_`)."""

    max_concurrent_activities: int = Field(100, ge=1, description="Activities run at once per worker.")
    max_concurrent_workflow_tasks: int = Field(100, ge=1, description="Workflow tasks run at once per worker.")
    shutdown_grace_seconds: float = Field(
        30, ge=0, description="On SIGTERM, how long in-flight activities get to finish."
    )
