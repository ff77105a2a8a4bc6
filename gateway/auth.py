"""Who is calling: Bearer JWT (HS256 or RS256) or, on the durable surface, an API key."""

from __future__ import annotations

import hashlib
import math
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
        accepted = next(((a, k) for a, k in self._keys if a == alg), None)
        if accepted is None:
            raise Unauthorized(f"Token algorithm {alg!r} is not accepted.")
        algorithm, key = accepted
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self._audience,
                issuer=self._issuer,
                # Times and `sub` are checked below, after their types: PyJWT reads times with
                # int(claim), so a string `"exp": "9999999999"` or `true` would pass its checks.
                options={"require": ["exp", "sub", "project"], "verify_exp": False, "verify_nbf": False,
                         "verify_iat": False, "verify_sub": False},
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"Invalid token: {exc}.") from None
        times = {name: claims[name] for name in ("exp", "iat", "nbf") if name in claims}
        for name, value in times.items():
            # RFC 7519 NumericDate: a JSON number. PyJWT's parser also takes NaN and Infinity,
            # which would compare as never expired.
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise Unauthorized(f"Claim `{name}` must be a number (seconds since the epoch).")
        user, project = claims["sub"], claims["project"]
        for claim, value in (("sub", user), ("project", project)):
            if not isinstance(value, str) or not value:
                raise Unauthorized(f"Claim `{claim}` must be a non-empty string.")
        permissions = claims.get("permissions")
        if permissions is None:
            permissions = []
        if not isinstance(permissions, list) or not all(isinstance(p, str) for p in permissions):
            raise Unauthorized("Claim `permissions` must be a list of strings.")
        # The time checks PyJWT would have made (no leeway, as before).
        now = time.time()
        if times["exp"] <= now:
            raise Unauthorized("The token has expired.")
        if times.get("nbf", now) > now or times.get("iat", now) > now:
            raise Unauthorized("The token is not yet valid.")
        return Principal(user=user, project=project, permissions=frozenset(permissions)), float(times["exp"])
