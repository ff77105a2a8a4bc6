"""What the gateway measures beyond requests, and the HTTP span of a traced request.

Metrics live in the app's one registry (`Metrics.registry`, served at `/metrics`), with labels
of low cardinality only: route templates, status codes, Redis command names, Temporal
operation names, outcomes — never a run id, a user or a key. Gauges that only count
(in-flight requests, open streams) are read at scrape time from what the gateway already
keeps, so a request pays nothing for them.

Tracing (`signalway.tracing`) adds one SERVER span per request, a child of the caller's
`traceparent` when it sends one; the Temporal SDK's interceptor makes its client spans
children of it. Off, none of this module's tracing code runs.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import Scope

from signalway.redaction import redact

if TYPE_CHECKING:
    from contextvars import Token

    from opentelemetry.context import Context
    from opentelemetry.trace import Span, Tracer

# Backend calls are milliseconds when healthy; the top buckets show a stall before the
# request deadline (10 s by default) cuts it.
BACKEND_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Publish → relayed is sub-millisecond on one host; seconds mean a stalled subscription.
RELAY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# How a resume-URL call ended (`signalway_resume_outcomes_total{outcome}`).
# (A call refused by the per-address rate limit never reaches the resume: see the 429s.)
RESUME_OUTCOMES = ("resumed", "already", "conflict", "gone", "unknown", "invalid", "error")


class GatewayTelemetry:
    """The gateway's operational metrics, registered in the app's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.in_flight = Gauge(
            "signalway_http_requests_in_flight", "Requests received whose response has not started yet.",
            registry=registry)
        self.streams_open = Gauge(
            "signalway_sse_streams_open", "Open SSE streams (run updates and trigger status) on this process.",
            registry=registry)
        self.streams_dropped = Counter(
            "signalway_sse_streams_dropped", "SSE streams cut because their client fell more than "
            "SIGNALWAY_STREAM_BUFFER messages behind (it resumes with Last-Event-ID).", registry=registry)
        self.relay_lag = Histogram(
            "signalway_relay_lag_seconds", "Time from a progress update's publish (its timestamp) to its "
            "relay to this process's streams.", buckets=RELAY_BUCKETS, registry=registry)
        self.trigger_transitions = Counter(
            "signalway_trigger_transitions", "Event triggers entering a status through this gateway "
            "(received, canceled); the worker counts waiting, timed_out and early receipts.", ["to"],
            registry=registry)
        self.early_events = Counter(
            "signalway_early_events_held", "Events held because no trigger waited for their key yet.",
            registry=registry)
        self.resume_outcomes = Counter(
            "signalway_resume_outcomes", "Resume-URL calls by outcome: " + ", ".join(RESUME_OUTCOMES) + ".",
            ["outcome"], registry=registry)
        self.redis_latency = Histogram(
            "signalway_redis_command_duration_seconds", "Redis commands sent by the gateway, by command.",
            ["command"], buckets=BACKEND_BUCKETS, registry=registry)
        self.redis_errors = Counter(
            "signalway_redis_command_errors", "Redis commands that failed, by command and error "
            "(timeout, connection, response).", ["command", "error"], registry=registry)
        self.temporal_latency = Histogram(
            "signalway_temporal_call_duration_seconds", "Temporal calls made by the gateway, by operation.",
            ["operation"], buckets=BACKEND_BUCKETS, registry=registry)
        self.temporal_errors = Counter(
            "signalway_temporal_call_errors", "Temporal calls that failed, by operation and gRPC status "
            "(NOT_FOUND is a normal answer for a missing run).", ["operation", "code"], registry=registry)
        # Pre-created: a series that exists from the start reads as 0 in PromQL, not "no data".
        for outcome in RESUME_OUTCOMES:
            self.resume_outcomes.labels(outcome)
        for to in ("received", "canceled"):
            self.trigger_transitions.labels(to)
        self._redis: dict[str, Any] = {}
        self._temporal: dict[str, Any] = {}

    # Children are looked up once per label value: labels() takes a lock on every call.

    def redis_command(self, command: str, seconds: float, error: str | None) -> None:
        child = self._redis.get(command)
        if child is None:
            child = self._redis[command] = self.redis_latency.labels(command)
        child.observe(seconds)
        if error is not None:
            self.redis_errors.labels(command, error).inc()

    def temporal_call(self, operation: str, seconds: float, error: str | None) -> None:
        child = self._temporal.get(operation)
        if child is None:
            child = self._temporal[operation] = self.temporal_latency.labels(operation)
        child.observe(seconds)
        if error is not None:
            self.temporal_errors.labels(operation, error).inc()

    def relayed(self, timestamp_ms: int) -> None:
        # The timestamp is the publisher's clock: skew between hosts can make it look early.
        self.relay_lag.observe(max(time.time() - timestamp_ms / 1000, 0.0))

    def stream_dropped(self) -> None:
        self.streams_dropped.inc()

    def trigger(self, to: str) -> None:
        self.trigger_transitions.labels(to).inc()

    def early_event_held(self) -> None:
        self.early_events.inc()

    def resume_outcome(self, outcome: str) -> None:
        self.resume_outcomes.labels(outcome).inc()


# -- the request's span ------------------------------------------------------------------------


class HttpSpans:
    """Starts and ends the SERVER span of each request; built only when tracing is on."""

    def __init__(self, tracer: Tracer) -> None:
        from opentelemetry import context, propagate, trace
        from opentelemetry.trace import SpanKind, Status, StatusCode

        self._tracer = tracer
        self._context, self._propagate, self._trace = context, propagate, trace
        self._kind, self._status, self._error = SpanKind.SERVER, Status, StatusCode.ERROR

    def start(self, scope: Scope, headers: Any, request_id: str) -> tuple[Span, Token[Context], str | None]:
        """The span (current from here on), the token to detach it with, and its trace id."""
        parent: Context = self._propagate.extract(headers)
        method = scope["method"]
        span = self._tracer.start_span(method, context=parent, kind=self._kind, attributes={
            "http.request.method": method,
            # Redacted: a resume URL's path is its capability.
            "url.path": redact(scope["path"]),
            "signalway.request_id": request_id,
        })
        token = self._context.attach(self._trace.set_span_in_context(span, parent))
        context = span.get_span_context()
        return span, token, format(context.trace_id, "032x") if context.is_valid else None

    def end(self, span: Span, token: Token[Context], method: str, route: str, status: int) -> None:
        # Named once the router has matched: the route template, never the raw path.
        span.update_name(f"{method} {route}")
        span.set_attribute("http.route", route)
        span.set_attribute("http.response.status_code", status)
        if status >= 500:
            span.set_status(self._status(self._error))
        span.end()
        self._context.detach(token)
