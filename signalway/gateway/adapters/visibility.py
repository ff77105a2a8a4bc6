"""Building Temporal visibility queries from trusted parts only."""

from __future__ import annotations

import re

from temporalio.common import SearchAttributeKey

from signalway.gateway.errors import BadRequest

# Values we put between quotes: no quote or backslash can ever reach the query parser.
_SAFE_VALUE = re.compile(r"^[^'\"\\\x00-\x1f]{1,1000}$")


def literal(value: str) -> str:
    if not _SAFE_VALUE.match(value):
        raise BadRequest(f"Value {value!r} contains characters not allowed in a filter.")
    return f"'{value}'"


def equals(key: SearchAttributeKey[str] | str, value: str) -> str:
    name = key if isinstance(key, str) else key.name
    return f"{name} = {literal(value)}"


def all_of(*clauses: str) -> str:
    return " AND ".join(f"({c})" if " OR " in c else c for c in clauses if c)


# Status names clients send (any case) → Temporal's ExecutionStatus values.
EXECUTION_STATUS: dict[str, str] = {
    "running": "Running",
    "completed": "Completed",
    "failed": "Failed",
    "cancelled": "Canceled",
    "canceled": "Canceled",
    "terminated": "Terminated",
    "timed_out": "TimedOut",
    "continued_as_new": "ContinuedAsNew",
}
