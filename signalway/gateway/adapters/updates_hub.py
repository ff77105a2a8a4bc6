"""Live progress updates: one Redis subscription set per gateway process, fanned out to its streams.

    Redis channel per run ──▶ one PubSub connection ──▶ UpdatesHub ──▶ bounded queue per stream
                              (per shard primary on a
                               cluster: SSUBSCRIBE)

On a single Redis (or through Sentinel) one connection carries every subscription. On a
Redis Cluster each run's channel is a shard channel (the run id is its hash tag), so the
hub keeps one connection per primary that owns a streamed run, SSUBSCRIBEd there: fan-out
scales with the shards, and a message never crosses the cluster bus to reach us.

A stream subscribes to its run's channel (the hub confirms the subscription with Redis before
the stream reads its backlog, so nothing published in between is missed), then reads the
backlog from the store, then takes live messages, skipping ids it already sent and filling
any gap from the store. A stream whose queue is full is dropped with a final event instead of
stalling the others or growing without bound. The hub also watches each streamed run for its
close (one long poll per run, not per stream).

When a connection breaks, stalls (PINGs unanswered) or its shard stops owning a channel (a
failover or a resharding: the server unsubscribes us), the streams it carried end with a
STREAM_INTERRUPTED event, and each client resumes from its Last-Event-ID: the backlog comes
from the store on whichever node owns the run now, so nothing acknowledged is lost or repeated.
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
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sse_starlette import ServerSentEvent

from signalway.gateway.telemetry import GatewayTelemetry
from signalway.redis_connect import RedisClient
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


NodeClient = Callable[[str, int], aioredis.Redis]

_UNAVAILABLE = "Redis is unavailable; reconnect shortly with Last-Event-ID."


def _plain_node_client(host: str, port: int) -> aioredis.Redis:
    return aioredis.Redis(host=host, port=port)


class _Link:
    """One subscription connection and its reader task: the whole Redis, or one shard's primary."""

    def __init__(self, name: str, pubsub: PubSub, *, sharded: bool, owner: aioredis.Redis | None) -> None:
        self.name = name
        self.pubsub = pubsub
        self.sharded = sharded
        self.owner = owner  # a node client made for this link, closed with it
        self.unsubscribing: dict[str, int] = {}  # our own unsubscribes whose answers are due
        self.has_channels = asyncio.Event()
        self.reader: asyncio.Task[None] | None = None
        # redis-py reconnects a broken pub/sub connection and subscribes again on its own:
        # whatever was published in between is lost to us, so the reader treats that as a break.
        self.reconnected = False
        self._watched: Any = None  # the connection whose reconnects we are told of

    async def subscribe(self, name: str) -> None:
        await (self.pubsub.ssubscribe(name) if self.sharded else self.pubsub.subscribe(name))
        connection = self.pubsub.connection
        if connection is not None and connection is not self._watched:
            connection.register_connect_callback(self._on_reconnect)  # after its first connect
            self._watched = connection
        self.has_channels.set()  # after: the reader waits while the pubsub has no subscription

    def _on_reconnect(self, connection: Any) -> None:
        self.reconnected = True

    async def release(self) -> None:
        """Close the subscription connection (and the node client made for it)."""
        if self._watched is not None:
            self._watched.deregister_connect_callback(self._on_reconnect)
        with contextlib.suppress(Exception):
            await self.pubsub.aclose()
        if self.owner is not None:
            with contextlib.suppress(Exception):
                await self.owner.aclose()

    async def unsubscribe(self, name: str) -> None:
        self.unsubscribing[name] = self.unsubscribing.get(name, 0) + 1
        await (self.pubsub.sunsubscribe(name) if self.sharded else self.pubsub.unsubscribe(name))

    def expected_unsubscribe(self, name: str) -> bool:
        """Whether an unsubscribe notice for `name` answers ours (else the server dropped it)."""
        pending = self.unsubscribing.get(name, 0)
        if pending <= 0:
            return False
        if pending == 1:
            del self.unsubscribing[name]
        else:
            self.unsubscribing[name] = pending - 1
        return True

    async def close(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(BaseException):
                await self.reader
        await self.release()


class UpdatesHub:
    def __init__(self, redis: RedisClient, *, wait_closed: CloseWaiter, buffer: int = 256,
                 probe_every: float = 1.0, stall_after: float = 3.0,
                 telemetry: GatewayTelemetry | None = None, node_client: NodeClient = _plain_node_client) -> None:
        # Relay lag and slow-client drops for /metrics (gateway.telemetry); None: not measured.
        self._telemetry = telemetry
        self._probe_every = probe_every
        self._stall_after = stall_after
        self._redis = redis
        self._node_client = node_client
        self._wait_closed = wait_closed
        self._buffer = buffer
        self._links: dict[str, _Link] = {}
        self._link_of: dict[str, _Link] = {}  # channel → the link subscribed to it
        self._subscribers: dict[str, set[Subscriber]] = {}
        self._confirmed: dict[str, asyncio.Event] = {}
        self._watchers: dict[str, asyncio.Task[None]] = {}
        self._readers: set[asyncio.Task[None]] = set()  # a broken link's too, until its reset is done
        self._lock = asyncio.Lock()

    @staticmethod
    def frame(message: Message) -> bytes:
        return ServerSentEvent(data=message.raw, id=str(message.id)).encode()

    @staticmethod
    def final_frame(message: dict[str, Any]) -> bytes:
        """A stream's last frame (no id: a reconnect resumes after the last stored message)."""
        return ServerSentEvent(data=json.dumps(message, separators=(",", ":"))).encode()

    async def stop(self) -> None:
        watchers = list(self._watchers.values())
        for task in watchers:
            task.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        for link in list(self._links.values()):
            await link.close()
        self._links.clear()
        # Readers still resetting a broken link would refresh the slot map after the caller
        # closed the client.
        readers = list(self._readers)
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)

    # -- subscriptions -----------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def subscribe(self, workflow_id: str, run_id: str, *, confirm_timeout: float = 5) -> AsyncIterator[Subscriber]:
        """Register a stream for a run; yields once Redis confirmed the channel subscription
        (or the subscription broke before that: the stream then reads its backlog and ends
        with an interruption)."""
        sub = Subscriber(run_id=run_id, queue=Mailbox(self._buffer))
        name = channel(run_id)
        broken: _Link | None = None
        try:
            async with self._lock:
                subscribers = self._subscribers.setdefault(run_id, set())
                subscribers.add(sub)
                if name not in self._confirmed:
                    self._confirmed[name] = asyncio.Event()
                    link = await self._link_for(name)
                    self._link_of[name] = link
                    try:
                        await link.subscribe(name)
                    except (RedisError, OSError):
                        # Its node is down (a crashed primary the slot map still names): drop the
                        # link, so the next stream asks a refreshed slot map, not the dead node.
                        broken = link
                        self._detach(link, _UNAVAILABLE)
                        raise
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
            if broken is not None:
                await broken.close()
                await self._refresh_slots()

    async def _link_for(self, name: str) -> _Link:
        """The link that carries `name`: the one connection, or the connection to the primary
        that owns the channel's slot on a cluster (opened on first use)."""
        if not isinstance(self._redis, RedisCluster):
            key, host_port = "", None
        else:
            await self._redis.initialize()  # the slot map (a no-op once known)
            node = self._redis.get_node_from_key(name)
            if node is None:
                raise RedisConnectionError(f"no Redis node serves the slot of {name}")
            key, host_port = node.name, (node.host, int(node.port))
        link = self._links.get(key)
        if link is None:
            if host_port is None:
                assert isinstance(self._redis, aioredis.Redis)
                link = _Link(key, self._redis.pubsub(), sharded=False, owner=None)
            else:
                owner = self._node_client(*host_port)
                # No retries on this link's own client: a dead node fails the subscribe at once
                # (not after seconds of reconnecting under the hub's lock), and a broken
                # connection reaches the reader, which ends the link's streams.
                owner.set_retry(Retry(NoBackoff(), 0))
                link = _Link(key, owner.pubsub(), sharded=True, owner=owner)
            link.reader = asyncio.create_task(self._read(link), name=f"updates-hub-reader {key}".strip())
            self._readers.add(link.reader)
            link.reader.add_done_callback(self._readers.discard)
            self._links[key] = link
        return link

    async def _drop_run(self, run_id: str) -> None:
        """The run's last stream left: stop tracking it and unsubscribe its channel."""
        name = channel(run_id)
        link = self._link_of.get(name)
        self._forget(run_id)
        if link is not None:
            with contextlib.suppress(Exception):
                await link.unsubscribe(name)

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

    async def _read(self, link: _Link) -> None:
        loop = asyncio.get_running_loop()
        heard = probed = loop.time()
        pubsub = link.pubsub
        while True:
            if not pubsub.subscribed:
                link.has_channels.clear()
                await link.has_channels.wait()
                heard = probed = loop.time()
                continue
            try:
                # A stalled Redis looks like a quiet one: while subscribed, ask it to answer
                # (PING comes back on the subscription) and give up on it when it stays silent.
                now = loop.time()
                if now - heard > self._stall_after:
                    raise RedisTimeoutError(f"no answer from Redis for {now - heard:.1f}s")
                if now - max(heard, probed) > self._probe_every:
                    await asyncio.wait_for(pubsub.ping(), self._stall_after)
                    probed = now
                message = await pubsub.get_message(timeout=min(1.0, self._probe_every))
                if link.reconnected:
                    raise RedisConnectionError("the connection broke and was re-established")
            except (RedisError, OSError, TimeoutError) as exc:
                # Connection lost, a stall, or a refusal (MOVED: this node no longer owns a slot).
                log.warning("updates subscription lost%s: %s", f" on {link.name}" if link.name else "", exc)
                await self._reset(link, _UNAVAILABLE)
                return
            if message is None:
                continue
            heard = loop.time()
            kind = message["type"]
            if kind == "pong":
                continue
            name = message["channel"]
            name = name.decode() if isinstance(name, bytes) else name
            if not isinstance(name, str) or not name.startswith(CHANNEL_PREFIX):
                continue
            run_id = name[len(CHANNEL_PREFIX):-1]
            if kind in ("subscribe", "ssubscribe"):
                event = self._confirmed.get(name)
                if event is not None and self._link_of.get(name) is link:
                    event.set()
            elif kind in ("message", "smessage"):
                try:
                    parsed = Message.parse(message["data"])
                except (ValueError, KeyError):
                    log.warning("ignoring a malformed update on %s", name)
                    continue
                if self._telemetry is not None:
                    self._telemetry.relayed(parsed.timestamp)
                self._deliver(run_id, Live(parsed, self.frame(parsed)))
            elif kind in ("unsubscribe", "sunsubscribe") and not link.expected_unsubscribe(name):
                # The server dropped the channel: its slot moved (failover, resharding).
                pubsub.shard_channels.pop(message["channel"], None)
                await self._moved(link, run_id, name)

    async def _moved(self, link: _Link, run_id: str, name: str) -> None:
        """A channel's slot left this link's node: end that run's streams (they resume from
        their Last-Event-ID and subscribe again on the new owner) and learn the new slot map."""
        log.info("updates channel of run %s moved off %s", run_id, link.name or "Redis")
        async with self._lock:
            if self._link_of.get(name) is link:
                self._interrupt(name, "The run's Redis shard changed; reconnect with Last-Event-ID.")
            # Still under the lock: a stream resubscribing now must be routed by the new map,
            # or its SSUBSCRIBE would go to the old owner and be refused.
            await self._refresh_slots()

    def _interrupt(self, name: str, reason: str) -> None:
        """End the streams of a channel's run (each resumes from its Last-Event-ID), a stream
        still waiting for its confirmation included, and stop tracking the run."""
        event = self._confirmed.get(name)
        if event is not None:
            event.set()  # a stream still waiting for its confirmation ends now, not at its timeout
        run_id = name[len(CHANNEL_PREFIX):-1]
        self._deliver(run_id, Interrupted(reason))
        self._forget(run_id)

    def _forget(self, run_id: str) -> None:
        """Stop tracking a run's subscription (its streams left or were told to reconnect)."""
        self._subscribers.pop(run_id, None)
        name = channel(run_id)
        self._confirmed.pop(name, None)
        self._link_of.pop(name, None)
        watcher = self._watchers.pop(run_id, None)
        if watcher is not None:
            watcher.cancel()

    async def _reset(self, link: _Link, reason: str) -> None:
        """A link broke, so live messages on it may have been lost: end every stream it carried
        (each client resumes from its Last-Event-ID); the next stream opens a fresh link."""
        async with self._lock:
            self._detach(link, reason)
        link.reader = None  # this task is the reader; it ends after this
        await link.release()
        await asyncio.sleep(0.5)  # a Redis that is down is not asked again at once
        await self._refresh_slots()

    def _detach(self, link: _Link, reason: str) -> None:
        """Forget a broken link and end the streams it carried (under the lock)."""
        if self._links.get(link.name) is link:
            del self._links[link.name]
        for name in [n for n, owner in self._link_of.items() if owner is link]:
            self._interrupt(name, reason)

    async def _refresh_slots(self) -> None:
        if isinstance(self._redis, RedisCluster):
            with contextlib.suppress(Exception):
                await self._redis.nodes_manager.initialize()

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
