"""A gateway under test: its credentials, its environment, and the tokens callers present."""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass

import jwt

from signalway.localstack import ManagedProcess
from signalway.tokens import mint
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
