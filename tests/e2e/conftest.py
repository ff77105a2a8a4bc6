"""The gateway and a worker as real processes, the way `make dev` runs them, driven over HTTP."""

from __future__ import annotations

import base64
import json
import secrets
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from signalway.localstack import ManagedProcess, free_port
from signalway.tokens import mint
from tests.conftest import Stack

API_KEY = "sk_test_" + secrets.token_urlsafe(16)
WEBHOOK_SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
API_KEY_PROJECT = "alpha"


@dataclass(frozen=True)
class Gateway:
    url: str
    secret: str
    rsa_private_pem: bytes
    process: ManagedProcess

    def token(self, project: str = "alpha", user: str = "alice", permissions: tuple[str, ...] = (),
              ttl: int = 3600) -> str:
        return mint(self.secret, project=project, user=user, permissions=permissions, ttl_seconds=ttl)

    def headers(self, project: str = "alpha", user: str = "alice") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(project, user)}"}


def wait_ready(url: str, process: ManagedProcess, *, path: str = "/readyz", timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.running():
            raise RuntimeError(f"{process.name} exited:\n{process.tail(40)}")
        try:
            if httpx.get(url + path, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{process.name} not ready:\n{process.tail(40)}")


def gateway_env(stack: Stack, port: int, secret: str, public_pem: str, **extra: str) -> dict[str, str]:
    return {
        "SIGNALWAY_TEMPORAL_ADDRESS": stack.temporal_address,
        "SIGNALWAY_REDIS_URL": stack.redis_url,
        "SIGNALWAY_JWT_SECRET": secret,
        "SIGNALWAY_JWT_PUBLIC_KEY": public_pem,
        "SIGNALWAY_API_KEYS": json.dumps({API_KEY: API_KEY_PROJECT}),
        "SIGNALWAY_HOST": "127.0.0.1",
        "SIGNALWAY_PORT": str(port),
        "SIGNALWAY_MAX_BODY_BYTES": str(64 * 1024),
        "SIGNALWAY_QUERY_TIMEOUT_SECONDS": "1",
        "SIGNALWAY_RESUME_RATE_LIMIT_PER_MINUTE": "10000",
        "SIGNALWAY_EARLY_EVENT_PREFIXES": json.dumps(["order:early-"]),
        # The resume tests' webhook receiver listens on 127.0.0.1.
        "SIGNALWAY_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32",
        **extra,
    }


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


def rs256_token(private_pem: bytes, **claims: object) -> str:
    now = int(time.time())
    body = {"sub": "rsa-user", "project": "alpha", "iat": now, "exp": now + 600, **claims}
    return jwt.encode(body, private_pem, algorithm="RS256")
