"""Plain ASGI middleware (never BaseHTTPMiddleware: it breaks contextvars and streaming)."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import hashlib
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.datastructures import Headers, MutableHeaders, QueryParams
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from signalway.gateway.errors import (
    BackendUnavailable,
    OutcomeUnknown,
    Overloaded,
    PayloadTooLarge,
    Problem,
    RateLimited,
    RequestHeaderFieldsTooLarge,
    render,
)
from signalway.gateway.telemetry import GatewayTelemetry, HttpSpans
from signalway.redaction import redact

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

# The scope of the request being handled: the log filter reads its ids, route and run from it.
request_scope_var: contextvars.ContextVar[Scope | None] = contextvars.ContextVar("request_scope", default=None)
log = logging.getLogger("signalway.access")

REQUEST_ID = "signalway.request_id"
TRACE_ID = "signalway.trace_id"
PROJECT = "signalway.project"  # set by `deps.principal` once the caller is known
# Probes and scrapes, every few seconds from every orchestrator: a trace each would bury the
# requests worth following.
_UNTRACED = frozenset({"/healthz", "/readyz", "/metrics"})
# Path parameters that name a run; no other is logged (a resume URL's token is a path parameter).
_RUN_PARAMS = ("workflow_id", "run_id")


class RequestContextFilter(logging.Filter):
    """Adds the request's id, trace id, project, route and run ids to every record logged while
    it is handled, so the lines of one request (and its trace) can be joined."""

    def filter(self, record: logging.LogRecord) -> bool:
        scope = request_scope_var.get()
        if scope is None:
            return True
        record.request_id = scope.get(REQUEST_ID, "-")
        if TRACE_ID in scope:
            record.trace_id = scope[TRACE_ID]
        if PROJECT in scope:
            record.project = scope[PROJECT]
        route = scope.get("route")
        if route is not None and not hasattr(record, "route"):
            record.route = getattr(route, "path_format", None)
        params = scope.get("path_params") or {}
        for name in _RUN_PARAMS:
            if name in params:
                setattr(record, name, params[name])
        return True


class Metrics:
    def __init__(self) -> None:
        # One registry per app: several apps (tests) never share counters.
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "signalway_http_requests", "HTTP requests handled.", ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "signalway_http_request_duration_seconds", "Time to the response start.", ["method", "route"],
            registry=self.registry,
        )
        self._shed = Counter(
            "signalway_http_shed_requests", "Requests shed by admission control, by reason "
            "(overloaded, rate_limited, timed_out).", ["reason"], registry=self.registry,
        )
        # labels() looks its child up under a lock on every call; the set of routes is small.
        self._counters: dict[tuple[str, str, str], Any] = {}
        self._timers: dict[tuple[str, str], Any] = {}

    def shed(self, reason: str) -> None:
        """A request answered by admission control without being worked on (or cut at its deadline)."""
        self._shed.labels(reason).inc()

    def count(self, method: str, route: str, status: str) -> None:
        key = (method, route, status)
        child = self._counters.get(key)
        if child is None:
            child = self._counters[key] = self.requests.labels(method, route, status)
        child.inc()

    def observe(self, method: str, route: str, seconds: float) -> None:
        key = (method, route)
        child = self._timers.get(key)
        if child is None:
            child = self._timers[key] = self.latency.labels(method, route)
        child.observe(seconds)


class RequestContextMiddleware:
    """Request id (X-Request-ID in and out), metrics per route template, access log, and with
    tracing on the request's SERVER span (its trace id in X-Trace-ID and in the request's logs)."""

    def __init__(self, app: ASGIApp, metrics: Metrics, access_log: bool = False,
                 telemetry: GatewayTelemetry | None = None, tracer: Tracer | None = None) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log
        # Requests whose response has not started: an int kept here, read by the gauge at scrape time.
        self.in_flight = 0
        if telemetry is not None:
            telemetry.in_flight.set_function(lambda: self.in_flight)
        self.spans = HttpSpans(tracer) if tracer is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        incoming = headers.get("x-request-id", "")
        request_id = incoming if 0 < len(incoming) <= 128 and incoming.isprintable() else uuid.uuid4().hex
        scope[REQUEST_ID] = request_id
        token = request_scope_var.set(scope)
        started = time.perf_counter()
        status = 500
        responding = False
        self.in_flight += 1
        span = span_token = trace_id = None
        if self.spans is not None and scope["path"] not in _UNTRACED:
            span, span_token, trace_id = self.spans.start(scope, headers, request_id)
            if trace_id is not None:
                scope[TRACE_ID] = trace_id

        async def send_wrapper(message: Message) -> None:
            nonlocal status, responding
            if message["type"] == "http.response.start":
                status = message["status"]
                responding = True
                self.in_flight -= 1
                response_headers = MutableHeaders(scope=message)
                response_headers.append("X-Request-ID", request_id)
                # No answer is to be sniffed into another type (a problem echoing a client's
                # input included), and none is cached unless it says so itself (the static
                # docs assets do): answers carry private data and capabilities.
                if "x-content-type-options" not in response_headers:
                    response_headers.append("X-Content-Type-Options", "nosniff")
                if "cache-control" not in response_headers:
                    response_headers.append("Cache-Control", "no-store")
                if trace_id is not None:
                    response_headers.append("X-Trace-ID", trace_id)
                route = _route_template(scope)
                self.metrics.observe(scope["method"], route, time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            if not responding:
                self.in_flight -= 1
            route = _route_template(scope)
            self.metrics.count(scope["method"], route, str(status))
            if self.access_log:
                elapsed_ms = (time.perf_counter() - started) * 1000
                # Redacted here too, not only by the handler's filter: a resume URL is a
                # capability, and this line exists for every one of its calls.
                log.info("%s %s %d %.1fms", scope["method"], redact(scope["path"]), status, elapsed_ms,
                         extra={"method": scope["method"], "route": route, "status": status,
                                "duration_ms": round(elapsed_ms, 1)})
            if span is not None and span_token is not None and self.spans is not None:
                self.spans.end(span, span_token, scope["method"], route, status)
            request_scope_var.reset(token)


def _route_template(scope: Scope) -> str:
    route: Any = scope.get("route")
    return getattr(route, "path_format", None) or "<unmatched>"


class RequestLimitsMiddleware:
    """Refuses headers over `max_header_bytes` in all (431) and bodies over `max_body_bytes`
    (413), whether or not Content-Length is sent, before any slot or handler is spent on them.

    uvicorn's default parser (httptools) sets no header limit of its own, so without this a
    request with megabytes of headers would be served.
    """

    def __init__(self, app: ASGIApp, max_header_bytes: int, max_body_bytes: int) -> None:
        self.app = app
        self.max_header_bytes = max_header_bytes
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # As on the wire: name, ": ", value, CRLF.
        size = sum(len(name) + len(value) + 4 for name, value in scope["headers"])
        if size > self.max_header_bytes:
            problem = RequestHeaderFieldsTooLarge(
                f"Request headers are limited to {self.max_header_bytes} bytes in all.")
            await render(problem, scope["path"])(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            await render(self._too_large(), scope["path"])(scope, receive, send)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:
                    # Raised inside the endpoint's body read: the exception handlers render it.
                    raise self._too_large()
            return message

        await self.app(scope, limited_receive, send)

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"Request bodies are limited to {self.max_body_bytes} bytes.")


class AdmissionMiddleware:
    """Bounds the work of one gateway process, and how long any request may wait.

    At most `max_in_flight` requests are worked on at once; up to `max_queued` more wait at
    most `queue_timeout` for a slot; anything beyond is shed at once with 503 `overloaded`
    (nothing was sent to a backend). One credential (or one client address, without one)
    may hold at most `per_principal` slots: past it, 429 `rate_limited`. A slot is held until
    the response starts, so a long SSE stream does not keep one.

    No request waits longer than `request_timeout` for its response to start: past it, a
    read answers 503 and a write 504 `outcome_unknown`, since a call to Temporal or Redis may
    already have acted (a retry with the same Idempotency-Key is safe and tells).

    The deadline is one timer per request that cancels the request's own task if the
    response has not started by then (what `asyncio.timeout` does), not a second task and a
    waiter per request: those cost more loop work than the rest of a cached signal's path.
    """

    def __init__(self, app: ASGIApp, *, max_in_flight: int, max_queued: int, queue_timeout: float,
                 per_principal: int, request_timeout: float, metrics: Metrics,
                 exempt: tuple[str, ...] = ("/healthz", "/readyz", "/metrics")) -> None:
        self.app = app
        self._slots = asyncio.Semaphore(max_in_flight)
        self._max_queued = max_queued
        self._queue_timeout = queue_timeout
        self._per_principal = per_principal
        self._request_timeout = request_timeout
        self._exempt = frozenset(exempt)
        self._waiting = 0
        self._held: dict[str, int] = {}
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self._exempt:
            await self.app(scope, receive, send)
            return
        who = _credential(scope)
        held = self._held
        if held.get(who, 0) >= self._per_principal:
            self._metrics.shed("rate_limited")
            problem = RateLimited(f"At most {self._per_principal} requests of one caller are worked on at once; "
                                  "retry shortly.", retry_after_seconds=1)
            await render(problem, scope["path"])(scope, receive, send)
            return
        if not await self._admit():
            self._metrics.shed("overloaded")
            await render(Overloaded("This gateway is at its bound of requests in flight; retry shortly.",
                                    retry_after_seconds=1), scope["path"])(scope, receive, send)
            return
        held[who] = held.get(who, 0) + 1
        released = started = timed_out = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._slots.release()
                left = held[who] - 1
                if left:
                    held[who] = left
                else:
                    del held[who]

        task = asyncio.current_task()
        assert task is not None  # an ASGI server runs each request in a task

        def expire() -> None:
            nonlocal timed_out
            if not started:
                timed_out = True
                task.cancel()

        timer = asyncio.get_running_loop().call_later(self._request_timeout, expire)

        async def send_started(message: Message) -> None:
            nonlocal started
            if not started and message["type"] == "http.response.start":
                started = True
                timer.cancel()  # no deadline on the body: a stream may run for hours
                release()  # the backend work behind the answer is done; a stream keeps no slot
            await send(message)

        try:
            try:
                await self.app(scope, receive, send_started)
            except asyncio.CancelledError:
                # Ours only when our timer fired and nobody else cancelled the task as well.
                if not timed_out or task.uncancel() > 0:
                    raise
            else:
                if timed_out:
                    task.uncancel()  # the handler swallowed our cancellation; the count must not leak
            if timed_out and not started:
                self._metrics.shed("timed_out")
                await render(self._timed_out(scope["method"]), scope["path"])(scope, receive, send)
        finally:
            timer.cancel()
            release()

    async def _admit(self) -> bool:
        if not self._slots.locked():
            await self._slots.acquire()
            return True
        if self._waiting >= self._max_queued or self._queue_timeout <= 0:
            return False
        self._waiting += 1
        try:
            await asyncio.wait_for(self._slots.acquire(), self._queue_timeout)
            return True
        except TimeoutError:
            return False
        finally:
            self._waiting -= 1

    def _timed_out(self, method: str) -> Problem:
        if method in ("GET", "HEAD", "OPTIONS"):
            return BackendUnavailable(f"No answer within {self._request_timeout:g}s; retry shortly.",
                                      retry_after_seconds=1)
        return OutcomeUnknown(f"No answer within {self._request_timeout:g}s: the request may have acted. "
                              "Retry with the same Idempotency-Key to act at most once and learn the outcome.")


@functools.lru_cache(maxsize=4096)
def _digest(credential: bytes) -> str:
    # Cached: a client sends the same credential on every request, and a cached digest is a
    # dict lookup; the cache holds digests of at most 4,096 recent credentials.
    return hashlib.blake2b(credential, digest_size=12).hexdigest()


def _credential(scope: Scope) -> str:
    """Whose request this is, for the per-caller bound: a digest of its credential, else its address.

    The credential is normalised as authentication reads it, so one caller is one caller
    however it spells the header: the scheme in any case, any whitespace around and between
    (`Bearer T`, `bearer  T`, `BEARER\tT ` are all `T`), and `?access_token=T` is `T` too
    (not the whole query string, which a caller could vary at will)."""
    credential: bytes | None = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            parts = value.split()
            if len(parts) == 2 and parts[0].lower() == b"bearer":
                credential = parts[1]
            else:
                credential = b" ".join(parts)  # an API key alone, or something malformed
            break
    if credential is None and b"access_token=" in scope.get("query_string", b""):
        token = QueryParams(scope["query_string"]).get("access_token")
        credential = token.strip().encode() if token else None
    if credential:
        return _digest(credential)
    client = scope.get("client")
    return f"addr:{client[0]}" if client else "addr:unknown"
