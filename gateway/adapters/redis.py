"""The one module of the gateway that talks to Redis."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import cast

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway.adapters.telemetry import TimedRedis
from gateway.adapters.temporal import RunFacts
from gateway.errors import BackendUnavailable
from gateway.telemetry import GatewayTelemetry
from signalway.redis_connect import close, connect

# Failures of a Redis call that mean "Redis is not answering": 503 with retry advice,
# mapped once by the app's exception handlers rather than at every call.
REDIS_FAILURES: tuple[type[Exception], ...] = (RedisConnectionError, RedisTimeoutError)
REDIS_TIMEOUTS: tuple[type[Exception], ...] = (RedisTimeoutError,)

RUN_INDEX_TTL_SECONDS = 90 * 24 * 3600
_RUN_KEY = "signalway:run:{run_id}"


class RedisService:
    def __init__(self, redis: aioredis.Redis, *, retry_after_seconds: int) -> None:
        self.redis = redis
        self._retry_after = retry_after_seconds

    @classmethod
    def from_url(cls, url: str, *, retry_after_seconds: int, timeout: float = 2,
                 telemetry: GatewayTelemetry | None = None) -> RedisService:
        # Every command has a deadline below the request's: a stalled Redis is a prompt 503,
        # not a request hanging for the client's whole patience.
        # A connection idle for a second is PINGed before use, so one left broken by a Redis
        # restart is replaced instead of failing the next command sent on it.
        client = connect(url, redis_class=TimedRedis, socket_connect_timeout=min(timeout, 1), socket_timeout=timeout,
                         health_check_interval=1)
        if telemetry is not None:
            # Every command of this client, the stores' included, is timed (gateway.adapters.telemetry).
            cast(TimedRedis, client).telemetry = telemetry
        return cls(client, retry_after_seconds=retry_after_seconds)

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
            async with self.redis.pipeline(transaction=True) as pipe:
                await pipe.watch(key)
                if (await pipe.get(key)) == fingerprint.encode():
                    pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves Pipeline.multi unannotated
                    pipe.delete(key)
                    await pipe.execute()

    async def count_hit(self, key: str, *, ttl_seconds: int) -> int:
        """Count one hit in a fixed window keyed by `key`; the count so far."""
        with self._errors():
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.expire(key, ttl_seconds)
                count, _ = await pipe.execute()
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
