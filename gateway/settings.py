from __future__ import annotations

import json
from ipaddress import ip_network
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from gateway.client_address import IPNetwork
from signalway.settings import CommonSettings
from workflows.registry import TYPES


class GatewaySettings(CommonSettings):
    """Settings of `signalway gateway` (env prefix `SIGNALWAY_`)."""

    # Validation errors would otherwise quote the offending value: an API key, a secret.
    model_config = SettingsConfigDict(hide_input_in_errors=True)

    host: str = Field("127.0.0.1", description="Address the gateway listens on.")
    port: int = Field(8000, ge=0, le=65535, description="Port the gateway listens on.")
    jwt_secret: SecretStr | None = Field(None, description="HS256 secret for Bearer JWTs.")
    jwt_public_key: str | None = Field(None, description="PEM public key for RS256 Bearer JWTs.")
    jwt_audience: str | None = Field(None, description="Required `aud` claim, if set.")
    jwt_issuer: str | None = Field(None, description="Required `iss` claim, if set.")
    # NoDecode: parsed by `_api_keys_json` below, so a malformed value is one validation
    # error among the others (and never echoed) rather than a settings-source crash.
    # repr=False: the keys are the secrets, and repr(settings) lands in logs and tracebacks.
    api_keys: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict, repr=False,
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
    trusted_proxies: Annotated[tuple[IPNetwork, ...], NoDecode] = Field(
        (),
        description="Comma-separated networks (CIDR) of reverse proxies whose X-Forwarded-For is believed; "
                    "empty: the socket peer is the client.",
    )
    max_header_bytes: int = Field(
        32_768, ge=1024, description="Largest total size of a request's headers (431 above)."
    )

    @field_validator("api_keys", mode="before")
    @classmethod
    def _api_keys_json(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        # The messages never quote the value: every part of it may be a key.
        try:
            keys = json.loads(value)
        except ValueError:
            raise ValueError('must be a JSON object {"<key>": "<project>"}') from None
        if not isinstance(keys, dict) or not all(isinstance(v, str) for v in keys.values()):
            raise ValueError('must be a JSON object {"<key>": "<project>"} with string projects')
        return keys

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> Any:
        entries = value.split(",") if isinstance(value, str) else value
        if not isinstance(entries, list | tuple):
            return value
        networks: list[IPNetwork] = []
        for position, entry in enumerate(entries, start=1):
            if isinstance(entry, IPNetwork):
                networks.append(entry)
                continue
            if not str(entry).strip():
                continue
            try:
                # strict: "10.0.0.5/8" is a typo more often than a wish to trust all of 10/8.
                networks.append(ip_network(str(entry).strip(), strict=True))
            except ValueError:
                raise ValueError(
                    f"entry {position} is not a network in CIDR form (e.g. 10.0.0.0/8 or 192.0.2.7)"
                ) from None
        return tuple(networks)

    @field_validator("jwt_secret")
    @classmethod
    def _jwt_secret_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        # A field check (not in the model validator) so it is reported alongside other fields' errors.
        if value is not None and len(value.get_secret_value().encode()) < 32:
            raise ValueError("must be at least 32 bytes (RFC 7518 §3.2)")
        return value

    @model_validator(mode="after")
    def _need_a_key(self) -> GatewaySettings:
        if self.jwt_secret is None and self.jwt_public_key is None and not self.api_keys:
            raise ValueError(
                "configure SIGNALWAY_JWT_SECRET, SIGNALWAY_JWT_PUBLIC_KEY or SIGNALWAY_API_KEYS"
            )
        return self
