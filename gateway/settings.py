from __future__ import annotations

from pydantic import Field, SecretStr, model_validator

from signalway.settings import CommonSettings
from workflows.registry import TYPES


class GatewaySettings(CommonSettings):
    """Settings of `signalway gateway` (env prefix `SIGNALWAY_`)."""

    host: str = Field("127.0.0.1", description="Address the gateway listens on.")
    port: int = Field(8000, ge=0, le=65535, description="Port the gateway listens on.")
    jwt_secret: SecretStr | None = Field(None, description="HS256 secret for Bearer JWTs.")
    jwt_public_key: str | None = Field(None, description="PEM public key for RS256 Bearer JWTs.")
    jwt_audience: str | None = Field(None, description="Required `aud` claim, if set.")
    jwt_issuer: str | None = Field(None, description="Required `iss` claim, if set.")
    api_keys: dict[str, str] = Field(
        default_factory=dict,
        description='API keys for the durable surface, JSON {"<key>": "<project>"}.',
    )
    max_body_bytes: int = Field(1_048_576, ge=1, description="Largest request body accepted (413 above).")
    workflow_types: list[str] = Field(
        default_factory=lambda: sorted(TYPES),
        description="Workflow types clients may start (JSON list); default: the shipped ones.",
    )
    retry_after_seconds: int = Field(5, ge=1, description="Retry advice on 503 when a backend is down.")
    rpc_timeout_seconds: float = Field(10, gt=0, description="Timeout of one Temporal call.")
    query_timeout_seconds: float = Field(
        3, gt=0, description="How long a query waits for a worker to answer (e.g. a run's accepted signals)."
    )
    update_timeout_seconds: float = Field(
        30, gt=0, description="How long a Temporal Update may run before the call answers 503 (it may go on)."
    )
    max_update_bytes: int = Field(
        65_536, ge=256, description="Largest progress update a client may post (413 above)."
    )
    sse_ping_seconds: float = Field(15, gt=0, description="Heartbeat comment interval on idle SSE streams.")
    stream_buffer: int = Field(
        256, ge=1, description="Messages buffered per SSE client; a client that falls further behind is dropped."
    )
    resume_rate_limit_per_minute: int = Field(
        60, ge=1, description="Resume-URL calls allowed per client address per minute (429 above)."
    )
    max_file_bytes: int = Field(
        524_288, ge=1, description="Largest base64 `file` variable accepted by a resume URL (decoded bytes)."
    )
    early_event_prefixes: list[str] = Field(
        default_factory=list,
        description='Event-key prefixes whose events are held when no trigger waits yet (JSON list, e.g. ["order:"]).',
    )
    early_event_ttl_seconds: int = Field(3600, ge=1, le=30 * 86400, description="How long an early event is held.")
    access_log: bool = Field(False, description="Log one line per request.")

    @model_validator(mode="after")
    def _need_a_key(self) -> GatewaySettings:
        if self.jwt_secret is not None and len(self.jwt_secret.get_secret_value().encode()) < 32:
            raise ValueError("SIGNALWAY_JWT_SECRET must be at least 32 bytes (RFC 7518 §3.2)")
        if self.jwt_secret is None and self.jwt_public_key is None and not self.api_keys:
            raise ValueError(
                "configure SIGNALWAY_JWT_SECRET, SIGNALWAY_JWT_PUBLIC_KEY or SIGNALWAY_API_KEYS"
            )
        return self
