from __future__ import annotations

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict
from standardwebhooks import Webhook

from signalway.settings import CommonSettings


class WorkerSettings(CommonSettings):
    """Settings of `signalway worker` (env prefix `SIGNALWAY_`)."""

    # Validation errors would otherwise quote the offending value: a resume or webhook secret.
    model_config = SettingsConfigDict(hide_input_in_errors=True)

    max_concurrent_activities: int = Field(100, ge=1, description="Activities run at once per worker.")
    max_concurrent_workflow_tasks: int = Field(100, ge=1, description="Workflow tasks run at once per worker.")
    shutdown_grace_seconds: float = Field(
        30, ge=0, description="On SIGTERM, how long in-flight activities get to finish."
    )
    resume_secret: SecretStr | None = Field(
        None, description="Secret (≥ 32 bytes) resume-URL tokens are derived from; needed by webhook-and-wait steps."
    )
    webhook_secret: SecretStr | None = Field(
        None, description="Standard Webhooks signing secret (`whsec_<base64>`) for webhook-and-wait deliveries."
    )
    webhook_timeout_seconds: float = Field(10, gt=0, description="Timeout of one webhook delivery attempt.")
    unattributed_runs_project: str | None = Field(
        None, min_length=1, max_length=200,
        description="Project the event triggers of runs without Signalway's search attributes (started with "
                    "another Temporal client) are filed under; unset (the default): such a run's `wait_for_event` "
                    "fails with `RunWithoutProject`.",
    )
    worker_metrics_address: str | None = Field(
        None, pattern=r"^[^\s:]*:[0-9]{1,5}$",
        description="host:port where the worker serves Prometheus metrics (the Temporal SDK's and "
                    "Signalway's own, at /metrics), e.g. 127.0.0.1:9464; unset: none served.",
    )

    @model_validator(mode="after")
    def _secrets_are_strong(self) -> WorkerSettings:
        if self.resume_secret is not None and len(self.resume_secret.get_secret_value().encode()) < 32:
            raise ValueError("SIGNALWAY_RESUME_SECRET must be at least 32 bytes")
        if self.webhook_secret is not None:
            try:
                Webhook(self.webhook_secret.get_secret_value())  # raises on a malformed secret
            except Exception:
                # Our words, not the library's: its errors are not all ValueErrors (pydantic
                # would let those through as tracebacks) and need not keep the value out.
                raise ValueError("SIGNALWAY_WEBHOOK_SECRET must be whsec_ followed by base64") from None
        return self
