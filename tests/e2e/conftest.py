"""The gateway and a worker as real processes, the way `make dev` runs them, driven over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from playwright.async_api import Browser

from signalway.localstack import ManagedProcess, free_port
from tests.helpers.browser import chromium
from tests.helpers.gateway import Gateway, launch_gateway, launch_worker
from tests.helpers.installed import build_wheel
from tests.helpers.stack import Stack


@pytest.fixture(scope="session")
def signalway_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This checkout's wheel, built once for the tests that install Signalway as a team does."""
    return build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def gateway_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def worker_process(stack: Stack, gateway_port: int) -> Iterator[ManagedProcess]:
    process = launch_worker(stack, gateway_port)
    yield process
    process.stop()


@pytest.fixture(scope="session")
def gateway(stack: Stack, worker_process: ManagedProcess, rsa_key: rsa.RSAPrivateKey,
            gateway_port: int) -> Iterator[Gateway]:
    launched = launch_gateway(stack, gateway_port, rsa_key)
    yield launched
    launched.process.stop()


@pytest.fixture(scope="session")
async def http(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30, headers=gateway.headers()) as client:
        yield client


@pytest.fixture
def as_project(gateway: Gateway) -> Callable[[str], dict[str, str]]:
    return lambda project: gateway.headers(project=project)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium under Playwright; a missing browser fails the test (never a skip)."""
    async with chromium() as launched:
        yield launched
