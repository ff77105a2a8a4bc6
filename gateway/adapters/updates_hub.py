"""Live progress updates: one Redis subscription per gateway process, fanned out to its streams.

    Redis channel per run ──▶ one PubSub connection ──▶ UpdatesHub ──▶ bounded queue per stream

A stream subscribes to its run's channel (the hub confirms the subscription with Redis before
the stream reads its backlog, so nothing published in between is missed), then reads the
backlog from the store, then takes live messages, skipping ids it already sent and filling
any gap from the store. A stream whose queue is full is dropped with a final event instead of
stalling the others or growing without bound. The hub also watches each streamed run for its
close (one long poll per run, not per stream).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sse_starlette import ServerSentEvent

from gateway.telemetry import GatewayTelemetry
from signalway.updates import CHANNEL_PREFIX, Message, channel

log = logging.getLogger("signalway.gateway.updates")


@dataclass(frozen=True)
class Live:
    """A message as it arrived on the channel, with its SSE frame encoded once for all streams."""

    message: Message
    frame: bytes


@dataclass(frozen=True)
class RunClosed:
    status: str
    new_run_id: str | None = None


@dataclass(frozen=True)
class Interrupted:
    reason: str


Item = Live | RunClosed | Interrupted

CloseWaiter = Callable[[str, str], Awaitable[RunClosed]]


class Mailbox:
    """A stream's bounded queue: what `asyncio.Queue` does here (put_nowait, get, full,
    empty), without its task accounting and putter bookkeeping, since one message goes
    into a thousand of these at once. One reader (the stream), non-blocking writers."""

    __slots__ = ("_items", "_maxsize", "_waiter")

    def __init__(self, maxsize: int) -> None:
        self._items: deque[Item] = deque()
        self._maxsize = maxsize
        self._waiter: asyncio.Future[None] | None = None

    def empty(self) -> bool:
        return not self._items

    def full(self) -> bool:
        return len(self._items) >= self._maxsize

    def put_nowait(self, item: Item) -> None:
        if len(self._items) >= self._maxsize:
            raise asyncio.QueueFull
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def get(self) -> Item:
        while not self._items:
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                if self._waiter is waiter:
                    self._waiter = None
        return self._items.popleft()


@dataclass(eq=False)
class Subscriber:
    run_id: str
    queue: Mailbox
    overflowed: bool = False


class UpdatesHub:
    def __init__(self, redis: aioredis.Redis, *, wait_closed: CloseWaiter, buffer: int = 256,
                 probe_every: float = 1.0, stall_after: float = 3.0,
                 telemetry: GatewayTelemetry | None = None) -> None:
        # Relay lag and slow-client drops for /metrics (gateway.telemetry); None: not measured.
        self._telemetry = telemetry
        self._probe_every = probe_every
        self._stall_after = stall_after
        self._redis = redis
        self._wait_closed = wait_closed
        self._buffer = buffer
        self._pubsub = redis.pubsub()
        self._subscribers: dict[str, set[Subscriber]] = {}
        self._confirmed: dict[str, asyncio.Event] = {}
        self._watchers: dict[str, asyncio.Task[None]] = {}
        self._lock = asyncio.Lock()
        self._has_channels = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    @staticmethod
    def frame(message: Message) -> bytes:
        return ServerSentEvent(data=message.raw, id=str(message.id)).encode()

    @staticmethod
    def final_frame(message: dict[str, Any]) -> bytes:
        """A stream's last frame (no id: a reconnect resumes after the last stored message)."""
        return ServerSentEvent(data=json.dumps(message, separators=(",", ":"))).encode()

    async def start(self) -> None:
        self._reader = asyncio.create_task(self._read(), name="updates-hub-reader")

    async def stop(self) -> None:
        tasks = [t for t in (self._reader, *self._watchers.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves PubSub.aclose unannotated

    # -- subscriptions -----------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def subscribe(self, workflow_id: str, run_id: str, *, confirm_timeout: float = 5) -> AsyncIterator[Subscriber]:
        """Register a stream for a run; yields once Redis confirmed the channel subscription."""
        sub = Subscriber(run_id=run_id, queue=Mailbox(self._buffer))
        name = channel(run_id)
        try:
            async with self._lock:
                subscribers = self._subscribers.setdefault(run_id, set())
                subscribers.add(sub)
                if name not in self._confirmed:
                    self._confirmed[name] = asyncio.Event()
                    await self._pubsub.subscribe(name)
                    self._has_channels.set()
                    self._watchers[run_id] = asyncio.create_task(self._watch(workflow_id, run_id))
                confirmed = self._confirmed[name]
            await asyncio.wait_for(confirmed.wait(), confirm_timeout)
            yield sub
        finally:
            async with self._lock:
                remaining = self._subscribers.get(run_id)
                if remaining is not None and sub in remaining:
                    remaining.discard(sub)
                    if not remaining:
                        await self._drop_run(run_id)

    async def _drop_run(self, run_id: str) -> None:
        self._subscribers.pop(run_id, None)
        name = channel(run_id)
        if self._confirmed.pop(name, None) is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.unsubscribe(name)
        watcher = self._watchers.pop(run_id, None)
        if watcher is not None:
            watcher.cancel()

    def _deliver(self, run_id: str, item: Item) -> None:
        for sub in list(self._subscribers.get(run_id, ())):
            if sub.overflowed:
                continue
            try:
                sub.queue.put_nowait(item)
            except asyncio.QueueFull:
                # This client reads slower than the run writes: drop it, not the others.
                sub.overflowed = True
                if self._telemetry is not None:
                    self._telemetry.stream_dropped()

    # -- background work -----------------------------------------------------------------

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        heard = probed = loop.time()
        while True:
            if not self._pubsub.subscribed:
                self._has_channels.clear()
                await self._has_channels.wait()
                heard = probed = loop.time()
                continue
            try:
                # A stalled Redis looks like a quiet one: while subscribed, ask it to answer
                # (PING comes back on the subscription) and give up on it when it stays silent.
                now = loop.time()
                if now - heard > self._stall_after:
                    raise RedisTimeoutError(f"no answer from Redis for {now - heard:.1f}s")
                if now - max(heard, probed) > self._probe_every:
                    await asyncio.wait_for(self._pubsub.ping(), self._stall_after)
                    probed = now
                message = await self._pubsub.get_message(timeout=min(1.0, self._probe_every))
            except (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError) as exc:
                log.warning("updates subscription lost: %s", exc)
                await self._reset("Redis is unavailable; reconnect shortly with Last-Event-ID.")
                await asyncio.sleep(0.5)
                heard = probed = loop.time()
                continue
            if message is None:
                continue
            heard = loop.time()
            if message["type"] == "pong":
                continue
            name = message["channel"]
            name = name.decode() if isinstance(name, bytes) else name
            if not isinstance(name, str) or not name.startswith(CHANNEL_PREFIX):
                continue
            run_id = name[len(CHANNEL_PREFIX):-1]
            if message["type"] == "subscribe":
                event = self._confirmed.get(name)
                if event is not None:
                    event.set()
            elif message["type"] == "message":
                try:
                    parsed = Message.parse(message["data"])
                except (ValueError, KeyError):
                    log.warning("ignoring a malformed update on %s", name)
                    continue
                if self._telemetry is not None:
                    self._telemetry.relayed(parsed.timestamp)
                self._deliver(run_id, Live(parsed, self.frame(parsed)))

    async def _reset(self, reason: str) -> None:
        """The subscription broke, so live messages may have been lost: end every stream
        (each client resumes from its Last-Event-ID) and start over on a fresh connection."""
        async with self._lock:
            for run_id in list(self._subscribers):
                self._deliver(run_id, Interrupted(reason))
            self._subscribers.clear()
            self._confirmed.clear()
            for watcher in self._watchers.values():
                watcher.cancel()
            self._watchers.clear()
            old, self._pubsub = self._pubsub, self._redis.pubsub()
        with contextlib.suppress(Exception):
            await old.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves PubSub.aclose unannotated

    async def _watch(self, workflow_id: str, run_id: str) -> None:
        delay = 0.5
        while True:
            try:
                closed = await self._wait_closed(workflow_id, run_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Temporal hiccup: streams stay open, watching resumes
                log.info("watching run %s for its close failed (%s); retrying", run_id, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)
                continue
            self._deliver(run_id, closed)
            return
