"""Content negotiation for the few routes that answer both people (HTML) and programs (JSON)."""

from __future__ import annotations

import math

from starlette.requests import Request

_HTML = ("text/html", "application/xhtml+xml")
_JSON = ("application/json", "application/problem+json")


def _quality(accept: str, types: tuple[str, ...]) -> float:
    """The highest `q` the Accept header gives any of `types` by name (`*/*` names none)."""
    best = 0.0
    for part in accept.split(","):
        media, _, params = part.strip().partition(";")
        if media.strip().lower() not in types:
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        best = max(best, q if math.isfinite(q) else 0.0)
    return best


def prefers_html(request: Request, *, default: bool) -> bool:
    """Whether the caller ranks HTML above JSON; `default` when it ranks them alike (e.g. `*/*`)."""
    accept = request.headers.get("accept", "")
    html, json = _quality(accept, _HTML), _quality(accept, _JSON)
    return default if html == json else html > json
