"""Plain ASGI middleware (never BaseHTTPMiddleware: it breaks contextvars and streaming)."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import logging
import time
import uuid
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import (
    BackendUnavailable,
    OutcomeUnknown,
    Overloaded,
    PayloadTooLarge,
    Problem,
    RateLimited,
    RequestHeaderFieldsTooLarge,
    render,
)
from gateway.redaction import redact

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
log = logging.getLogger("signalway.access")


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every log record, so logs of one request can be joined."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
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
    """Request id (X-Request-ID in and out), metrics per route template, access log."""

    def __init__(self, app: ASGIApp, metrics: Metrics, access_log: bool = False) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get("x-request-id", "")
        request_id = incoming if 0 < len(incoming) <= 128 and incoming.isprintable() else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append("X-Request-ID", request_id)
                route = _route_template(scope)
                self.metrics.observe(scope["method"], route, time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = _route_template(scope)
            self.metrics.count(scope["method"], route, str(status))
            if self.access_log:
                # Redacted here too, not only by the handler's filter: a resume URL is a
                # capability, and this line exists for every one of its calls.
                log.info("%s %s %d %.1fms", scope["method"], redact(scope["path"]), status,
                         (time.perf_counter() - started) * 1000)
            request_id_var.reset(token)


def _route_template(scope: Scope) -> str:
    route: Any = scope.get("route")
    return getattr(route, "path_format", None) or "<unmatched>"


class BodyLimitMiddleware:
    """Refuses bodies over `max_bytes` with a 413 problem, whether or not Content-Length is sent."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await render(self._too_large(), scope["path"])(scope, receive, send)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # Raised inside the endpoint's body read: the exception handlers render it.
                    raise self._too_large()
            return message

        await self.app(scope, limited_receive, send)

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"Request bodies are limited to {self.max_bytes} bytes.")


class HeaderLimitMiddleware:
    """Refuses requests whose headers total over `max_bytes` with a 431 problem.

    uvicorn's default parser (httptools) sets no limit of its own, so without this a
    request with megabytes of headers would be served.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # As on the wire: name, ": ", value, CRLF.
        size = sum(len(name) + len(value) + 4 for name, value in scope["headers"])
        if size > self.max_bytes:
            problem = RequestHeaderFieldsTooLarge(f"Request headers are limited to {self.max_bytes} bytes in all.")
            await render(problem, scope["path"])(scope, receive, send)
            return
        await self.app(scope, receive, send)


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
        self._exempt = exempt
        self._waiting = 0
        self._held: dict[str, int] = {}
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self._exempt:
            await self.app(scope, receive, send)
            return
        who = _credential(scope)
        if self._held.get(who, 0) >= self._per_principal:
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
        self._held[who] = self._held.get(who, 0) + 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._slots.release()
                left = self._held[who] - 1
                if left:
                    self._held[who] = left
                else:
                    del self._held[who]

        started = asyncio.Event()

        async def send_started(message: Message) -> None:
            if message["type"] == "http.response.start":
                started.set()
                release()  # the backend work behind the answer is done; a stream keeps no slot
            await send(message)

        task = asyncio.ensure_future(self.app(scope, receive, send_started))
        waiter = asyncio.ensure_future(started.wait())
        try:
            done, _ = await asyncio.wait({task, waiter}, timeout=self._request_timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if not done:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
                if not started.is_set():
                    self._metrics.shed("timed_out")
                    await render(self._timed_out(scope["method"]), scope["path"])(scope, receive, send)
                return
            await task  # the response started (or the handler finished): no deadline on the body
        finally:
            if not task.done():
                task.cancel()
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


def _credential(scope: Scope) -> str:
    """Whose request this is, for the per-caller bound: a digest of its credential, else its address."""
    headers = Headers(scope=scope)
    credential = headers.get("authorization")
    if credential is None and b"access_token=" in scope.get("query_string", b""):
        credential = scope["query_string"].decode(errors="replace")
    if credential:
        return hashlib.blake2b(credential.encode(errors="replace"), digest_size=12).hexdigest()
    client = scope.get("client")
    return f"addr:{client[0]}" if client else "addr:unknown"
