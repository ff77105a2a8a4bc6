"""`Idempotency-Key`: a retried request acts once and gets the first answer.

The key is also turned into ids Temporal deduplicates on by itself (a start's workflow id,
a signal's request id, an update's id), so a retry that races the first attempt still
acts once; the claim in Redis keeps the first answer and refuses the same key with a
different request (409).

A key belongs to the caller who sent it: the claim and every id derived from it are made
of the project, the caller (user or API key) and the key, so another caller's identical
key is a fresh key of their own and never reaches the first caller's answer or run. A
stored answer is returned only after the access decision a fresh request would get
(`authorize`), so losing sight of a run also loses its stored answers.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any, TypeVar

from signalway.gateway.auth import Principal
from signalway.gateway.deps import Services
from signalway.gateway.errors import BackendUnavailable, IdempotencyConflict

T = TypeVar("T")

_NAMESPACE = uuid.UUID("6f1c1a0e-5b1e-4c55-9a57-7a1f3c9e2d10")
TTL_SECONDS = 24 * 3600
# One key per caller's claim: a digest of project, caller, scope and key (no raw project or
# key in a Redis key name, so neither can change the key's layout).
_CLAIM_KEY = "signalway:idempotency:{digest}"


def caller_of(who: Principal) -> str:
    """Who a key belongs to: the user, or the API key (by its digest), of one project."""
    return who.initiated_by


def derived_id(who: Principal, scope: str, key: str) -> str:
    """A stable id (workflow id, signal request id, update id) for one caller's key."""
    return str(uuid.uuid5(_NAMESPACE, f"{who.project}\n{caller_of(who)}\n{scope}\n{key}"))


def claim_key(who: Principal, scope: str, key: str) -> str:
    parts = json.dumps([who.project, caller_of(who), scope, key], separators=(",", ":"))
    return _CLAIM_KEY.format(digest=hashlib.sha256(parts.encode()).hexdigest())


def fingerprint(*parts: Any) -> str:
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def acting_once(svc: Services, *, who: Principal, scope: str, key: str | None,
                      request_fingerprint: Callable[[], str], action: Callable[[str | None], Awaitable[T]],
                      authorize: Callable[[T], Awaitable[object]] | None = None) -> T:
    """Run `action` under the caller's Idempotency-Key (none: just run it).

    `action` gets the id derived from the key; its JSON-ready result is kept with the claim
    for the key's lifetime and is what a retry of the same caller gets, once `authorize`
    (given the stored result) has made the access decision a fresh request would (it raises
    the 404 a fresh request would get).
    """
    if key is None:
        return await action(None)
    mine_fingerprint = request_fingerprint()  # only computed when a key asks for it
    claim = claim_key(who, scope, key)
    mine = json.dumps({"fingerprint": mine_fingerprint})
    earlier_raw = await svc.redis.claim(claim, mine, ttl_seconds=TTL_SECONDS)
    if earlier_raw is not None:
        try:
            earlier = json.loads(earlier_raw)
        except json.JSONDecodeError:
            earlier = {"fingerprint": earlier_raw}
        if earlier.get("fingerprint") != mine_fingerprint:
            raise IdempotencyConflict("This Idempotency-Key was already used with a different request.")
        if "result" in earlier:
            stored: T = earlier["result"]
            if authorize is not None:
                await authorize(stored)
            return stored
    try:
        result = await action(derived_id(who, scope, key))
    except Exception:
        if earlier_raw is None:
            with suppress(BackendUnavailable):  # the original error is the one to report
                await svc.redis.release(claim, mine)
        raise
    with suppress(BackendUnavailable):  # done in Temporal; a lost record only costs a re-check
        await svc.redis.remember(claim, json.dumps({"fingerprint": mine_fingerprint, "result": result}),
                                 ttl_seconds=TTL_SECONDS)
    return result
