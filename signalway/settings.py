"""Settings shared by every Signalway process (pydantic-settings, env prefix `SIGNALWAY_`).

Each process has its own class (`gateway.settings.GatewaySettings`,
`worker.settings.WorkerSettings`) built once at start and passed down; nothing reads the
environment at import time.
"""

from __future__ import annotations

from functools import cached_property
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from signalway.redis_connect import is_cluster_url, parse_cluster, parse_sentinel
from signalway.webhook_targets import IPNetwork, parse_networks


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SIGNALWAY_", extra="ignore")

    temporal_address: str = Field("127.0.0.1:7233", description="Temporal frontend host:port.")
    temporal_namespace: str = Field("default", description="Temporal namespace.")
    temporal_api_key: SecretStr | None = Field(
        None, description="API key for Temporal Cloud or a secured cluster (implies TLS)."
    )
    temporal_tls: bool = Field(False, description="Connect to Temporal over TLS.")
    temporal_payload_codec: str | None = Field(
        None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$",
        description="Payload codec as `module:attr` (a PayloadCodec, or a callable returning one, e.g. the "
                    "encryption codec your other workers use), applied by the gateway and the workers alike.",
    )
    task_queue: str = Field("signalway", description="Task queue the workers poll.")
    redis_url: str = Field(
        "redis://127.0.0.1:6379/0",
        description="Redis URL (updates, triggers, resume steps, idempotency keys): `redis://`, `rediss://`, "
        "`redis+sentinel://h1:26379,h2:26379/mymaster/0`, or a Redis Cluster (≥ 7) as "
        "`redis+cluster://h1:6379,h2:6379` (`rediss+cluster://` over TLS).",
    )
    trigger_shards: int | None = Field(
        None, ge=1, le=1024,
        description="Buckets each project's event triggers are spread over (each its own cluster slot). Unset: 16 on "
        "a Redis Cluster, 1 otherwise. Fixed for the life of the data: a process configured with another count "
        "than the one Redis recorded refuses to start.",
    )
    log_level: str = Field("INFO", description="Log level for Signalway's loggers.")
    log_format: Literal["text", "json"] = Field(
        "text", description="`text`: one readable line per record (for a terminal); `json`: one JSON object "
        "per line with request id, trace id, project, run and route fields (the container image's default).",
    )
    updates_max_per_run: int = Field(1000, ge=1, description="Progress updates kept per run (oldest dropped).")
    updates_ttl_seconds: int = Field(90 * 24 * 3600, ge=1, description="Progress updates' TTL in Redis.")
    public_url: str = Field(
        "http://127.0.0.1:8000",
        description="Base URL clients reach the gateway at (resume URLs are built on it; set it behind a proxy).",
    )
    # A plain string, not a list: pydantic-settings would want JSON for a list from the env.
    webhook_allowed_networks: str = Field(
        "",
        description="Comma-separated CIDRs webhooks may reach besides public addresses, e.g. "
        "`127.0.0.1/32,10.0.0.0/8`; empty (the default) allows public addresses only.",
    )

    @model_validator(mode="after")
    def _temporal_environment_loads(self) -> CommonSettings:
        from temporalio.envconfig import ClientConfigProfile

        try:
            ClientConfigProfile.load()
        except Exception as exc:
            # The bridge's message names the file's line or the missing profile, not a value.
            raise ValueError("Temporal's environment configuration (TEMPORAL_* variables, temporal.toml) "
                             f"could not be loaded: {str(exc).splitlines()[0]}") from None
        return self

    @field_validator("temporal_payload_codec")
    @classmethod
    def _codec_loads(cls, value: str | None) -> str | None:
        if value is not None:
            from signalway.temporal import load_codec

            load_codec(value)  # a ValueError says what could not be loaded
        return value

    @field_validator("webhook_allowed_networks")
    @classmethod
    def _networks_parse(cls, value: str) -> str:
        parse_networks(value)  # raises a ValueError naming the bad entry
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url_parses(cls, value: str) -> str:
        if is_cluster_url(value):
            parse_cluster(value)  # raises a ValueError naming what is wrong
        elif value.split("://", 1)[0] in ("redis+sentinel", "rediss+sentinel"):
            parse_sentinel(value)
        elif value.split("://", 1)[0] not in ("redis", "rediss", "unix"):
            raise ValueError("expected a redis://, rediss://, redis+sentinel:// or redis+cluster:// URL")
        return value

    @property
    def trigger_buckets(self) -> int:
        """`trigger_shards`, or its default for the kind of Redis `redis_url` names."""
        if self.trigger_shards is not None:
            return self.trigger_shards
        return 16 if is_cluster_url(self.redis_url) else 1

    @cached_property
    def webhook_networks(self) -> tuple[IPNetwork, ...]:
        """`webhook_allowed_networks`, parsed once for every delivery and start that checks a target."""
        return parse_networks(self.webhook_allowed_networks)
