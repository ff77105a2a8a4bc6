"""The test session's real services: a Temporal dev server and a Redis server on free ports (and a
Redis Cluster for the tests that ask for one).

Started once per session, stopped at the end. Nothing is mocked.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aioredis
from temporalio.client import Client

from signalway.localstack import (
    LocalCluster,
    ManagedProcess,
    free_port,
    start_redis,
    start_redis_cluster,
    start_temporal,
)
from signalway.settings import CommonSettings
from signalway.temporal import connect
from tests.helpers.stack import Stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp("stack")
    temporal_port, redis_port = free_port(), free_port()
    processes: list[ManagedProcess] = []
    try:
        processes.append(start_temporal(data_dir / "temporal", port=temporal_port, ui_port=None))
        processes.append(start_redis(data_dir / "redis", port=redis_port, persistent=False))
        yield Stack(
            temporal_address=f"127.0.0.1:{temporal_port}",
            redis_url=f"redis://127.0.0.1:{redis_port}/0",
            data_dir=data_dir,
        )
    finally:
        for process in reversed(processes):
            process.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A real Redis Cluster (3 primaries, each with a replica), for the tests that ask for it."""
    cluster = start_redis_cluster(tmp_path_factory.mktemp("redis-cluster"))
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def settings(stack: Stack) -> CommonSettings:
    return CommonSettings(temporal_address=stack.temporal_address, redis_url=stack.redis_url)


@pytest.fixture(scope="session")
async def client(settings: CommonSettings) -> Client:
    return await connect(settings)


@pytest.fixture(scope="session")
async def redis(stack: Stack) -> AsyncIterator[aioredis.Redis]:
    r = aioredis.Redis.from_url(stack.redis_url)
    yield r
    await r.aclose()


@pytest.fixture(scope="session", autouse=True)
def _no_stray_env() -> None:
    # Settings come from SIGNALWAY_* variables; a developer's own must not leak into tests, nor
    # OTEL_* ones (processes under test would export traces to the developer's collector).
    for name in [n for n in os.environ if n.startswith(("SIGNALWAY_", "OTEL_"))]:
        del os.environ[name]
