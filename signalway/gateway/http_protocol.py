"""The gateway's HTTP/1.1 protocol: uvicorn's httptools protocol with a guard on request heads.

uvicorn bounds neither how long a client may take to send a request's head nor, with
httptools, how many bytes of it are kept while it arrives (h11's
`h11_max_incomplete_event_size` bounds the second, nothing the first). So a client trickling
a header line every few seconds held its connection for ever, and one sending hundreds of
megabytes of headers or request line made the gateway buffer them all before any limit
applied. This protocol adds, per connection:

- a **head timeout** (`SIGNALWAY_HEADER_TIMEOUT_SECONDS`): from the connection's start, and
  from the end of each response on a kept-alive connection, the next request's head must be
  complete within it, else the connection is closed (`408`, then close);
- a **byte cap on the head while it is read**: the request line is at most
  `SIGNALWAY_MAX_REQUEST_LINE_BYTES` (`414`), and no more than the request line's cap plus
  twice `SIGNALWAY_MAX_HEADER_BYTES` of a head is ever handed to the parser (`431`). Heads
  over `SIGNALWAY_MAX_HEADER_BYTES` but under the cap reach the app, which answers its
  `431` problem with a request id (`gateway.middleware.RequestLimitsMiddleware`); the cap
  here is what a flood costs at most.

The refusals are problem+json, like every other answer of the gateway, and close the
connection. Bodies are not affected (`SIGNALWAY_MAX_BODY_BYTES` bounds those in the app).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, ClassVar

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from signalway.gateway.errors import PROBLEM_CONTENT_TYPE


class _Refused(Exception):
    """Raised from a parser callback: stop parsing; the refusal is already recorded."""


_REASONS = {408: "Request Timeout", 414: "URI Too Long", 431: "Request Header Fields Too Large"}
_CODES = {408: "request_timeout", 414: "uri_too_long", 431: "request_header_fields_too_large"}


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` with a head timeout and a head byte cap (module docstring).

    The limits are class attributes set once per process by `configure` (uvicorn builds a
    protocol per connection from the class, in every `--workers` process)."""

    header_timeout: ClassVar[float] = 10.0
    max_request_line_bytes: ClassVar[int] = 32768
    max_head_bytes: ClassVar[int] = 32768 + 2 * 32768

    @classmethod
    def configure(cls, *, header_timeout: float, max_header_bytes: int, max_request_line_bytes: int) -> None:
        cls.header_timeout = header_timeout
        cls.max_request_line_bytes = max_request_line_bytes
        cls.max_head_bytes = max_request_line_bytes + 2 * max_header_bytes

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reading_head = True
        self._head_bytes = 0
        self._refusal: tuple[int, str] | None = None
        self._head_timer: asyncio.TimerHandle | None = None

    # -- the head timer --------------------------------------------------------------------

    def _arm_head_timer(self) -> None:
        self._disarm_head_timer()
        self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._reading_head and not self.transport.is_closing():
            self._refuse(408, f"The request's head was not complete within {self.header_timeout:g}s.")

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # The next request's head starts now (a pipelined one may already be in the works).
        if self._reading_head and not self.transport.is_closing() and (self.cycle is None or self.cycle.response_complete):
            self._arm_head_timer()

    # -- the head byte cap -----------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_head = True

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.max_request_line_bytes:
            self._refusal = (414, f"The request target is limited to {self.max_request_line_bytes} bytes.")
            raise _Refused

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._head_bytes = 0
        self._disarm_head_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._reading_head = True  # what follows is the next request's head

    def data_received(self, data: bytes) -> None:
        if not self._reading_head:
            self._feed(data)
            return
        room = self.max_head_bytes - self._head_bytes
        if len(data) <= room:
            self._head_bytes += len(data)
            self._feed(data)
            return
        # Only what fits the cap reaches the parser; the rest is fed only if the head ended.
        self._head_bytes += room
        self._feed(data[:room])
        if self.transport.is_closing():
            return
        if self._reading_head and self._head_bytes >= self.max_head_bytes:
            self._refuse(431, f"A request's head is limited to {self.max_head_bytes} bytes.")
            return
        self.data_received(data[room:])

    def _feed(self, data: bytes) -> None:
        # uvicorn's data_received, but a refusal of ours is answered as such, not as a 400.
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self._refusal is not None:
                self._refuse(*self._refusal)
                return
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()

    def _refuse(self, status: int, detail: str) -> None:
        body = json.dumps({"title": _REASONS[status], "status": status, "detail": detail,
                           "code": _CODES[status]}).encode()
        head = [f"HTTP/1.1 {status} {_REASONS[status]}\r\n".encode()]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [f"content-type: {PROBLEM_CONTENT_TYPE}\r\n".encode(),
                 f"content-length: {len(body)}\r\n".encode(),
                 b"x-content-type-options: nosniff\r\ncache-control: no-store\r\nconnection: close\r\n\r\n", body]
        self._disarm_head_timer()
        self.transport.write(b"".join(head))
        self.transport.close()
        self.logger.info("refused a request's head: %d %s", status, detail)
