"""One way every process logs: plain text for a terminal (`make dev`), or one JSON object per line.

`SIGNALWAY_LOG_FORMAT=json` (the container image's default) writes each record as one line:

    {"time": "2025-01-01T12:00:00.123Z", "level": "INFO", "logger": "signalway.access",
     "message": "POST /api/v1/... 200 12.3ms", "request_id": "...", "trace_id": "...", ...}

The fields beyond time, level, logger and message are those the handler's filters put on the
record (request id, trace id, project, workflow and run id, route, status, duration) and the
Temporal SDK's own workflow/activity details; a field that is not known is left out. Every
record passes through the redacting filter first, in both formats, so no secret reaches either.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from signalway import tracing
from signalway.redaction import RedactingFilter

LogFormat = Literal["text", "json"]

# `[<request id>]`, or `[<request id> trace=<trace id>]` with tracing on (`-` outside a request).
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(ids)s] %(message)s"

# Record attributes copied into a JSON line when a filter (or `extra=`) set them.
FIELDS = ("request_id", "trace_id", "span_id", "project", "workflow_id", "run_id", "route", "method",
          "status", "duration_ms", "activity_type", "attempt")


class TraceContextFilter(logging.Filter):
    """Puts the current span's trace and span ids on records that have none (worker activities,
    background tasks). Installed only when tracing is on."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "trace_id", None) is None:
            ids = tracing.current_ids()
            if ids is not None:
                record.trace_id, record.span_id = ids
        return True


class TextIdsFilter(logging.Filter):
    """The text format's `[...]`: the request id (`-` outside a request), and the trace id."""

    def filter(self, record: logging.LogRecord) -> bool:
        ids = getattr(record, "request_id", "-")
        trace_id = getattr(record, "trace_id", None)
        record.ids = f"{ids} trace={trace_id}" if trace_id else ids
        return True


def _temporal_details(record: logging.LogRecord) -> Mapping[str, Any]:
    # The SDK's loggers put these on `extra`: the run behind an activity's or workflow's line.
    details = getattr(record, "temporal_activity", None) or getattr(record, "temporal_workflow", None)
    return details if isinstance(details, Mapping) else {}


def _escape_table(keep_newline: bool) -> dict[int, str]:
    """Every character that can end or rewrite a line (C0 and C1 controls, DEL, U+2028/9)."""
    table: dict[int, str] = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
    table.update({0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x2028: "\\u2028", 0x2029: "\\u2029"})
    if keep_newline:
        del table[0x0A]
    return table


_ESCAPE = _escape_table(keep_newline=False)
_ESCAPE_MULTILINE = _escape_table(keep_newline=True)
# What JSON may hold raw inside a string but a line-oriented reader would split on.
_JSON_LINE_BREAKS = {c: f"\\u{c:04x}" for c in (0x7F, *range(0x80, 0xA0), 0x2028, 0x2029)}


def escape_controls(text: str) -> str:
    """`text` on one line: control characters written as escapes (`\\n`, `\\x1b`, ...)."""
    return text.translate(_ESCAPE)


def _indented(text: str) -> str:
    """A traceback's lines, each indented under its record's line: none can pass for a record."""
    return "    " + text.translate(_ESCAPE_MULTILINE).replace("\n", "\n    ")


class TextFormatter(logging.Formatter):
    """The text format, one record per line: a client controls much of what is logged (paths,
    header values, signal names, keys), so control characters in the message are escaped, and
    a traceback's lines are indented; no client can start a line that looks like a record."""

    def format(self, record: logging.LogRecord) -> str:
        saved = record.msg, record.args, record.exc_text, record.stack_info
        record.msg, record.args = escape_controls(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = _indented(record.exc_text)
        if record.stack_info:
            record.stack_info = _indented(record.stack_info)
        try:
            return super().format(record)
        finally:
            record.msg, record.args, record.exc_text, record.stack_info = saved


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines in a message or traceback are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None and value != "-":
                line[name] = value
        temporal = _temporal_details(record)
        if temporal:
            line.setdefault("workflow_id", temporal.get("workflow_id"))
            line.setdefault("run_id", temporal.get("run_id") or temporal.get("workflow_run_id"))
            for name in ("activity_type", "workflow_type", "attempt"):
                if temporal.get(name) is not None:
                    line.setdefault(name, temporal[name])
        # The redacting filter already rendered (and cleaned) the traceback into exc_text.
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        # json.dumps escapes C0 controls; DEL, C1 and U+2028/9 are valid raw in JSON but split
        # lines for line-oriented readers, so they are escaped too (the value is unchanged).
        return json.dumps(line, default=str, ensure_ascii=False, separators=(",", ":")).translate(_JSON_LINE_BREAKS)


def handler(log_format: LogFormat, filters: Sequence[logging.Filter] = ()) -> logging.Handler:
    """A stderr handler: `filters` first (they add context), then trace ids, then redaction."""
    out = logging.StreamHandler()
    for extra in filters:
        out.addFilter(extra)
    if tracing.enabled():
        out.addFilter(TraceContextFilter())
    if log_format == "text":
        out.addFilter(TextIdsFilter())
    # On the handler, so every record printed passes through it, whichever logger made it.
    out.addFilter(RedactingFilter())
    out.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter(TEXT_FORMAT))
    return out


def configure(level: str, log_format: LogFormat, filters: Sequence[logging.Filter] = ()) -> None:
    """Route every logger's records to one handler in `log_format`."""
    logging.basicConfig(level=level, handlers=[handler(log_format, filters)], force=True)
    # httpx logs every request's full URL at INFO: a webhook URL is often a credential itself
    # (a chat service's incoming-webhook path), which no pattern can tell from a plain path.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))
    if log_format == "json":
        # The run's details go in fields of their own rather than appended to the message text.
        import temporalio.activity
        import temporalio.workflow

        temporalio.activity.logger.activity_info_on_message = False
        temporalio.workflow.logger.workflow_info_on_message = False
