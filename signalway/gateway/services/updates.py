"""Progress updates of a run the caller may see: publish, poll, and relay live.

A stream confirms its subscription before it reads the backlog, then fills any gap from
the store by id, so the backlog → live handover delivers each message exactly once and
in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from sse_starlette import ServerSentEvent

from signalway.gateway.adapters.updates_hub import (
    Interrupted,
    Live,
    RunClosed,
    Subscriber,
    UpdatesHub,
)
from signalway.gateway.auth import Principal
from signalway.gateway.deps import Services
from signalway.gateway.runs_wire import Wire, closing, compact
from signalway.gateway.services import access
from signalway.gateway.services.idempotency import acting_once, fingerprint
from signalway.updates import Message

log = logging.getLogger("signalway.gateway")

async def publish(svc: Services, who: Principal, run_id: str, *, type: str, message: str | None, details: Any,
                  workstream_id: str | None, key: str | None) -> None:
    """Publish a progress message to a run the caller may see; with an Idempotency-Key, once."""
    await access.locate(svc, who, run_id)

    async def store(derived: str | None) -> int:
        # Counted against the project's quota before anything is stored (an upper bound: a
        # retry whose first attempt stored is counted twice).
        await svc.quotas.add_update_bytes(who.project, len(orjson.dumps([type, message, details, workstream_id])))
        # The derived id is also the store's publish key: a retry whose first attempt did
        # store (its answer lost to a timeout) stores nothing more.
        return await svc.updates.publish(run_id, type=type, message=message, details=details,
                                         workstream_id=workstream_id, key=derived and f"request:{derived}")

    await acting_once(svc, who=who, scope=f"post-update:{run_id}", key=key, action=store,
                      request_fingerprint=lambda: fingerprint(run_id, type, message, details, workstream_id))


async def since(svc: Services, who: Principal, workflow_id: str, run_id: str, since_ms: int, *,
                wire: Wire = Wire.SEED) -> bytes:
    """`{"messages": [...]}`: in seed 001's wire the stored JSON served as is, no decode and
    re-encode; in the client wire each message compacted."""
    await access.run(svc, who, workflow_id, run_id)
    messages = await svc.updates.since(run_id, since_ms)
    if wire is Wire.CLIENT:
        return b'{"messages":[' + b",".join(orjson.dumps(_compact(m)) for m in messages) + b"]}"
    return b'{"messages":[' + b",".join(m.raw.encode() for m in messages) + b"]}"


def _compact(message: Message) -> dict[str, Any]:
    return compact(orjson.loads(message.raw))


def client_frame(message: Message) -> bytes:
    """A message's SSE frame in the client wire: its data compacted, the same id."""
    return ServerSentEvent(data=orjson.dumps(_compact(message)).decode(), id=str(message.id)).encode()


async def open_stream(svc: Services, who: Principal, workflow_id: str, run_id: str) -> None:
    """Check what a stream needs before its response starts: the run, and Redis answering.

    A run closed before the stream opened is fine: the hub's close watcher answers at once.
    """
    await access.run(svc, who, workflow_id, run_id)
    await svc.redis.ping()


def final(run_id: str, type: str, message: str, *, wire: Wire = Wire.SEED, **details: Any) -> bytes:
    """The last frame of a stream. It has no id: a reconnect resumes after the last message."""
    now = int(time.time() * 1000)
    if wire is Wire.CLIENT:
        return UpdatesHub.final_frame(closing(type, message, details, now))
    return UpdatesHub.final_frame({"timestamp": now, "workflow_run_id": run_id, "type": type,
                                   "message": message, "details": details or None, "workstream_id": None})


async def stream(svc: Services, workflow_id: str, run_id: str, *, last_event_id: int | None, since_ms: int,
                 skip_history: bool, shutdown: asyncio.Event | Any, wire: Wire = Wire.SEED) -> AsyncIterator[bytes]:
    """The SSE frames of a run's stream: backlog, then live messages, each exactly once and in
    order, then a final frame (the run closed, the client fell behind, Redis or the gateway
    went away). One generator, no layers: it runs once per frame per stream.

    `skip_history` skips the backlog only when the request does not say where to resume: with
    `Last-Event-ID` or `since` > 0 the messages after it are sent (the Vertesia clients read
    the backlog with a GET, then stream with `skipHistory=true&since=<last timestamp>`, and
    expect what was published in between)."""
    client = wire is Wire.CLIENT
    frame = client_frame if client else svc.hub.frame
    try:
        async with svc.hub.subscribe(workflow_id, run_id) as sub:
            watcher = asyncio.create_task(_interrupt_on(shutdown, sub))
            try:
                store, queue = svc.updates, sub.queue
                if last_event_id is not None:
                    backlog, last = await store.after_id(run_id, last_event_id), last_event_id
                elif skip_history and since_ms <= 0:
                    backlog, last = [], await store.last_id(run_id)
                else:
                    # One read of every kept message: those after `since` are the backlog, and
                    # the newest one at or before it is where live messages pick up (ids and
                    # timestamps grow together), so nothing older is sent as a "gap".
                    kept = await store.since(run_id, 0)
                    backlog = [m for m in kept if m.timestamp > since_ms]
                    last = backlog[0].id - 1 if backlog else (kept[-1].id if kept else 0)
                for message in backlog:
                    yield frame(message)
                    last = message.id
                while True:
                    if sub.overflowed:
                        yield final(run_id, "STREAM_OVERFLOW", "This client fell too far behind and was dropped; "
                                    "reconnect with Last-Event-ID to resume.", wire=wire, last_event_id=last)
                        return
                    item = await queue.get()
                    if type(item) is Live:
                        ident = item.message.id
                        if ident == last + 1:  # the common case: the next message
                            yield client_frame(item.message) if client else item.frame
                            last = ident
                            continue
                        if ident <= last:
                            continue  # already sent from the backlog
                        # A gap (the backlog→live handover, or a lost publish): fill it from the store.
                        for message in await store.after_id(run_id, last):
                            if message.id >= ident:
                                break
                            yield frame(message)
                            last = message.id
                        yield client_frame(item.message) if client else item.frame
                        last = ident
                    elif isinstance(item, RunClosed):
                        for message in await store.after_id(run_id, last):
                            yield frame(message)
                            last = message.id
                        extra = {"new_run_id": item.new_run_id} if item.new_run_id else {}
                        yield final(run_id, "WORKFLOW_CLOSED", f"Workflow run {item.status}", wire=wire,
                                    status=item.status, **extra)
                        return
                    else:
                        assert isinstance(item, Interrupted)
                        yield final(run_id, "STREAM_INTERRUPTED", item.reason, wire=wire)
                        return
            finally:
                watcher.cancel()
    except Exception as exc:  # Redis went away under the stream: end it cleanly
        log.warning("stream of run %s interrupted: %r", run_id, exc, exc_info=True)
        yield final(run_id, "STREAM_INTERRUPTED", "The stream was interrupted; reconnect with Last-Event-ID.",
                    wire=wire, reason=type(exc).__name__)


async def _interrupt_on(shutdown: Any, sub: Subscriber) -> None:
    """One task per stream for its whole life (not per message): ends it on gateway shutdown."""
    await shutdown.wait()
    with contextlib.suppress(asyncio.QueueFull):
        sub.queue.put_nowait(Interrupted("The gateway is restarting; reconnect with Last-Event-ID."))
    sub.overflowed = sub.overflowed or sub.queue.full()
