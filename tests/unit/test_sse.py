"""`gateway.sse`: the lean SSE response: frames as sent, pings when idle, a deadline on stuck
sends, the end of a stream when its client leaves, and shutdown noticed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from signalway.gateway.sse import PING, STREAM_SEND, EventStream, EventStreams


class Frames:
    """An async iterator of frames that records whether it was closed (as the hub's relay must be)."""

    def __init__(self, *frames: bytes, then_wait: bool = True) -> None:
        self.frames, self.then_wait, self.closed = frames, then_wait, False

    async def _run(self) -> AsyncIterator[bytes]:
        try:
            for frame in self.frames:
                yield frame
            if self.then_wait:
                await asyncio.Event().wait()
        finally:
            self.closed = True

    def __call__(self) -> AsyncIterator[bytes]:
        return self._run()


async def _never_disconnects() -> dict[str, Any]:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


async def test_frames_go_out_in_order_and_an_idle_stream_is_pinged() -> None:
    streams = EventStreams(ping_seconds=0.1, send_timeout=5, tick=0.05)
    await streams.start()
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    frames = Frames(b"data: 1\r\n\r\n", b"data: 2\r\n\r\n")
    task = asyncio.create_task(EventStream(frames(), streams)({"type": "http"}, _never_disconnects, send))
    await asyncio.sleep(0.4)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await streams.stop()
    start, *bodies = sent
    assert start["status"] == 200
    assert (b"content-type", b"text/event-stream; charset=utf-8") in start["headers"]
    assert (b"cache-control", b"no-store") in start["headers"]
    assert [b["body"] for b in bodies[:2]] == [b"data: 1\r\n\r\n", b"data: 2\r\n\r\n"]
    assert bodies[2:] and all(b["body"] == PING for b in bodies[2:])
    assert frames.closed and len(streams) == 0


async def test_body_frames_take_the_outer_send_and_the_end_the_wrapped_one() -> None:
    streams = EventStreams(ping_seconds=10, send_timeout=5)
    wrapped: list[dict[str, Any]] = []
    outer: list[dict[str, Any]] = []

    async def wrapped_send(message: dict[str, Any]) -> None:
        wrapped.append(message)

    async def outer_send(message: dict[str, Any]) -> None:
        outer.append(message)

    frames = Frames(b"a", b"b", then_wait=False)
    await EventStream(frames(), streams)({"type": "http", STREAM_SEND: outer_send}, _never_disconnects, wrapped_send)
    assert [m["type"] for m in wrapped] == ["http.response.start", "http.response.body"]
    assert wrapped[-1]["more_body"] is False
    assert [m["body"] for m in outer] == [b"a", b"b"]


async def test_a_send_stuck_past_the_deadline_ends_the_stream() -> None:
    streams = EventStreams(ping_seconds=10, send_timeout=0.2, tick=0.05)
    await streams.start()
    messages: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)
        if message.get("body") == b"stuck":
            await asyncio.Event().wait()  # a client that stopped reading

    frames = Frames(b"ok", b"stuck")
    stream = EventStream(frames(), streams)
    await asyncio.wait_for(stream({"type": "http"}, _never_disconnects, send), 2)
    await streams.stop()
    assert stream.ended_by == "send timeout" and frames.closed
    assert [m.get("body") for m in messages[1:]] == [b"ok", b"stuck"]  # no final message to a stuck client


async def test_a_client_that_leaves_ends_the_stream() -> None:
    streams = EventStreams(ping_seconds=10, send_timeout=5)

    async def send(message: dict[str, Any]) -> None:
        pass

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(0.1)
        return {"type": "http.disconnect"}

    frames = Frames(b"x")
    stream = EventStream(frames(), streams)
    await asyncio.wait_for(stream({"type": "http"}, receive, send), 2)
    assert stream.ended_by == "disconnect" and frames.closed


async def test_a_cancelled_request_cancels_its_stream() -> None:
    streams = EventStreams(ping_seconds=10, send_timeout=5)

    async def send(message: dict[str, Any]) -> None:
        pass

    frames = Frames(b"x")
    task = asyncio.create_task(EventStream(frames(), streams)({"type": "http"}, _never_disconnects, send))
    await asyncio.sleep(0.05)
    task.cancel()
    results = await asyncio.gather(task, return_exceptions=True)
    assert isinstance(results[0], asyncio.CancelledError)
    await asyncio.sleep(0)
    assert frames.closed


async def test_a_server_asked_to_stop_sets_the_shutdown_event() -> None:
    import signal

    class Server:  # what uvicorn installs as its SIGTERM handler: the server's bound handle_exit
        should_exit = False

        def handle_exit(self, sig: int, frame: object) -> None:
            self.should_exit = True

    server = Server()
    previous = signal.signal(signal.SIGTERM, server.handle_exit)
    streams = EventStreams(ping_seconds=10, send_timeout=5, tick=0.05)
    try:
        await streams.start()
        await asyncio.sleep(0.1)
        assert not streams.shutdown.is_set()
        server.should_exit = True
        await asyncio.wait_for(streams.shutdown.wait(), 1)
    finally:
        signal.signal(signal.SIGTERM, previous)
        await streams.stop()
