from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from signalway.catalog import WorkflowCatalog, examples_catalog, load_catalog
from signalway.gateway.client_address import IPNetwork
from signalway.settings import CommonSettings
from signalway.webhook_targets import parse_networks


class GatewaySettings(CommonSettings):
    """Settings of `signalway gateway` (env prefix `SIGNALWAY_`)."""

    # Validation errors would otherwise quote the offending value: an API key, a secret.
    model_config = SettingsConfigDict(hide_input_in_errors=True, arbitrary_types_allowed=True)

    host: str = Field("127.0.0.1", description="Address the gateway listens on.")
    port: int = Field(8000, ge=0, le=65535, description="Port the gateway listens on.")
    jwt_secret: SecretStr | None = Field(None, description="HS256 secret for Bearer JWTs.")
    jwt_public_key: str | None = Field(None, description="PEM public key for RS256 Bearer JWTs.")
    jwt_audience: str | None = Field(None, description="Required `aud` claim, if set.")
    jwt_issuer: str | None = Field(None, description="Required `iss` claim, if set.")
    jwt_jwks_url: str | None = Field(
        None,
        description="The identity provider's JWKS URL (https; http only at an address you control): its "
                    "keys verify tokens by `kid` (RS/PS/ES256-512, EdDSA).",
    )
    jwt_jwks_min_refresh_seconds: float = Field(
        30, ge=1, le=3600,
        description="Fewest seconds between two fetches of the JWKS, for any reason: the floor of its "
                    "Cache-Control max-age and the rate limit of refetches for unknown `kid`s.",
    )
    jwt_leeway_seconds: int = Field(
        30, ge=0, le=300, description="Clock skew allowed when checking `exp`, `nbf` and `iat`."
    )
    jwt_project_claim: str = Field(
        "project", min_length=1, max_length=200,
        description="Claim holding the project: a name, or a dotted path into nested claims (`org.id`).",
    )
    jwt_user_claim: str = Field(
        "sub", min_length=1, max_length=200, description="Claim holding the user (a name or a dotted path)."
    )
    jwt_permissions_claim: str = Field(
        "permissions", min_length=1, max_length=200,
        description="Claim holding the permissions (a name or a dotted path): a list, or a space-separated string.",
    )
    stream_token_secret: SecretStr | None = Field(
        None,
        description="Key (>= 32 bytes) that signs run-scoped stream tokens; unset: derived from "
                    "SIGNALWAY_JWT_SECRET, else random per process. Replicas need the same one.",
    )
    stream_token_max_ttl_seconds: int = Field(
        3600, ge=1, le=86_400,
        description="Longest lifetime of a stream token (they last 1 hour by default, capped by this).",
    )
    max_streams_per_principal: int = Field(
        100, ge=1, description="Open SSE streams one principal may hold on one gateway process (429 above)."
    )
    # NoDecode: parsed by `_api_keys_json` below, so a malformed value is one validation
    # error among the others (and never echoed) rather than a settings-source crash.
    # repr=False: the keys are the secrets, and repr(settings) lands in logs and tracebacks.
    api_keys: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict, repr=False,
        description='API keys for the durable surface, JSON {"<key>": "<project>"}.',
    )
    max_body_bytes: int = Field(1_048_576, ge=1, description="Largest request body accepted (413 above).")
    # NoDecode: `_catalog` reads it (inline JSON or a file path) and names the bad entry.
    workflows: Annotated[WorkflowCatalog, NoDecode] = Field(
        default_factory=examples_catalog,
        description="The workflow catalog: the types clients may start, each with its task queue and JSON "
                    "Schemas (inline JSON object, or the path of a .json/.yaml/.toml file); unset: the "
                    "shipped examples. See docs/workflow-catalog.md.",
    )
    workflow_types: list[str] | None = Field(
        None,
        description="Older setting: only these types of the catalog may be started (JSON list); a listed type "
                    "the catalog lacks is started on SIGNALWAY_TASK_QUEUE without a schema.",
    )
    unattributed_runs_project: str | None = Field(
        None, min_length=1, max_length=200,
        description="Project that runs without Signalway's search attributes (started with another Temporal "
                    "client) belong to; unset (the default): such runs are served to nobody (404).",
    )
    retry_after_seconds: int = Field(5, ge=1, description="Retry advice on 503 when a backend is down.")
    request_timeout: float = Field(
        10, gt=0, description="No request waits longer for its answer: past it, 504 outcome_unknown for a write "
                              "(retry with the same Idempotency-Key), 503 for a read.")
    rpc_timeout_seconds: float = Field(
        5, gt=0, description="Timeout of one Temporal call (kept below the request timeout).")
    redis_timeout_seconds: float = Field(
        2, gt=0, description="Timeout of one Redis command (kept below the request timeout).")
    query_timeout_seconds: float = Field(
        3, gt=0, description="How long a query waits for a worker to answer (e.g. a run's accepted signals)."
    )
    update_timeout_seconds: float = Field(
        8, gt=0, description="How long a Temporal Update may run before the call answers 504 outcome_unknown "
                             "(it may go on; retry with the same Idempotency-Key for its outcome)."
    )
    max_in_flight: int = Field(
        256, ge=1, description="Requests one gateway process works on at once; more wait in a short queue.")
    max_queued: int = Field(
        256, ge=0, description="Requests waiting for a slot; past it, 503 overloaded at once.")
    queue_timeout_seconds: float = Field(
        0.5, ge=0, description="How long a request may wait for a slot before 503 overloaded.")
    max_in_flight_per_principal: int = Field(
        64, ge=1, description="Requests one credential (or one client address, without one) may have in flight "
                              "in one gateway process; past it, 429 rate_limited.")
    quota_update_bytes_per_project: int = Field(
        1 << 30, ge=0,
        description="Progress-update bytes one project may post through the API within the updates' retention "
                    "(SIGNALWAY_UPDATES_TTL_SECONDS); past it, 429 quota_exceeded. 0: no quota.",
    )
    quota_waiting_triggers_per_project: int = Field(
        10_000, ge=0, description="Waiting event triggers one project may have when it registers a job trigger "
                                  "(429 quota_exceeded above). 0: no quota.")
    quota_waiting_trigger_bytes_per_project: int = Field(
        256 << 20, ge=0, description="Bytes of request_payload one project's waiting triggers may hold when it "
                                     "registers a job trigger (429 quota_exceeded above). 0: no quota.")
    quota_runs_per_minute_per_project: int = Field(
        600, ge=0, description="Runs one project may start per clock minute, both APIs together (429 "
                               "quota_exceeded above, retry when the minute turns). 0: no quota.")
    max_trigger_payload_bytes: int = Field(
        262_144, ge=0, description="Largest JSON of a job trigger's request_payload and of an event sent to a "
                                   "trigger (its response_payload); 413 above. 0: only the body limit.")
    max_streams_per_project: int = Field(
        1000, ge=0, description="Open SSE streams of one project on one gateway process (429 above). 0: no bound.")
    max_streams_per_process: int = Field(
        10_000, ge=0, description="Open SSE streams on one gateway process, all projects (429 above). 0: no bound.")
    max_update_bytes: int = Field(
        65_536, ge=256, description="Largest progress update a client may post (413 above)."
    )
    sse_ping_seconds: float = Field(15, gt=0, description="Heartbeat comment interval on idle SSE streams.")
    gateway_workers: int = Field(
        1, ge=1, le=64, description="Gateway processes `signalway gateway` runs on one port (`--workers` overrides); "
                                    "every bound above (in flight, queue, streams per caller) is per process.")
    stream_buffer: int = Field(
        256, ge=1, description="Messages buffered per SSE client; a client that falls further behind is dropped."
    )
    resume_rate_limit_per_minute: int = Field(
        60, ge=1, description="Resume-URL calls allowed per client address per minute (429 above)."
    )
    max_file_bytes: int = Field(
        524_288, ge=1, description="Largest base64 `file` variable accepted by a resume URL (decoded bytes)."
    )
    events_page_max_bytes: int = Field(
        1_048_576, ge=1024,
        description="Payload bytes one answer listing triggers holds at most (GET /v1/events pages, prefix "
                    "sends and their dry runs; at least one trigger): a page ends early, with its cursor.",
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
    max_request_line_bytes: int = Field(
        32_768, ge=256, le=1_048_576,
        description="Largest request target (path and query) accepted, counted while it is read (414 above); "
                    "no request head larger than this plus twice SIGNALWAY_MAX_HEADER_BYTES is ever buffered.",
    )
    header_timeout_seconds: float = Field(
        10, gt=0, le=3600,
        description="A connection must finish each request's head (request line and headers) within this "
                    "many seconds of its start or of the previous response, else it is closed (408).",
    )
    temporal_ui_url: str | None = Field(
        None, pattern=r"^https?://", max_length=2048,
        description="Base URL of the Temporal Web UI, linked from the gateway's index page (GET /); "
                    "unset: no link.",
    )

    runs_default_api_version: str | None = Field(
        None, pattern=r"^[0-9]{8}$",
        description="The API version (`YYYYMMDD`) the runs API answers a request without `x-api-version` in. "
                    "Unset: the API's original format. Set it (e.g. `20260803`) when your clients are the published "
                    "Vertesia ones: their SSE stream (an EventSource) cannot send the header.",
    )

    @field_validator("workflows", mode="before")
    @classmethod
    def _catalog(cls, value: Any) -> Any:
        if isinstance(value, str):
            return load_catalog(value)  # a CatalogError (ValueError) names the entry
        return value

    @model_validator(mode="after")
    def _startable_types(self) -> GatewaySettings:
        if self.workflow_types is not None:
            self.workflows = self.workflows.restricted_to(self.workflow_types)
        return self

    @field_validator("runs_default_api_version")
    @classmethod
    def _a_real_date(cls, value: str | None) -> str | None:
        if value is not None:
            datetime.strptime(value, "%Y%m%d")  # a ValueError names what is wrong
        return value

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
        if not isinstance(value, str | list | tuple):
            return value
        # One parser for every list of networks the settings take (strict, positions not values).
        return parse_networks(value, setting=None)

    @field_validator("jwt_secret", "stream_token_secret")
    @classmethod
    def _secret_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        # A field check (not in the model validator) so it is reported alongside other fields' errors.
        if value is not None and len(value.get_secret_value().encode()) < 32:
            raise ValueError("must be at least 32 bytes (RFC 7518 §3.2)")
        return value

    @model_validator(mode="after")
    def _deadlines_nest(self) -> GatewaySettings:
        # A backend call that outlives the request could act after its client was told 503.
        for name in ("rpc_timeout_seconds", "redis_timeout_seconds", "update_timeout_seconds"):
            if getattr(self, name) >= self.request_timeout:
                raise ValueError(f"SIGNALWAY_{name.upper()} must be below SIGNALWAY_REQUEST_TIMEOUT")
        return self

    @field_validator("jwt_jwks_url")
    @classmethod
    def _jwks_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        url = urlsplit(value.strip())
        # http is allowed because the operator, not a client, picks the address (a sidecar, an
        # in-cluster identity provider); docs/auth.md says when that is acceptable.
        if url.scheme not in ("https", "http") or not url.hostname:
            raise ValueError("must be an https:// (or http://) URL with a host")
        if url.username is not None or url.password is not None:
            raise ValueError("must not carry credentials (the URL is logged)")
        return url.geturl()

    @field_validator("jwt_project_claim", "jwt_user_claim", "jwt_permissions_claim")
    @classmethod
    def _claim_path(cls, value: str) -> str:
        # Bounds the claim lookup's work: it tries the splits of a dotted path.
        if value.count(".") > 15:
            raise ValueError("must be a claim name or a dotted path of at most 16 parts")
        return value

    @model_validator(mode="after")
    def _need_a_key(self) -> GatewaySettings:
        if self.jwt_secret is None and self.jwt_public_key is None and self.jwt_jwks_url is None \
                and not self.api_keys:
            raise ValueError(
                "configure SIGNALWAY_JWT_SECRET, SIGNALWAY_JWT_PUBLIC_KEY, SIGNALWAY_JWT_JWKS_URL or "
                "SIGNALWAY_API_KEYS"
            )
        return self

    @model_validator(mode="after")
    def _stream_key_of_its_own(self) -> GatewaySettings:
        secret, stream = self.jwt_secret, self.stream_token_secret
        if secret is not None and stream is not None and secret.get_secret_value() == stream.get_secret_value():
            # One key for both would let either kind of token's signature pass as the other's.
            raise ValueError("SIGNALWAY_STREAM_TOKEN_SECRET must differ from SIGNALWAY_JWT_SECRET")
        return self
