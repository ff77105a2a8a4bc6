"""A gateway under test: its credentials, its environment, and the tokens callers present."""

from __future__ import annotations

import base64
import json
import secrets
import sys
import time
from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from signalway.localstack import ManagedProcess
from signalway.tokens import mint
from tests.helpers.http import wait_ready
from tests.helpers.stack import Stack

# One per test session: the gateway and the worker processes are started with them.
API_KEY = "sk_test_" + secrets.token_urlsafe(16)
API_KEY_PROJECT = "alpha"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


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


def gateway_env(stack: Stack, port: int, secret: str, public_pem: str, **extra: str) -> dict[str, str]:
    """The environment of a gateway process on `port` in front of the session's stack."""
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


def rs256_token(private_pem: bytes, **claims: object) -> str:
    now = int(time.time())
    body = {"sub": "rsa-user", "project": "alpha", "iat": now, "exp": now + 600, **claims}
    return jwt.encode(body, private_pem, algorithm="RS256")


def launch_worker(stack: Stack, gateway_port: int, *, name: str = "worker", **extra: str) -> ManagedProcess:
    """A worker process on the stack, for the gateway on `gateway_port` (resume URLs point there)."""
    env = {"SIGNALWAY_TEMPORAL_ADDRESS": stack.temporal_address, "SIGNALWAY_REDIS_URL": stack.redis_url,
           "SIGNALWAY_PUBLIC_URL": f"http://127.0.0.1:{gateway_port}",
           "SIGNALWAY_RESUME_SECRET": secrets.token_urlsafe(32), "SIGNALWAY_WEBHOOK_SECRET": WEBHOOK_SECRET,
           "SIGNALWAY_WEBHOOK_TIMEOUT_SECONDS": "2", "SIGNALWAY_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32", **extra}
    return ManagedProcess(name, [sys.executable, "-m", "signalway.worker"], env=env, log_path=stack.data_dir / f"{name}.log")


def launch_gateway(stack: Stack, port: int, rsa_key: rsa.RSAPrivateKey, *, name: str = "gateway",
                   **extra: str) -> Gateway:
    """A gateway process on `port` in front of the stack, returned once it is ready."""
    secret = secrets.token_urlsafe(32)
    public_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    private_pem = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    process = ManagedProcess(name, [sys.executable, "-m", "signalway", "gateway"],
                             env=gateway_env(stack, port, secret, public_pem, **extra),
                             log_path=stack.data_dir / f"{name}.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process)
    except BaseException:
        process.stop()
        raise
    return Gateway(url=url, secret=secret, rsa_private_pem=private_pem, process=process)
