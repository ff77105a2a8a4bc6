"""Secrets out of log lines: `redact(text)` and a `logging.Filter` that applies it to every record.

What counts as a secret in text the gateway might log:

- a resume-URL token (`/public/send-user-signal/<token>`): the URL is a capability;
- an `access_token=` query value (SSE clients put their JWT there);
- a Bearer credential, or whatever follows an `Authorization` header name (API keys too);
- the password of a URL (`redis://:<password>@host`).

A line with nothing to hide costs a lowercase copy and a few substring tests (under a
microsecond); only a line holding one of the markers goes through the regex.
"""

from __future__ import annotations

import logging
import re

from signalway.resume import PATH_PREFIX

REDACTED = "<redacted>"

_SECRET = re.compile(
    # The token runs to the next path, query or fragment delimiter (or the end of a quoted string).
    rf"(?P<resume>{re.escape(PATH_PREFIX)})[^/?#\s\"'<>]+"
    r"|(?P<query>access_token=)[^&#\s\"'<>]+"
    # A header as text (`Authorization: x`), in a dict/JSON repr (`'authorization': 'x'`) or in
    # an ASGI header tuple (`(b'authorization', b'x')`): the whole value, whatever its scheme.
    r"|(?P<header>authorization(?:[\"']?[ \t]*[:=][ \t]*|[\"'],[ \t]*)(?:b?[\"'])?)[^\r\n\"']+"
    r"|(?P<bearer>\bbearer[ \t]+)[^\s\"',;]+"
    r"|(?P<userinfo>://[^/\s:@]*:)[^/\s@]+(?=@)",
    re.IGNORECASE,
)
# Each alternative above needs one of these (lowercase) substrings; scanning for them is far
# cheaper than the case-insensitive alternation, and almost every line has none.
_MARKERS = (PATH_PREFIX.lower(), "access_token=", "authorization", "bearer", "@")


def _keep_prefix(match: re.Match[str]) -> str:
    # Every alternative has exactly one named group, the part that stays readable.
    return match.group(match.lastgroup or 0) + REDACTED


def redact(text: str) -> str:
    """`text` with resume tokens, access tokens, credentials and URL passwords replaced."""
    lowered = text.lower()
    if not any(marker in lowered for marker in _MARKERS):
        return text
    return _SECRET.sub(_keep_prefix, text)


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (and traceback) through `redact`.

    Installed on the handler, not on a logger, so records of every logger that reach it
    (uvicorn's included) are covered.
    """

    # Only its formatException is used: it renders a traceback the same way any Formatter would.
    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        # Merged here so a secret passed as an argument is caught; args are cleared so the
        # formatter does not merge them a second time.
        record.msg, record.args = redact(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
