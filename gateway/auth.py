"""Who is calling: Bearer JWT (HS256 or RS256) or, on the durable surface, an API key."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

import jwt

from gateway.errors import Unauthorized
from gateway.settings import GatewaySettings
from signalway.tokens import SUPERADMIN


@dataclass(frozen=True)
class Principal:
    user: str
    project: str
    permissions: frozenset[str] = field(default_factory=frozenset)

    @property
    def initiated_by(self) -> str:
        return f"user:{self.user}"

    @property
    def is_superadmin(self) -> bool:
        return SUPERADMIN in self.permissions


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


_VERIFIED_MAX = 10_000


class Authenticator:
    def __init__(self, settings: GatewaySettings) -> None:
        self._keys: list[tuple[str, str]] = []
        if settings.jwt_secret is not None:
            self._keys.append(("HS256", settings.jwt_secret.get_secret_value()))
        if settings.jwt_public_key:
            self._keys.append(("RS256", settings.jwt_public_key))
        self._audience = settings.jwt_audience
        self._issuer = settings.jwt_issuer
        # Looked up by digest: the table never holds the raw keys, and a dict lookup on a
        # digest leaks nothing useful about a key through timing.
        self._api_keys = {_digest(key): project for key, project in settings.api_keys.items()}
        self._verified: dict[str, tuple[Principal, float]] = {}

    def authenticate(self, authorization: str | None, *, allow_api_key: bool) -> Principal:
        if not authorization:
            raise Unauthorized("Missing Authorization header.")
        scheme, _, credential = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and credential:
            token = credential.strip()
        elif not credential and allow_api_key:
            token = scheme  # `Authorization: <api key>`
        else:
            raise Unauthorized("Authorization must be `Bearer <token>`.")
        if allow_api_key:
            project = self._api_keys.get(_digest(token))
            if project is not None:
                return Principal(user=f"apikey:{hashlib.sha256(token.encode()).hexdigest()[:12]}", project=project)
        return self._decode_jwt(token)

    def _decode_jwt(self, token: str) -> Principal:
        # A token verified before is not verified again until it expires: the signature check
        # is most of the gateway's own work on a hot signal path.
        cached = self._verified.get(token)
        if cached is not None and cached[1] > time.time():
            return cached[0]
        principal, expires = self._verify_jwt(token)
        if len(self._verified) >= _VERIFIED_MAX:
            self._verified.clear()
        self._verified[token] = (principal, expires)
        return principal

    def _verify_jwt(self, token: str) -> tuple[Principal, float]:
        if not self._keys:
            raise Unauthorized("Unknown API key.")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("The token is neither a JWT nor a known API key.") from None
        alg = header.get("alg")
        key = next((k for a, k in self._keys if a == alg), None)
        if key is None:
            raise Unauthorized(f"Token algorithm {alg!r} is not accepted.")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp", "sub", "project"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("The token has expired.") from None
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"Invalid token: {exc}.") from None
        permissions = claims.get("permissions") or []
        if not isinstance(permissions, list) or not all(isinstance(p, str) for p in permissions):
            raise Unauthorized("Claim `permissions` must be a list of strings.")
        user, project = claims["sub"], claims["project"]
        if not isinstance(user, str) or not isinstance(project, str) or not user or not project:
            raise Unauthorized("Claims `sub` and `project` must be non-empty strings.")
        return Principal(user=user, project=project, permissions=frozenset(permissions)), float(claims["exp"])
