"""Progress updates of a run the caller may see: publish, poll, and relay live.

A stream confirms its subscription before it reads the backlog, then fills any gap from
the store by id, so the backlog → live handover delivers each message exactly once and
in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from gateway.adapters.updates_hub import Interrupted, Live, RunClosed, Subscriber
from gateway.auth import Principal
from gateway.deps import Services
from gateway.services import access
from gateway.services.idempotency import acting_once, fingerprint

log = logging.getLogger("signalway.gateway")

# A frame of the stream: the hub's pre-encoded SSE bytes, or a final message to encode.
Frame = bytes | dict[str, Any]


async def publish(svc: Services, who: Principal, run_id: str, *, type: str, message: str | None, details: Any,
                  workstream_id: str | None, key: str | None) -> None:
    """Publish a progress message to a run the caller may see; with an Idempotency-Key, once."""
    await access.locate(svc, who, run_id)

    async def store(derived: str | None) -> int:
        # The derived id is also the store's publish key: a retry whose first attempt did
        # store (its answer lost to a timeout) stores nothing more.
        return await svc.updates.publish(run_id, type=type, message=message, details=details,
                                         workstream_id=workstream_id, key=derived and f"request:{derived}")

    await acting_once(svc, project=who.project, scope=f"post-update:{run_id}", key=key, action=store,
                      request_fingerprint=lambda: fingerprint(run_id, type, message, details, workstream_id))


async def since(svc: Services, who: Principal, workflow_id: str, run_id: str, since_ms: int) -> bytes:
    """`{"messages": [...]}`: the stored JSON served as is, no decode and re-encode."""
    await access.run(svc, who, workflow_id, run_id)
    messages = await svc.updates.since(run_id, since_ms)
    return b'{"messages":[' + b",".join(m.raw.encode() for m in messages) + b"]}"


async def open_stream(svc: Services, who: Principal, workflow_id: str, run_id: str) -> None:
    """Check what a stream needs before its response starts: the run, and Redis answering.

    A run closed before the stream opened is fine: the hub's close watcher answers at once.
    """
    await access.run(svc, who, workflow_id, run_id)
    await svc.redis.ping()


def final(run_id: str, type: str, message: str, **details: Any) -> dict[str, Any]:
    """The last message of a stream. It has no id: a reconnect resumes after the last message."""
    return {"timestamp": int(time.time() * 1000), "workflow_run_id": run_id, "type": type,
            "message": message, "details": details or None, "workstream_id": None}


async def stream(svc: Services, workflow_id: str, run_id: str, *, last_event_id: int | None, since_ms: int,
                 skip_history: bool, shutdown: asyncio.Event | Any) -> AsyncIterator[Frame]:
    try:
        async with svc.hub.subscribe(workflow_id, run_id) as sub:
            watcher = asyncio.create_task(_interrupt_on(shutdown, sub))
            try:
                async for frame in _relay(svc, sub, run_id, last_event_id, since_ms, skip_history):
                    yield frame
            finally:
                watcher.cancel()
    except Exception as exc:  # Redis went away under the stream: end it cleanly
        log.warning("stream of run %s interrupted: %r", run_id, exc, exc_info=True)
        yield final(run_id, "STREAM_INTERRUPTED", "The stream was interrupted; reconnect with Last-Event-ID.",
                    reason=type(exc).__name__)


async def _interrupt_on(shutdown: Any, sub: Subscriber) -> None:
    """One task per stream for its whole life (not per message): ends it on gateway shutdown."""
    await shutdown.wait()
    with contextlib.suppress(asyncio.QueueFull):
        sub.queue.put_nowait(Interrupted("The gateway is restarting; reconnect with Last-Event-ID."))
    sub.overflowed = sub.overflowed or sub.queue.full()


async def _relay(svc: Services, sub: Subscriber, run_id: str, last_event_id: int | None, since_ms: int,
                 skip_history: bool) -> AsyncIterator[Frame]:
    """Backlog, then live messages, each exactly once and in order."""
    hub, store = svc.hub, svc.updates
    if skip_history:
        last = await store.last_id(run_id)
    else:
        backlog = await (store.after_id(run_id, last_event_id) if last_event_id is not None
                         else store.since(run_id, since_ms))
        last = last_event_id or 0
        for message in backlog:
            yield hub.frame(message)
            last = message.id
    while True:
        if sub.overflowed:
            yield final(run_id, "STREAM_OVERFLOW", "This client fell too far behind and was dropped; "
                        "reconnect with Last-Event-ID to resume.", last_event_id=last)
            return
        item = await sub.queue.get()
        if isinstance(item, Live):
            if item.message.id <= last:
                continue  # already sent from the backlog
            if item.message.id > last + 1:
                # A gap (the backlog→live handover, or a lost publish): fill it from the store.
                for message in await store.after_id(run_id, last):
                    if message.id >= item.message.id:
                        break
                    yield hub.frame(message)
                    last = message.id
            yield item.frame
            last = item.message.id
        elif isinstance(item, RunClosed):
            for message in await store.after_id(run_id, last):
                yield hub.frame(message)
                last = message.id
            extra = {"new_run_id": item.new_run_id} if item.new_run_id else {}
            yield final(run_id, "WORKFLOW_CLOSED", f"Workflow run {item.status}", status=item.status, **extra)
            return
        else:
            yield final(run_id, "STREAM_INTERRUPTED", item.reason)
            return


def encode(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"))
