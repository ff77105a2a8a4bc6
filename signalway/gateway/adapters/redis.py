"""The one module of the gateway that talks to Redis."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from signalway.gateway.adapters.telemetry import TimedRedis, TimedRedisCluster
from signalway.gateway.adapters.temporal import RunFacts
from signalway.gateway.errors import BackendUnavailable
from signalway.gateway.telemetry import GatewayTelemetry
from signalway.redis_connect import RedisClient, close, connect, is_cluster_url, parse_cluster

# Failures of a Redis call that mean "Redis is not answering": 503 with retry advice,
# mapped once by the app's exception handlers rather than at every call.
REDIS_FAILURES: tuple[type[Exception], ...] = (RedisConnectionError, RedisTimeoutError)
REDIS_TIMEOUTS: tuple[type[Exception], ...] = (RedisTimeoutError,)

RUN_INDEX_TTL_SECONDS = 90 * 24 * 3600
_RUN_KEY = "signalway:run:{run_id}"

# Single-key steps as scripts rather than MULTI/WATCH, so they run the same on a cluster.
# KEYS: the claim. ARGV: its fingerprint. Deletes it only if it is still that fingerprint.
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
# KEYS: the window's counter. ARGV: the window's length. Returns the count so far.
_COUNT_HIT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""


class RedisService:
    def __init__(self, redis: RedisClient, *, retry_after_seconds: int,
                 node_options: dict[str, Any] | None = None) -> None:
        self.redis = redis
        self._node_options = node_options or {}
        self._retry_after = retry_after_seconds
        self._release = redis.register_script(_RELEASE)
        self._count_hit = redis.register_script(_COUNT_HIT)

    @classmethod
    def from_url(cls, url: str, *, retry_after_seconds: int, timeout: float = 2,
                 telemetry: GatewayTelemetry | None = None) -> RedisService:
        # Every command has a deadline below the request's: a stalled Redis is a prompt 503,
        # not a request hanging for the client's whole patience.
        # A connection idle for a second is PINGed before use, so one left broken by a Redis
        # restart is replaced instead of failing the next command sent on it.
        options: dict[str, Any] = {"socket_connect_timeout": min(timeout, 1), "socket_timeout": timeout}
        client = connect(url, redis_class=TimedRedis, cluster_class=TimedRedisCluster, health_check_interval=1,
                         **options)
        if telemetry is not None:
            # Every command of this client, the stores' included, is timed (gateway.adapters.telemetry).
            cast(TimedRedis | TimedRedisCluster, client).telemetry = telemetry
        if is_cluster_url(url):
            address = parse_cluster(url)
            options.update(username=address.username, password=address.password, ssl=address.tls)
        return cls(client, retry_after_seconds=retry_after_seconds, node_options=options)

    def node_client(self, host: str, port: int) -> aioredis.Redis:
        """A client of one cluster node, with the cluster's credentials, TLS and deadlines (the
        updates hub's sharded subscriptions)."""
        return aioredis.Redis(host=host, port=port, **self._node_options)

    @contextmanager
    def errors(self) -> Iterator[None]:
        """Redis failures as the gateway's 503, for code using a Redis-backed helper."""
        with self._errors():
            yield

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise BackendUnavailable(
                "Redis is unavailable; retry shortly.", retry_after_seconds=self._retry_after
            ) from exc

    async def ping(self) -> None:
        with self._errors():
            await self.redis.ping()

    async def claim(self, key: str, fingerprint: str, *, ttl_seconds: int) -> str | None:
        """Record `fingerprint` under `key` unless one is there; return the earlier one if so."""
        with self._errors():
            if await self.redis.set(key, fingerprint, nx=True, ex=ttl_seconds):
                return None
            # Our clients never set decode_responses, so values come back as bytes.
            earlier = cast(bytes | None, await self.redis.get(key))
        return earlier.decode() if earlier is not None else None

    async def remember(self, key: str, value: str, *, ttl_seconds: int) -> None:
        with self._errors():
            await self.redis.set(key, value, ex=ttl_seconds)

    async def release(self, key: str, fingerprint: str) -> None:
        """Forget a claim that led nowhere (the request failed), if it is still ours."""
        with self._errors():
            await self._release(keys=[key], args=[fingerprint])

    async def count_hit(self, key: str, *, ttl_seconds: int) -> int:
        """Count one hit in a fixed window keyed by `key`; the count so far."""
        with self._errors():
            count = await self._count_hit(keys=[key], args=[ttl_seconds])
        return int(count)

    async def index_run(self, run_id: str, workflow_id: str, facts: RunFacts) -> None:
        """Remember which workflow and project a run id belongs to (for run-id-only routes)."""
        value = json.dumps({"workflow_id": workflow_id, **asdict(facts)}, separators=(",", ":"))
        with self._errors():
            await self.redis.set(_RUN_KEY.format(run_id=run_id), value, ex=RUN_INDEX_TTL_SECONDS)

    async def indexed_run(self, run_id: str) -> tuple[str, RunFacts] | None:
        with self._errors():
            raw = await self.redis.get(_RUN_KEY.format(run_id=run_id))
        if raw is None:
            return None
        data = json.loads(raw)
        workflow_id = data.pop("workflow_id")
        return workflow_id, RunFacts(**data)

    async def close(self) -> None:
        await close(self.redis)
