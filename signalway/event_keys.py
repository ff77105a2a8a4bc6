"""What an event key may be: one rule for the gateway, the worker and workflow code.

A key is addressed as one URL path segment (`/v1/events/{eventKey}`), so a key that no such
segment can carry, or that names another route under `/v1/events/`, could be waited on but
never read, sent to or cancelled. Pure and free of I/O (no Redis) so that deterministic
workflow code can import it; `signalway.triggers` re-exports it.
"""

from __future__ import annotations

import re

# Words that are routes of their own under /v1/events/ (`GET /v1/events/stats`,
# `POST /v1/events/purge`, `POST /v1/events/prefix/{prefix}/send`).
RESERVED_KEYS = frozenset({"stats", "purge", "prefix"})
# As long as the gateway's `eventKey` path parameter allows.
MAX_EVENT_KEY_LENGTH = 1024

# C0 and C1 controls and DEL (Unicode category Cc): invisible in logs and listings, and
# refused by many HTTP clients in a URL. Lone surrogates have no UTF-8 form, so Redis could
# not store such a key.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def invalid_event_key(key: str) -> str | None:
    """Why `key` cannot be an event key, or None when it can."""
    if not key:
        return "An event key must not be empty."
    if len(key) > MAX_EVENT_KEY_LENGTH:
        return f"An event key is at most {MAX_EVENT_KEY_LENGTH} characters; this one has {len(key)}."
    if key in RESERVED_KEYS:
        return f"The event key {key!r} is reserved: /v1/events/{key} is another route."
    if "/" in key:
        return "An event key cannot contain '/': it must fit in one URL path segment."
    if key in (".", ".."):
        # Clients and proxies resolve dot segments, so /v1/events/.. never reaches the key.
        return f"The event key {key!r} is a relative path segment, which URLs cannot address."
    if _UNPRINTABLE.search(key):
        return "An event key cannot contain control characters or unpaired surrogates."
    return None
