"""The one module of the gateway that talks to Redis."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway.errors import BackendUnavailable


class RedisService:
    def __init__(self, redis: aioredis.Redis, *, retry_after_seconds: int) -> None:
        self.redis = redis
        self._retry_after = retry_after_seconds

    @classmethod
    def from_url(cls, url: str, *, retry_after_seconds: int) -> RedisService:
        client = aioredis.Redis.from_url(
            url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30
        )
        return cls(client, retry_after_seconds=retry_after_seconds)

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
            earlier = await self.redis.get(key)
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
                    pipe.multi()
                    pipe.delete(key)
                    await pipe.execute()

    async def close(self) -> None:
        await self.redis.aclose()
