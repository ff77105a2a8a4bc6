"""How each API surface writes a moment: one formatter per surface, all of them here.

A client that parses one surface's times meets one shape there, never four spellings of
the same instant (`.455Z`, `.455000Z`, `.455405Z`, `+00:00`).

    surface                                    format                             formatter
    durable API (seeds 000, 002)               RFC 3339 UTC, `Z`, milliseconds    rfc3339_ms
    resume URLs (seed 003): preview, admin,    RFC 3339 UTC, `Z`, milliseconds    rfc3339_ms / ms_to_rfc3339
      the webhook's `deadline`
    runs API (seed 001): started_at,           epoch seconds (the seed's own)     gateway.services.read
      closed_at, history event_time
    runs API: updates `timestamp`              epoch milliseconds (the seed's)    signalway.updates
    runs API, beyond the seed: `resumes[]`,    RFC 3339 UTC, `Z`, milliseconds    ms_to_rfc3339,
      `waits` deadlines                                                              us_to_rfc3339_ms
    runs API with `x-api-version` (the         RFC 3339 UTC, `Z`, milliseconds    rfc3339_ms,
      published clients' wire): started_at,                                        ms_to_rfc3339
      closed_at, event_time, pending times;                                        (gateway.runs_wire)
      updates `ts` stays epoch milliseconds
    event triggers API (seed 004)              RFC 3339 UTC, `Z`, microseconds    us_to_rfc3339

The event triggers API keeps microseconds because its `cursor` is a date-time that names
an item exactly: the seed's page has no `next_cursor`, so its clients page with the last
item's `requested_at`, and the store orders triggers by microsecond scores. Rounded to
milliseconds, that cursor would skip the triggers registered later in the same millisecond.
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["ms_to_rfc3339", "rfc3339_ms", "us_to_rfc3339", "us_to_rfc3339_ms"]


def rfc3339_ms(value: datetime | None) -> str | None:
    """`2026-11-23T10:15:00.455Z`: UTC, always three fractional digits, never naive."""
    if value is None:
        return None
    if value.tzinfo is None:
        # Temporal and our stores hand out aware times; a naive one here is UTC by construction.
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ms_to_rfc3339(ms: int | None) -> str | None:
    """Epoch milliseconds (how the resume store keeps times) as `rfc3339_ms` writes them."""
    if ms is None:
        return None
    return rfc3339_ms(datetime.fromtimestamp(ms / 1000, tz=UTC))


def us_to_rfc3339_ms(us: int | None) -> str | None:
    """Epoch microseconds (how the trigger store keeps times) as `rfc3339_ms` writes them: a
    trigger's deadline shown on the runs API (`waits`), not on the event triggers API."""
    return ms_to_rfc3339(us // 1000) if us else None


def us_to_rfc3339(us: int | None) -> str | None:
    """`2026-11-23T10:15:00.455405Z`: the event triggers API's times and cursors (see above)."""
    if not us:
        return None
    seconds, micros = divmod(us, 1_000_000)
    # Integer arithmetic: a float of today's epoch microseconds is exact only to ~0.2 µs, and a
    # cursor that came back one microsecond off would skip or repeat an item.
    moment = datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=micros)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")
