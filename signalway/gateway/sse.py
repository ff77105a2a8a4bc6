"""A lean Server-Sent Events response for the hot stream route, and the per-process ticker
that keeps every open stream alive, bounded and told about shutdown.

    frames (async iterator of encoded bytes) ──▶ EventStream ──▶ one ASGI send per frame
    EventStreams (one task per process) ──▶ ping comments on idle streams, a deadline on
    stuck sends, the shutdown event

A frame is encoded once for all the streams of a run (the hub does that), so the per-frame
work here is one ASGI `send` and a timestamp: no cancel scope, no task, no lock per frame.
What sse-starlette does per send with a cancel scope (give up on a client that stopped
reading), the ticker does for all streams at once: a send pending for `send_timeout` cancels
its stream. A client that stops reading is usually dropped long before that by the hub
(its bounded queue overflows: STREAM_OVERFLOW).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Mapping

from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("signalway.gateway.sse")

PING = b": ping\r\n\r\n"
# Where StreamSendMiddleware keeps the send it was given.
STREAM_SEND = "signalway.stream_send"


class StreamSendMiddleware:
    """Keeps the `send` it is given (the server's, behind Starlette's error middleware) in the
    scope, so that `EventStream` sends body frames past the middlewares in between.

    Those act on the response start (status, headers, metrics, the admission slot) and pass
    body messages through unchanged, at a coroutine call each per frame: for one message to
    a thousand streams, a thousand times each. The start and the last body message still go
    through all of them. The outermost middleware, so every other layer is skipped.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[STREAM_SEND] = send
        await self.app(scope, receive, send)


def _server_is_exiting() -> bool:
    """Whether the ASGI server was asked to stop.

    uvicorn's graceful shutdown waits for open connections before the lifespan ends, so a
    stream cannot learn of it from the lifespan: it would hold the shutdown up to its
    timeout. The SIGTERM handler uvicorn installs (signalway's GracefulServer too) is the
    server's bound `handle_exit`, which sets `should_exit`.
    """
    handler = signal.getsignal(signal.SIGTERM)
    return bool(getattr(getattr(handler, "__self__", None), "should_exit", False))


class EventStream:
    """A `text/event-stream` response of pre-encoded frames, registered with `EventStreams`."""

    def __init__(self, frames: AsyncIterator[bytes], streams: EventStreams, *,
                 headers: Mapping[str, str] | None = None) -> None:
        self._frames = frames
        self._streams = streams
        self._headers = [(b"content-type", b"text/event-stream; charset=utf-8"),
                         (b"cache-control", b"no-store"), (b"x-accel-buffering", b"no"),
                         *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items())]
        self._send: Send | None = None
        self._pump: asyncio.Task[None] | None = None
        self._ping: asyncio.Task[None] | None = None
        self.last_send = 0.0  # loop time the latest send started
        self.sending = 0  # sends on their way (a frame and maybe a ping)
        self.ended_by: str | None = None  # "disconnect" | "send timeout": why the pump was cancelled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self._headers})
        self._send = scope.get(STREAM_SEND, send)
        self.last_send = asyncio.get_running_loop().time()
        # The frames go out from a task of their own: a task's every wakeup resumes its whole
        # chain of coroutines, and this request's runs through every middleware (~18 frames
        # deep); the pump's is three (pump, frames generator, its queue). This task waits
        # once, for the pump's end.
        pump = self._pump = asyncio.create_task(self._run_pump())
        disconnect = asyncio.create_task(self._watch_disconnect(receive))
        self._streams.add(self)
        try:
            try:
                await pump
            except asyncio.CancelledError:
                # Ours (the client went away, or stopped reading): the stream just ends.
                # Anyone else's cancellation (the server's shutdown) goes on.
                task = asyncio.current_task()
                if self.ended_by is None or (task is not None and task.cancelling()):
                    raise
                return  # no final message: the client is gone or does not read
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            self._streams.discard(self)
            disconnect.cancel()
            pump.cancel()
            if self._ping is not None:
                self._ping.cancel()

    async def _run_pump(self) -> None:
        send, now, frames = self._send, asyncio.get_running_loop().time, self._frames
        assert send is not None
        try:
            async for frame in frames:
                self.last_send = now()
                self.sending += 1
                await send({"type": "http.response.body", "body": frame, "more_body": True})
                self.sending -= 1
        finally:
            aclose = getattr(frames, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()

    async def _watch_disconnect(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.end("disconnect")

    def end(self, why: str) -> None:
        """Stop sending this stream's frames (its frames iterator is closed) and end the response."""
        if self.ended_by is None and self._pump is not None and not self._pump.done():
            self.ended_by = why
            self._pump.cancel()

    def ping(self, now: float) -> None:
        """Send a heartbeat comment, unless one is still on its way."""
        if self._ping is None or self._ping.done():
            self.last_send = now
            self._ping = asyncio.create_task(self._send_ping())

    async def _send_ping(self) -> None:
        assert self._send is not None
        self.sending += 1
        try:
            # An ASGI send writes a whole message or nothing, so a ping never splits a frame.
            await self._send({"type": "http.response.body", "body": PING, "more_body": True})
        finally:
            self.sending -= 1


class EventStreams:
    """The open streams of this process, and one task that looks after all of them.

    Every `tick` seconds: an idle stream (nothing sent for `ping_seconds`) gets a ping
    comment, a stream whose send has waited `send_timeout` seconds is ended (a client that
    stopped reading), and once the server is asked to stop, `shutdown` is set so that
    every stream sends its farewell frame and ends.
    """

    def __init__(self, *, ping_seconds: float, send_timeout: float, tick: float = 0.5) -> None:
        self.ping_seconds = ping_seconds
        self.send_timeout = send_timeout
        self._tick = min(tick, ping_seconds / 2)
        self._open: set[EventStream] = set()
        self.shutdown = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._open)

    def add(self, stream: EventStream) -> None:
        self._open.add(stream)

    def discard(self, stream: EventStream) -> None:
        self._open.discard(stream)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="sse-streams")

    async def stop(self) -> None:
        self.shutdown.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._tick)
            try:
                self._look_after(loop.time())
            except Exception:  # one bad round must not end pings and deadlines for good
                log.exception("looking after the open streams failed")

    def _look_after(self, now: float) -> None:
        if not self.shutdown.is_set() and _server_is_exiting():
            log.info("server stopping: ending %d open streams", len(self._open))
            self.shutdown.set()
        for stream in list(self._open):
            waited = now - stream.last_send
            if stream.sending:
                if waited >= self.send_timeout:
                    stream.end("send timeout")
            elif waited >= self.ping_seconds:
                stream.ping(now)
