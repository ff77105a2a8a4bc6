"""The e2e flows on a Redis Cluster: the session's Temporal, a real cluster (3 primaries with a
replica each), and a worker and a gateway of their own on it (own task queue, so the session's
worker never runs their activities against the single Redis)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from signalway.localstack import LocalCluster, ManagedProcess, free_port
from signalway.redis_connect import RedisClient, close, connect
from tests.helpers.gateway import Gateway, launch_gateway, launch_worker
from tests.helpers.stack import Stack

TASK_QUEUE = "signalway-cluster"


@pytest.fixture(scope="session")
def stack(stack: Stack, redis_cluster: LocalCluster) -> Stack:
    data_dir = stack.data_dir / "on-cluster"
    data_dir.mkdir(exist_ok=True)
    return Stack(temporal_address=stack.temporal_address, redis_url=redis_cluster.url, data_dir=data_dir)


@pytest.fixture(scope="session")
async def redis(stack: Stack) -> AsyncIterator[RedisClient]:
    client = connect(stack.redis_url)
    yield client
    await close(client)


@pytest.fixture(scope="session")
def gateway_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def worker_process(stack: Stack, gateway_port: int) -> Iterator[ManagedProcess]:
    process = launch_worker(stack, gateway_port, name="cluster-worker", SIGNALWAY_TASK_QUEUE=TASK_QUEUE)
    yield process
    process.stop()


@pytest.fixture(scope="session")
def gateway(stack: Stack, worker_process: ManagedProcess, rsa_key: rsa.RSAPrivateKey,
            gateway_port: int) -> Iterator[Gateway]:
    launched = launch_gateway(stack, gateway_port, rsa_key, name="cluster-gateway", SIGNALWAY_TASK_QUEUE=TASK_QUEUE)
    yield launched
    launched.process.stop()


@pytest.fixture(scope="session")
async def http(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30, headers=gateway.headers()) as client:
        yield client
