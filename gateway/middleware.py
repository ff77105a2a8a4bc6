"""Plain ASGI middleware (never BaseHTTPMiddleware: it breaks contextvars and streaming)."""

from __future__ import annotations

import contextvars
import logging
import time
import uuid
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import PayloadTooLarge, RequestHeaderFieldsTooLarge, render
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
        # labels() looks its child up under a lock on every call; the set of routes is small.
        self._counters: dict[tuple[str, str, str], Any] = {}
        self._timers: dict[tuple[str, str], Any] = {}

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
