"""Minting Signalway JWTs (the `signalway token` command and `make dev`'s dev token)."""

from __future__ import annotations

import time
from collections.abc import Sequence

import jwt

SUPERADMIN = "workflow_superadmin"


def mint(
    secret: str,
    *,
    project: str,
    user: str,
    permissions: Sequence[str] = (),
    ttl_seconds: int = 24 * 3600,
    algorithm: str = "HS256",
    audience: str | None = None,
    issuer: str | None = None,
) -> str:
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": user,
        "project": project,
        "permissions": list(permissions),
        "iat": now,
        "exp": now + ttl_seconds,
    }
    if audience:
        claims["aud"] = audience
    if issuer:
        claims["iss"] = issuer
    return jwt.encode(claims, secret, algorithm=algorithm)
