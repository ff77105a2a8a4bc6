"""Run-scoped stream tokens: what a browser's `EventSource` presents to watch one run.

A stream token carries its principal (user, project, permissions) and one run
(`workflow_id`, `run_id`), and opens only that run's `GET …/updates` and `GET …/stream`.
It is an HS256 JWT signed with a key only gateways hold, never one that verifies ordinary
tokens: `SIGNALWAY_STREAM_TOKEN_SECRET`; else a key derived from `SIGNALWAY_JWT_SECRET`
(HMAC-SHA256 with a fixed label, so the two keys differ); else a random key per process,
with which a token works only on the process that issued it. Replicas behind one load
balancer (or `signalway gateway --workers N`) therefore need one of the first two.

Its own `typ` header routes it here; its own audience and issuer mean that even a verifier
given the wrong key could not take one for an ordinary token, nor the reverse.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import jwt

from signalway.gateway.settings import GatewaySettings

TYP = "signalway-stream+jwt"
AUDIENCE = "signalway:run-stream"
ISSUER = "signalway-gateway"
_DERIVATION_LABEL = b"signalway/stream-token/v1"


@dataclass(frozen=True)
class StreamKey:
    secret: bytes
    source: str  # "SIGNALWAY_STREAM_TOKEN_SECRET", "derived from SIGNALWAY_JWT_SECRET" or "random"


def stream_key(settings: GatewaySettings) -> StreamKey:
    if settings.stream_token_secret is not None:
        return StreamKey(settings.stream_token_secret.get_secret_value().encode(), "SIGNALWAY_STREAM_TOKEN_SECRET")
    if settings.jwt_secret is not None:
        derived = hmac.new(settings.jwt_secret.get_secret_value().encode(), _DERIVATION_LABEL, hashlib.sha256)
        return StreamKey(derived.digest(), "derived from SIGNALWAY_JWT_SECRET")
    return StreamKey(secrets.token_bytes(32), "random")


@dataclass(frozen=True)
class StreamGrant:
    """What a verified stream token says."""

    user: str
    project: str
    permissions: frozenset[str]
    workflow_id: str
    run_id: str
    expires_at: float


class InvalidStreamToken(Exception):
    """The message is the client-facing reason."""


class StreamTokens:
    def __init__(self, key: StreamKey, *, leeway_seconds: float) -> None:
        self.key_source = key.source
        self._secret = key.secret
        self._leeway = leeway_seconds

    def mint(self, *, user: str, project: str, permissions: Collection[str], workflow_id: str, run_id: str,
             expires_at: float) -> str:
        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": user, "project": project,
                  "permissions": sorted(permissions), "wid": workflow_id, "rid": run_id,
                  "iat": int(time.time()), "exp": int(expires_at)}
        return jwt.encode(claims, self._secret, algorithm="HS256", headers={"typ": TYP})

    def verify(self, token: str) -> StreamGrant:
        try:
            decoded = jwt.decode_complete(
                token, self._secret, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "project", "wid", "rid"], "verify_exp": False,
                         "verify_iat": False, "verify_nbf": False},
            )
        except jwt.PyJWTError as exc:
            raise InvalidStreamToken(f"Invalid stream token: {exc}.") from None
        claims: dict[str, Any] = decoded["payload"]
        if decoded["header"].get("typ") != TYP:
            raise InvalidStreamToken("Invalid stream token: wrong `typ`.")
        fields: list[Any] = [claims.get(name) for name in ("sub", "project", "wid", "rid")]
        exp, permissions = claims["exp"], claims.get("permissions", [])
        if not all(isinstance(value, str) and value for value in fields) \
                or isinstance(exp, bool) or not isinstance(exp, int | float) or not math.isfinite(exp) \
                or not isinstance(permissions, list) or not all(isinstance(p, str) for p in permissions):
            raise InvalidStreamToken("Invalid stream token: malformed claims.")
        if exp + self._leeway <= time.time():
            raise InvalidStreamToken("The stream token has expired; ask for a new one.")
        user, project, workflow_id, run_id = fields
        return StreamGrant(user, project, frozenset(permissions), workflow_id, run_id, float(exp))
