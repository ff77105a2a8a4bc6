"""signalway.logging_setup: one JSON object per line, the request's fields, and redaction first."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from signalway.gateway.middleware import (
    PROJECT,
    REQUEST_ID,
    TRACE_ID,
    RequestContextFilter,
    request_scope_var,
)
from signalway.logging_setup import JsonFormatter, handler

TOKEN = "A" * 43


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    out = io.StringIO()
    sink = handler("json", [RequestContextFilter()])
    assert isinstance(sink, logging.StreamHandler)
    sink.setStream(out)
    logger = logging.getLogger("tests.logging_setup")
    logger.addHandler(sink)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield logger, out
    finally:
        logger.removeHandler(sink)


def _lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_record_is_one_json_object_on_one_line(logged: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = logged
    try:
        raise ValueError("two\nlines")
    except ValueError:
        logger.exception("failed:\n%s", "more")
    [line] = _lines(out)
    assert out.getvalue().count("\n") == 1
    assert line["level"] == "ERROR" and line["logger"] == "tests.logging_setup"
    assert line["message"] == "failed:\nmore"
    assert "ValueError: two\nlines" in str(line["exception"])
    assert str(line["time"]).endswith("Z")
    assert "request_id" not in line  # outside a request, the field is left out


def test_a_requests_lines_carry_its_ids_route_and_run(logged: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = logged

    class Route:
        path_format = "/api/v1/workflows/runs/{workflow_id}/{run_id}"

    scope = {REQUEST_ID: "req-1", TRACE_ID: "ab" * 16, PROJECT: "alpha", "route": Route(),
             "path_params": {"workflow_id": "w-1", "run_id": "r-1", "signal_id": TOKEN}}
    token = request_scope_var.set(scope)
    try:
        logger.info("GET %s 200", "/x", extra={"status": 200, "duration_ms": 1.5})
    finally:
        request_scope_var.reset(token)
    [line] = _lines(out)
    assert {k: line[k] for k in ("request_id", "trace_id", "project", "workflow_id", "run_id", "route", "status",
                                 "duration_ms")} == {
        "request_id": "req-1", "trace_id": "ab" * 16, "project": "alpha", "workflow_id": "w-1", "run_id": "r-1",
        "route": Route.path_format, "status": 200, "duration_ms": 1.5}
    assert TOKEN not in out.getvalue()  # only run ids are taken from the path


def test_secrets_are_redacted_in_json_too(logged: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = logged
    logger.warning("POST /public/send-user-signal/%s with Authorization: Bearer %s", TOKEN, "jwt.value.here")
    try:
        raise RuntimeError(f"redis://:hunter2@cache:6379 refused /public/send-user-signal/{TOKEN}")
    except RuntimeError:
        logger.exception("boom")
    text = out.getvalue()
    for secret in (TOKEN, "jwt.value.here", "hunter2"):
        assert secret not in text
    assert "<redacted>" in text


def test_the_temporal_sdks_run_details_become_fields() -> None:
    record = logging.LogRecord("temporalio.activity", logging.INFO, __file__, 1, "delivered", None, None)
    record.temporal_activity = {"workflow_id": "w", "workflow_run_id": "r", "activity_type": "deliverWebhook",
                                "attempt": 2}
    line = json.loads(JsonFormatter().format(record))
    assert (line["workflow_id"], line["run_id"], line["activity_type"], line["attempt"]) == ("w", "r",
                                                                                           "deliverWebhook", 2)


def test_text_names_the_request_and_its_trace() -> None:
    sink = handler("text", [RequestContextFilter()])
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    assert sink.filter(record)
    assert sink.format(record).endswith(" INFO x [-] hello")
    token = request_scope_var.set({REQUEST_ID: "req-1", TRACE_ID: "ab" * 16})
    try:
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
        assert sink.filter(record)
    finally:
        request_scope_var.reset(token)
    assert sink.format(record).endswith(f" INFO x [req-1 trace={'ab' * 16}] hello")


FORGED = ("GET /nope\n2026-12-07 14:30:00,000 INFO signalway.access [-] POST /api/v1/FORGED 200 1.0ms"
          "\r\x1b[2K\x85\u2028\u2029\x7f")


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_control_characters_a_client_sent_cannot_start_a_line(log_format: str) -> None:
    out = io.StringIO()
    sink = handler(log_format)  # type: ignore[arg-type]
    assert isinstance(sink, logging.StreamHandler)
    sink.setStream(out)
    logger = logging.getLogger(f"tests.forged.{log_format}")
    logger.addHandler(sink)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        logger.info("%s %s %d", "GET", FORGED, 404)
        try:
            raise ValueError(FORGED)
        except ValueError:
            logger.exception("failed on %s", FORGED)
    finally:
        logger.removeHandler(sink)
    text = out.getvalue()
    assert not any(c in text for c in "\r\x1b\x85\u2028\u2029\x7f"), repr(text)
    lines = text.splitlines()  # splits on every line boundary Python knows, \x85 and \u2028 included
    assert not any(line.startswith("2026-12-07 14:30:00,000") for line in lines), lines
    if log_format == "json":
        records = [json.loads(line) for line in lines]
        assert len(records) == 2
        assert records[0]["message"] == f"GET {FORGED} 404"  # the value itself, escaped only on the wire
        assert FORGED in records[1]["exception"]
    else:
        # The record's line, and a traceback whose every line is indented under it.
        assert lines[0].endswith("FORGED 200 1.0ms\\r\\x1b[2K\\x85\\u2028\\u2029\\x7f 404"), lines[0]
        assert all(line.startswith("    ") for line in lines[2:]), lines
