"""Who is calling: a Bearer JWT, a run-scoped stream token, or (durable and event surfaces) an API key.

A JWT is verified with the key its header asks for, among those configured: the HS256
secret (`SIGNALWAY_JWT_SECRET`, for development and `signalway token`), the static public
key (`SIGNALWAY_JWT_PUBLIC_KEY`, RS256) and the identity provider's key set by `kid`
(`SIGNALWAY_JWT_JWKS_URL`). `alg` must be one the chosen key verifies: `none` never is, and
an HMAC algorithm only ever meets the HS256 secret, never a public key. The user, project
and permissions are read from the claims `SIGNALWAY_JWT_*_CLAIM` name (`gateway.claims`).

Stream tokens (`gateway.stream_tokens`) are told apart by their `typ` header and open only
the routes that ask for them (`allow_stream_token`).
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from jwt import PyJWK
from starlette.datastructures import Headers, QueryParams
from starlette.types import ASGIApp, Receive, Scope, Send

from signalway.gateway import stream_tokens
from signalway.gateway.claims import claim_at, permissions_of
from signalway.gateway.errors import BackendUnavailable, Unauthorized
from signalway.gateway.jwks import ALGORITHMS, JwksKeys
from signalway.gateway.settings import GatewaySettings
from signalway.tokens import SUPERADMIN

log = logging.getLogger("signalway.gateway")


@dataclass(frozen=True)
class Principal:
    user: str
    project: str
    permissions: frozenset[str] = field(default_factory=frozenset)
    # A stream token's run (workflow_id, run_id): the only run this principal can reach.
    run_scope: tuple[str, str] | None = None
    # When the credential expires (None: an API key); a stream token never outlives it.
    expires_at: float | None = field(default=None, compare=False)

    @property
    def initiated_by(self) -> str:
        return f"user:{self.user}"

    @property
    def is_superadmin(self) -> bool:
        return SUPERADMIN in self.permissions


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


_VERIFIED_MAX = 10_000
# The project API key is a credential of the durable and event APIs only (docs/security.md).
_NO_API_KEYS = "API keys are not accepted on the runs API (/api/v1/workflows/...); send a Bearer JWT."
_STREAM_TOKEN_ONLY = ("This is a stream token: it opens only GET …/updates and GET …/stream of its run. "
                      "Call this route with your own token.")


class Authenticator:
    def __init__(self, settings: GatewaySettings) -> None:
        self._secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret is not None else None
        self._public_key = settings.jwt_public_key or None
        self._jwks = None if settings.jwt_jwks_url is None else JwksKeys(
            settings.jwt_jwks_url, min_interval=settings.jwt_jwks_min_refresh_seconds,
            # A token verified with a key the provider withdrew must not outlive it in the cache.
            on_keys_removed=self._forget_verified,
        )
        self._audience = settings.jwt_audience
        self._issuer = settings.jwt_issuer
        self._leeway = settings.jwt_leeway_seconds
        self._user_claim = settings.jwt_user_claim
        self._project_claim = settings.jwt_project_claim
        self._permissions_claim = settings.jwt_permissions_claim
        self._retry_after = settings.retry_after_seconds
        # No leeway for the gateway's own tokens: it signs them with its own clock, and a
        # stream token answers 401 from its `expires_at` on (docs/auth.md).
        self.stream_tokens = stream_tokens.StreamTokens(stream_tokens.stream_key(settings), leeway_seconds=0)
        # Looked up by digest: the table never holds the raw keys, and a dict lookup on a
        # digest leaks nothing useful about a key through timing.
        self._api_keys = {_digest(key): project for key, project in settings.api_keys.items()}
        self._verified: dict[str, tuple[Principal, float]] = {}

    @property
    def jwks(self) -> JwksKeys | None:
        return self._jwks

    async def start(self) -> None:
        if self.stream_tokens.key_source == "random":
            log.warning("stream tokens are signed with a random per-process key: a token works only on the "
                        "gateway process that issued it; set SIGNALWAY_STREAM_TOKEN_SECRET for replicas")
        if self._jwks is not None:
            await self._jwks.start()

    async def close(self) -> None:
        if self._jwks is not None:
            await self._jwks.close()

    async def prepare(self, token: str) -> None:
        """Fetch the key set if `token` names a `kid` this gateway does not know yet.

        Verification itself is synchronous (a dict lookup by kid); this is the one await it
        may need, made before the route runs. The fetch is rate-limited in `JwksKeys`.
        """
        jwks = self._jwks
        if jwks is None or token in self._verified:
            return
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return
        alg, kid = header.get("alg"), header.get("kid")
        # Type checks first: a header's values may be any JSON, lists and objects unhashable.
        if not isinstance(alg, str) or alg not in ALGORITHMS or not (kid is None or isinstance(kid, str)) \
                or jwks.keys_of(kid) is not None:
            return
        if kid is None and alg == "RS256" and self._public_key is not None:
            return  # the static key's token
        await jwks.refresh()

    def authenticate(self, authorization: str | None, *, allow_api_key: bool,
                     allow_stream_token: bool = False) -> Principal:
        if not authorization:
            raise Unauthorized("Missing Authorization header.")
        scheme, _, credential = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and credential:
            token = credential.strip()
        elif not credential and allow_api_key:
            token = scheme  # `Authorization: <api key>`
        elif not credential and _digest(scheme) in self._api_keys:
            raise Unauthorized(_NO_API_KEYS)
        else:
            raise Unauthorized("Authorization must be `Bearer <token>`.")
        if allow_api_key:
            project = self._api_keys.get(_digest(token))
            if project is not None:
                return Principal(user=f"apikey:{hashlib.sha256(token.encode()).hexdigest()[:12]}", project=project)
        elif _digest(token) in self._api_keys:
            raise Unauthorized(_NO_API_KEYS)
        who = self._decode_jwt(token)
        if who.run_scope is not None and not allow_stream_token:
            raise Unauthorized(_STREAM_TOKEN_ONLY)
        return who

    def issue_stream_token(self, who: Principal, workflow_id: str, run_id: str, *,
                           ttl_seconds: float) -> tuple[str, int]:
        """A stream token for one run, and when it expires: never after the caller's own credential."""
        expires_at = int(time.time() + ttl_seconds)
        if who.expires_at is not None:
            expires_at = min(expires_at, int(who.expires_at))
        token = self.stream_tokens.mint(user=who.user, project=who.project, permissions=who.permissions,
                                        workflow_id=workflow_id, run_id=run_id, expires_at=expires_at)
        return token, expires_at

    def _forget_verified(self) -> None:
        self._verified.clear()

    def _decode_jwt(self, token: str) -> Principal:
        # A token verified before is not verified again until it expires: the signature check
        # is most of the gateway's own work on a hot signal path.
        cached = self._verified.get(token)
        if cached is not None and cached[1] > time.time():
            return cached[0]
        principal, expires = self._verify_jwt(token)
        if len(self._verified) >= _VERIFIED_MAX:
            self._verified.clear()
        # Kept while the token is accepted: until its expiry plus the leeway (a stream token:
        # until its expiry exactly).
        self._verified[token] = (principal, expires + (0 if principal.run_scope is not None else self._leeway))
        return principal

    def _verify_jwt(self, token: str) -> tuple[Principal, float]:
        if self._secret is None and self._public_key is None and self._jwks is None:
            raise Unauthorized("Unknown API key.")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("The token is neither a JWT nor a known API key.") from None
        if header.get("typ") == stream_tokens.TYP:
            return self._verify_stream_token(token)
        alg: Any = header.get("alg")
        key = self._key(alg, header.get("kid"))
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self._audience,
                issuer=self._issuer,
                # Times are checked below, after their types: PyJWT reads times with int(claim),
                # so a string `"exp": "9999999999"` or `true` would pass its checks.
                options={"require": ["exp"], "verify_exp": False, "verify_nbf": False,
                         "verify_iat": False, "verify_sub": False},
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"Invalid token: {exc}.") from None
        expires = self._check_times(claims)
        return self._principal(claims, expires), expires

    def _key(self, alg: Any, kid: Any) -> str | PyJWK:
        """The key that verifies a token with this header, or why there is none."""
        if alg == "HS256":
            # An HMAC token only ever meets the HS256 secret: a public key (whose PEM or JWK
            # anybody can read) used as an HMAC secret would let anybody sign.
            if self._secret is None:
                raise Unauthorized("Token algorithm 'HS256' is not accepted.")
            return self._secret
        if not isinstance(alg, str) or alg not in ALGORITHMS:
            raise Unauthorized(f"Token algorithm {str(alg)[:20]!r} is not accepted.")
        if kid is not None and not isinstance(kid, str):
            raise Unauthorized("The token's `kid` must be a string.")
        if self._jwks is not None:
            keys = self._jwks.keys_of(kid)
            if keys is not None:
                key = keys.get(alg)
                if key is None:
                    raise Unauthorized(f"Token algorithm {alg!r} does not match its key's ({', '.join(sorted(keys))}).")
                return key
        if self._public_key is not None and alg == "RS256":
            return self._public_key
        if self._jwks is None:
            raise Unauthorized(f"Token algorithm {alg!r} is not accepted.")
        if not self._jwks.loaded:
            raise BackendUnavailable("The identity provider's keys could not be fetched yet; retry shortly.",
                                     retry_after_seconds=self._retry_after)
        raise Unauthorized("The token's key (`kid`) is not in the identity provider's key set.")

    def _check_times(self, claims: dict[str, Any]) -> float:
        """`exp` (required), `iat` and `nbf` are numbers and hold now, give or take the leeway."""
        times = {name: claims[name] for name in ("exp", "iat", "nbf") if name in claims}
        for name, value in times.items():
            # RFC 7519 NumericDate: a JSON number. PyJWT's parser also takes NaN and Infinity,
            # which would compare as never expired.
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise Unauthorized(f"Claim `{name}` must be a number (seconds since the epoch).")
        now = time.time()
        if times["exp"] + self._leeway <= now:
            raise Unauthorized("The token has expired.")
        if times.get("nbf", now) - self._leeway > now or times.get("iat", now) - self._leeway > now:
            raise Unauthorized("The token is not yet valid.")
        return float(times["exp"])

    def _principal(self, claims: dict[str, Any], expires: float) -> Principal:
        values: dict[str, str] = {}
        for role, name in (("user", self._user_claim), ("project", self._project_claim)):
            value = claim_at(claims, name)
            if value is None:
                raise Unauthorized(f"The token has no `{name}` claim (the {role}).")
            if not isinstance(value, str) or not value:
                raise Unauthorized(f"Claim `{name}` (the {role}) must be a non-empty string.")
            values[role] = value
        permissions = permissions_of(claim_at(claims, self._permissions_claim))
        if permissions is None:
            raise Unauthorized(f"Claim `{self._permissions_claim}` (the permissions) must be a list of strings "
                               "or a space-separated string.")
        return Principal(user=values["user"], project=values["project"], permissions=permissions,
                         expires_at=expires)

    def _verify_stream_token(self, token: str) -> tuple[Principal, float]:
        try:
            grant = self.stream_tokens.verify(token)
        except stream_tokens.InvalidStreamToken as exc:
            raise Unauthorized(str(exc)) from None
        who = Principal(user=grant.user, project=grant.project, permissions=grant.permissions,
                        run_scope=(grant.workflow_id, grant.run_id), expires_at=grant.expires_at)
        return who, grant.expires_at


def bearer_token(scope: Scope) -> str | None:
    """The token a request presents: `Authorization: Bearer …`, else `?access_token=`."""
    authorization = Headers(scope=scope).get("authorization")
    if authorization is not None:
        scheme, _, credential = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            return None
        return credential.strip() or None
    if b"access_token=" in scope.get("query_string", b""):
        return QueryParams(scope["query_string"]).get("access_token") or None
    return None


class KeyRefreshMiddleware:
    """Before a route verifies a request's token, loads the key set if the token names an unknown `kid`.

    Routes verify synchronously (`deps.principal`); fetching is not synchronous, so the one
    await a new key needs happens here. Requests with known keys pass with a dict lookup.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            services = scope.get("state", {}).get("services")
            auth: Authenticator | None = getattr(services, "auth", None)
            if auth is not None and auth.jwks is not None:
                token = bearer_token(scope)
                if token:
                    await auth.prepare(token)
        await self.app(scope, receive, send)
