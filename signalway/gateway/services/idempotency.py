"""`Idempotency-Key`: a retried request acts once and gets the first answer.

The key is also turned into ids Temporal deduplicates on by itself (a start's workflow id,
a signal's request id, an update's id), so a retry that races the first attempt still
acts once; the claim in Redis keeps the first answer and refuses the same key with a
different request (409).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any, TypeVar

from signalway.gateway.deps import Services
from signalway.gateway.errors import BackendUnavailable, IdempotencyConflict

T = TypeVar("T")

_NAMESPACE = uuid.UUID("6f1c1a0e-5b1e-4c55-9a57-7a1f3c9e2d10")
TTL_SECONDS = 24 * 3600
_CLAIM_KEY = "signalway:idempotency:{project}:{scope}:{key}"


def derived_id(project: str, scope: str, key: str) -> str:
    """A stable id (workflow id, signal request id, update id) for one caller's key."""
    return str(uuid.uuid5(_NAMESPACE, f"{project}\n{scope}\n{key}"))


def fingerprint(*parts: Any) -> str:
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def acting_once(svc: Services, *, project: str, scope: str, key: str | None,
                      request_fingerprint: Callable[[], str], action: Callable[[str | None], Awaitable[T]]) -> T:
    """Run `action` under an Idempotency-Key (none: just run it).

    `action` gets the id derived from the key; its JSON-ready result is kept with the claim
    for the key's lifetime and is what a retry gets.
    """
    if key is None:
        return await action(None)
    mine_fingerprint = request_fingerprint()  # only computed when a key asks for it
    claim = _CLAIM_KEY.format(project=project, scope=scope, key=hashlib.sha256(key.encode()).hexdigest())
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
            return earlier["result"]  # type: ignore[no-any-return]
    try:
        result = await action(derived_id(project, scope, key))
    except Exception:
        if earlier_raw is None:
            with suppress(BackendUnavailable):  # the original error is the one to report
                await svc.redis.release(claim, mine)
        raise
    with suppress(BackendUnavailable):  # done in Temporal; a lost record only costs a re-check
        await svc.redis.remember(claim, json.dumps({"fingerprint": mine_fingerprint, "result": result}),
                                 ttl_seconds=TTL_SECONDS)
    return result
