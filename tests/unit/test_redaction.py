"""signalway.redaction: what is hidden in log text, and the filter that applies it to records."""

from __future__ import annotations

import io
import logging
import secrets

import pytest
from starlette.requests import Request

from signalway.gateway.errors import BackendUnavailable, problem_handler
from signalway.redaction import REDACTED, RedactingFilter, redact

TOKEN = secrets.token_urlsafe(32)  # 43 characters, like a resume token
RESUME = f"/public/send-user-signal/{TOKEN}"


def test_resume_token_in_a_path_is_redacted() -> None:
    assert redact(f"POST {RESUME} 404 1.2ms") == f"POST /public/send-user-signal/{REDACTED} 404 1.2ms"
    assert redact(f"https://gw.example{RESUME}?x=1") == f"https://gw.example{RESUME[:-43]}{REDACTED}?x=1"


def test_access_token_query_value_is_redacted_and_other_parameters_kept() -> None:
    line = "GET /api/v1/workflows/runs/w/r/stream?access_token=eyJhbGciOi.eyJzdWIi.c2ln&last=3"
    assert redact(line) == f"GET /api/v1/workflows/runs/w/r/stream?access_token={REDACTED}&last=3"


@pytest.mark.parametrize(("text", "expected"), [
    ("Authorization: Bearer eyJ.abc.def", f"Authorization: {REDACTED}"),
    ("authorization: sk_live_123 (api key)", f"authorization: {REDACTED}"),
    ("{'authorization': 'sk_live_123', 'host': 'gw'}", f"{{'authorization': '{REDACTED}', 'host': 'gw'}}"),
    ('{"Authorization": "Bearer x.y.z"}', f'{{"Authorization": "{REDACTED}"}}'),
    ("[(b'authorization', b'sk_live_1'), (b'host', b'gw')]", f"[(b'authorization', b'{REDACTED}'), (b'host', b'gw')]"),
    ("sent bearer eyJ.abc.def upstream", f"sent bearer {REDACTED} upstream"),
])
def test_credentials_are_redacted_whatever_the_shape(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_url_password_is_redacted() -> None:
    assert redact("redis=redis://:hunter2@10.0.0.5:6379/0") == f"redis=redis://:{REDACTED}@10.0.0.5:6379/0"
    # A port is not a password.
    assert redact("redis://u:pw@h/0 http://127.0.0.1:8000/x") == f"redis://u:{REDACTED}@h/0 http://127.0.0.1:8000/x"


def test_text_without_secrets_is_returned_as_is() -> None:
    text = "GET /api/v1/workflows/runs/w/0f8e/updates 200 1.2ms; missing Authorization header"
    assert redact(text) is text


def test_redacting_twice_changes_nothing() -> None:
    once = redact(f"GET {RESUME}?access_token=abc Authorization: Bearer x")
    assert redact(once) == once


def test_filter_redacts_arguments_and_tracebacks() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("tests.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("%s %s -> %d", "POST", RESUME, 503)
        try:
            raise RuntimeError(f"calling {RESUME}")
        except RuntimeError:
            logger.exception("failed with Authorization: %s", "Bearer eyJ.secret.jwt")
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert TOKEN not in output and "eyJ.secret.jwt" not in output
    assert f"POST /public/send-user-signal/{REDACTED} -> 503" in output
    assert f"RuntimeError: calling /public/send-user-signal/{REDACTED}" in output


async def test_problem_handler_logs_a_5xx_without_the_resume_token(caplog: pytest.LogCaptureFixture) -> None:
    # No filter here: the handler's own line must already be clean.
    request = Request({"type": "http", "method": "POST", "path": RESUME, "query_string": b"", "headers": []})
    with caplog.at_level(logging.WARNING, logger="signalway.gateway"):
        response = await problem_handler(request, BackendUnavailable("Redis is unavailable; retry shortly."))
    assert response.status_code == 503
    assert TOKEN not in caplog.text
    assert f"POST /public/send-user-signal/{REDACTED} -> 503 backend_unavailable" in caplog.text
