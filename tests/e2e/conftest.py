"""The gateway and a worker as real processes, the way `make dev` runs them, driven over HTTP."""

from __future__ import annotations

import secrets
import sys
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from playwright.async_api import Browser

from signalway.localstack import ManagedProcess, free_port
from tests.helpers.browser import chromium
from tests.helpers.gateway import WEBHOOK_SECRET, Gateway, gateway_env
from tests.helpers.http import wait_ready
from tests.helpers.stack import Stack


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def gateway_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def worker_process(stack: Stack, gateway_port: int) -> Iterator[ManagedProcess]:
    env = {"SIGNALWAY_TEMPORAL_ADDRESS": stack.temporal_address, "SIGNALWAY_REDIS_URL": stack.redis_url,
           "SIGNALWAY_PUBLIC_URL": f"http://127.0.0.1:{gateway_port}",
           "SIGNALWAY_RESUME_SECRET": secrets.token_urlsafe(32), "SIGNALWAY_WEBHOOK_SECRET": WEBHOOK_SECRET,
           "SIGNALWAY_WEBHOOK_TIMEOUT_SECONDS": "2", "SIGNALWAY_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32"}
    process = ManagedProcess("worker", [sys.executable, "-m", "worker"], env=env,
                             log_path=stack.data_dir / "worker.log")
    yield process
    process.stop()


@pytest.fixture(scope="session")
def gateway(stack: Stack, worker_process: ManagedProcess, rsa_key: rsa.RSAPrivateKey,
            gateway_port: int) -> Iterator[Gateway]:
    port = gateway_port
    secret = secrets.token_urlsafe(32)
    public_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    private_pem = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    process = ManagedProcess(
        "gateway", [sys.executable, "-m", "signalway", "gateway"],
        env=gateway_env(stack, port, secret, public_pem), log_path=stack.data_dir / "gateway.log",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process)
        yield Gateway(url=url, secret=secret, rsa_private_pem=private_pem, process=process)
    finally:
        process.stop()


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
