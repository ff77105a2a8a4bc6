"""The identity provider's signing keys, from its JWKS URL (`SIGNALWAY_JWT_JWKS_URL`).

Tokens are verified per request and synchronously, so the hot path is two dict lookups
(`kid`, then `alg`) into a table built once per fetch with PyJWT's `PyJWK`. The key set is
fetched at start, again when the document's cache lifetime runs out (Cache-Control
`max-age`, clamped between the floor and a day), and when a token names a `kid` the table
lacks. Never more than once per `min_interval` seconds, whatever the reason: a flood of
made-up kids costs the provider one request per interval, not one per token. Concurrent
callers share the fetch in flight.

A failed fetch keeps the keys already loaded (a provider's blip must not lock every user
out) and is retried after `min_interval`. Keys a fetch no longer lists are dropped at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
from jwt import PyJWK, PyJWTError

log = logging.getLogger("signalway.gateway.jwks")

# What a published key set may verify: asymmetric signatures only. `oct` (HMAC) keys are never
# taken from a key set: with one, anybody holding the public document could sign tokens.
ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"})
_RSA = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
# A key without `alg` verifies what its type and curve allow, and nothing else.
_BY_CURVE = {"P-256": ("ES256",), "P-384": ("ES384",), "P-521": ("ES512",), "Ed25519": ("EdDSA",),
             "Ed448": ("EdDSA",)}

DEFAULT_LIFETIME = 300.0  # a document without Cache-Control max-age
MAX_LIFETIME = 86_400.0
MAX_DOCUMENT_BYTES = 512 * 1024
FETCH_TIMEOUT = 5.0

# kid (None: a key without one, for tokens without one) → algorithm → key.
KeyTable = dict[str | None, dict[str, PyJWK]]


def key_table(document: Any) -> tuple[KeyTable, list[str]]:
    """The signing keys of a JWKS document by kid and algorithm, and why others were skipped."""
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWK Set (an object with a `keys` list)")
    table: KeyTable = {}
    skipped: list[str] = []
    for position, jwk in enumerate(document["keys"]):
        kid = jwk.get("kid") if isinstance(jwk, Mapping) else None
        name = f"key {kid!r}" if isinstance(kid, str) else f"key #{position}"
        reason = _unusable(jwk)
        if reason is not None:
            skipped.append(f"{name}: {reason}")
            continue
        algorithms = (jwk["alg"],) if "alg" in jwk else _RSA if jwk["kty"] == "RSA" else _BY_CURVE[jwk["crv"]]
        try:
            keys = {alg: PyJWK(dict(jwk), alg) for alg in algorithms}
        except PyJWTError as exc:
            skipped.append(f"{name}: {exc.__class__.__name__}")
            continue
        table.setdefault(kid, {}).update(keys)
    return table, skipped


def _unusable(jwk: Any) -> str | None:
    if not isinstance(jwk, Mapping):
        return "not an object"
    if not isinstance(jwk.get("kid", ""), str):
        return "kid is not a string"
    if jwk.get("use", "sig") != "sig":
        return f"use is {jwk.get('use')!r}, not 'sig'"
    if "alg" in jwk:
        return None if jwk["alg"] in ALGORITHMS else f"algorithm {jwk['alg']!r} is not accepted"
    if jwk.get("kty") == "RSA":
        return None
    if jwk.get("kty") in ("EC", "OKP") and jwk.get("crv") in _BY_CURVE:
        return None
    return f"key type {jwk.get('kty')!r} is not accepted"


def cache_lifetime(cache_control: str | None, age: str | None, *, floor: float,
                   ceiling: float = MAX_LIFETIME, default: float = DEFAULT_LIFETIME) -> float:
    """Seconds a fetched key set stays fresh: `max-age` less `Age`, within [floor, ceiling]."""
    directives: dict[str, str] = {}
    for part in (cache_control or "").split(","):
        name, _, value = part.partition("=")
        directives[name.strip().lower()] = value.strip().strip('"')
    seconds = default
    if "no-store" in directives or "no-cache" in directives:
        seconds = 0
    elif directives.get("max-age", "").isdigit():
        seconds = float(directives["max-age"])
        if age is not None and age.strip().isdigit():
            seconds -= float(age.strip())
    return min(max(seconds, floor), max(ceiling, floor))


class FetchGate:
    """At most one fetch per `min_interval` seconds."""

    def __init__(self, min_interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.min_interval = min_interval
        self._clock = clock
        self._last = -math.inf

    def allow(self) -> bool:
        """Whether a fetch may start now; if so, it counts from now."""
        now = self._clock()
        if now - self._last < self.min_interval:
            return False
        self._last = now
        return True

    def next_allowed(self) -> float:
        return self._last + self.min_interval


class JwksKeys:
    """The key table of one JWKS URL, kept fresh by a background task once started."""

    def __init__(self, url: str, *, min_interval: float, on_keys_removed: Callable[[], None] = lambda: None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.url = url
        parts = urlsplit(url)
        self._where = f"{parts.scheme}://{parts.netloc}{parts.path}"  # no query string in the logs
        self._clock = clock
        self._gate = FetchGate(min_interval, clock)
        self._on_keys_removed = on_keys_removed
        self._table: KeyTable = {}
        self._loaded = False
        self._fresh_until = -math.inf
        self._rescheduled = asyncio.Event()  # a fetch set a new `_fresh_until`
        self._inflight: asyncio.Task[None] | None = None
        self._refresher: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        self.fetches = 0

    @property
    def loaded(self) -> bool:
        """Whether any fetch has succeeded."""
        return self._loaded

    def keys_of(self, kid: str | None) -> dict[str, PyJWK] | None:
        """The keys by algorithm of `kid`: the hot path, a dict lookup."""
        return self._table.get(kid)

    async def start(self) -> None:
        """Fetch the keys (a failure is logged, and retried in the background), then keep them fresh."""
        # Redirects are not followed: the operator named the document's address.
        self._client = httpx.AsyncClient(timeout=FETCH_TIMEOUT, follow_redirects=False,
                                         headers={"Accept": "application/jwk-set+json, application/json"})
        await self.refresh()
        self._refresher = asyncio.create_task(self._keep_fresh(), name="jwks-refresher")

    async def close(self) -> None:
        for task in (self._refresher, self._inflight):
            if task is not None:
                task.cancel()
        if self._client is not None:
            await self._client.aclose()

    async def refresh(self) -> None:
        """Fetch now unless a fetch is in flight (then wait for it) or one started too recently."""
        task = self._inflight
        if task is None or task.done():
            if not self._gate.allow():
                return
            task = self._inflight = asyncio.create_task(self._fetch())
        # Shielded: a caller that gives up (a client gone) does not cancel the others' fetch.
        await asyncio.shield(task)

    async def _keep_fresh(self) -> None:
        while True:
            self._rescheduled.clear()
            delay = max(self._fresh_until, self._gate.next_allowed()) - self._clock()
            if delay > 0:
                # Woken early when a fetch for an unknown kid brings a shorter lifetime.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._rescheduled.wait(), delay)
                continue
            await self.refresh()

    async def _fetch(self) -> None:
        self.fetches += 1
        try:
            table, skipped, lifetime = await self._download()
        except Exception as exc:  # whatever the provider answers, a fetch never fails a request
            # Stale keys beat none while the provider blips; retried after the gate's interval.
            self._fresh_until = self._clock() + self._gate.min_interval
            self._rescheduled.set()
            log.warning("JWKS fetch from %s failed (%s: %s); keeping %d key(s), retrying in %.0fs",
                        self._where, type(exc).__name__, exc, len(self._table), self._gate.min_interval)
            return
        removed = self._table.keys() - table.keys()
        # Said once per change, not once per refresh (a short max-age means one every 30 s).
        level = logging.INFO if not self._loaded or table.keys() != self._table.keys() else logging.DEBUG
        self._table, self._loaded = table, True
        self._fresh_until = self._clock() + lifetime
        self._rescheduled.set()
        if removed:
            self._on_keys_removed()
        log.log(level, "JWKS from %s: %d key(s) %s%s; next refresh in %.0fs", self._where, len(table),
                sorted(str(kid) for kid in table), "".join(f"; skipped {reason}" for reason in skipped), lifetime)

    async def _download(self) -> tuple[KeyTable, list[str], float]:
        assert self._client is not None, "start() first"
        async with self._client.stream("GET", self.url) as response:
            if response.status_code != 200:
                raise ValueError(f"answered HTTP {response.status_code}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise ValueError(f"the document is over {MAX_DOCUMENT_BYTES} bytes")
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise ValueError("the document is not JSON") from None
        table, skipped = key_table(document)
        if not table:
            raise ValueError("the document holds no usable signing key" + "".join(f"; skipped {r}" for r in skipped))
        lifetime = cache_lifetime(response.headers.get("cache-control"), response.headers.get("age"),
                                  floor=self._gate.min_interval)
        return table, skipped, lifetime
