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

    async def close(self) -> None:
        await self.redis.aclose()
