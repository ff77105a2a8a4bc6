"""Where a token keeps the user, the project and the permissions (`SIGNALWAY_JWT_*_CLAIM`).

Identity providers put them in different places: a top-level claim (`project`), a nested
one (Keycloak's `org.id`), or a namespaced one whose name is a URL full of dots (Auth0's
`https://example.com/project`). A configured claim is looked up as a whole name first, then
as a dotted path, trying the longest name at each level, so a namespaced claim can also be
walked into (`https://example.com/org.id`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def claim_at(claims: Mapping[str, Any], path: str) -> Any:
    """The value at `path` in `claims`; None when there is none (or it is JSON null)."""
    if path in claims:
        return claims[path]
    return _walk(claims, path.split("."))


def _walk(node: Any, parts: list[str]) -> Any:
    if not isinstance(node, Mapping):
        return None
    # Longest key first: `a.b` as one name wins over `a` then `b`, as with the whole name.
    for cut in range(len(parts), 0, -1):
        key = ".".join(parts[:cut])
        if key not in node:
            continue
        found = node[key] if cut == len(parts) else _walk(node[key], parts[cut:])
        if found is not None:
            return found
    return None


def permissions_of(value: Any) -> frozenset[str] | None:
    """Permissions from a list of strings or a space-separated string (an OAuth `scope`);
    none for a missing claim; None when the value is neither."""
    if value is None:
        return frozenset()
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list) and all(isinstance(p, str) for p in value):
        return frozenset(value)
    return None
