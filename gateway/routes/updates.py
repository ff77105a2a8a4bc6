"""Progress updates of a run (seed 001): publish, poll, and watch live over SSE."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.auth import Principal
from gateway.deps import Services, principal, services
from gateway.errors import BadRequest, PayloadTooLarge, WorkflowNotFound
from gateway.routes.runs import BASE, RUN, can_see, run_ids
from gateway.routing import ApiRoute, Operation, Param, bool_param, read_json, validate
from gateway.temporal_service import RunFacts
from gateway.updates_hub import Interrupted, Live, RunClosed, Subscriber

_UUID_LEN = 36


class PostUpdate(BaseModel):
    """A progress message from a workflow (or whoever drives it)."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field("UPDATE", min_length=1, max_length=100, description="Message type.")
    message: str | None = Field(None, description="The message content. Defaults to type if not provided.")
    details: Any = Field(None, description="Additional details object.")
    workstream_id: str | None = Field(None, max_length=1000, description="Workstream this update belongs to.")


class Posted(BaseModel):
    success: bool = True


class UpdateMessage(BaseModel):
    id: int = Field(description="Server-assigned, gapless and increasing per run; the SSE event id.")
    timestamp: int = Field(description="Milliseconds since the epoch; strictly increasing per run.")
    workflow_run_id: str
    type: str
    message: str
    details: Any = None
    workstream_id: str | None = None


class UpdateMessages(BaseModel):
    messages: list[UpdateMessage]


# -- access ----------------------------------------------------------------------------


def _not_found(run_id: str) -> WorkflowNotFound:
    return WorkflowNotFound(f"Run {run_id} was not found.")


async def _visible_run(svc: Services, who: Principal, workflow_id: str, run_id: str) -> bool | None:
    """Check the caller may see the run; returns whether it is open when that was just read."""
    try:
        facts, is_running = await svc.temporal.run_facts(workflow_id, run_id)
    except WorkflowNotFound:
        raise _not_found(run_id) from None
    if not can_see(who, facts):
        raise _not_found(run_id)
    return is_running


async def _locate(svc: Services, who: Principal, run_id: str) -> tuple[str, RunFacts]:
    """Find a run by its id alone: this gateway's memory, then Redis, then Temporal visibility."""
    found = svc.temporal.cached_run(run_id)
    if found is None:
        found = await svc.redis.indexed_run(run_id)
    if found is None:
        # Visibility trails a fresh start by tens of milliseconds (rarely a second).
        deadline = time.monotonic() + 1.5
        while found is None:
            found = await svc.temporal.find_run(run_id, project=who.project)
            if found is not None or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        if found is not None:
            await svc.redis.index_run(run_id, *found)
    if found is None or not can_see(who, found[1]):
        raise _not_found(run_id)
    svc.temporal.remember_run(run_id, *found)
    return found


def _since(request: Request) -> int:
    raw = request.query_params.get("since")
    if raw is None or raw.strip() == "":
        return 0
    try:
        value = float(raw)
    except ValueError:
        raise BadRequest(f"since must be a number (milliseconds since the epoch), got {raw!r}.") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise BadRequest(f"since must be a finite number, got {raw!r}.")
    return int(value)


def _last_event_id(request: Request) -> int | None:
    raw = request.headers.get("last-event-id")
    if raw is None or raw.strip() == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"Last-Event-ID must be an event id this stream sent, got {raw!r}.") from None


# -- routes ----------------------------------------------------------------------------


async def post_update(request: Request) -> Response:
    svc = services(request)
    who = principal(request)
    run_id = request.path_params["run_id"]
    if len(run_id) != _UUID_LEN:
        raise _not_found(run_id)
    body = await request.body()
    if len(body) > svc.settings.max_update_bytes:
        raise PayloadTooLarge(
            f"An update may be at most {svc.settings.max_update_bytes} bytes; this one is {len(body)}."
        )
    data = await read_json(request, required=False)
    update = validate(PostUpdate, {} if data is None else data)
    await _locate(svc, who, run_id.lower())
    with svc.redis.errors():
        await svc.updates.publish(run_id.lower(), type=update.type, message=update.message,
                                  details=update.details, workstream_id=update.workstream_id)
    return JSONResponse({"success": True}, status_code=201)


async def get_updates(request: Request) -> Response:
    svc = services(request)
    who = principal(request, allow_query_token=True)
    workflow_id, run_id = run_ids(request)
    since = _since(request)
    await _visible_run(svc, who, workflow_id, run_id)
    with svc.redis.errors():
        messages = await svc.updates.since(run_id, since)
    # The stored JSON is served as is: no decode and re-encode of up to 1000 messages.
    payload = b'{"messages":[' + b",".join(m.raw.encode() for m in messages) + b"]}"
    return Response(payload, media_type="application/json")


def _final(run_id: str, type: str, message: str, **details: Any) -> ServerSentEvent:
    """The last frame of a stream. It has no id: a reconnect resumes after the last message."""
    body = {"timestamp": int(time.time() * 1000), "workflow_run_id": run_id, "type": type,
            "message": message, "details": details or None, "workstream_id": None}
    return ServerSentEvent(data=json.dumps(body, separators=(",", ":")))


async def stream_updates(request: Request) -> Response:
    svc = services(request)
    who = principal(request, allow_query_token=True)
    workflow_id, run_id = run_ids(request)
    last_event_id = _last_event_id(request)
    since = _since(request)
    skip_history = bool_param(request, "skipHistory", False)
    # A run closed before the stream opened is fine: the hub's close watcher answers at once.
    await _visible_run(svc, who, workflow_id, run_id)
    with svc.redis.errors():
        await svc.redis.ping()
    shutdown = anyio.Event()

    async def frames() -> AsyncIterator[bytes | ServerSentEvent]:
        hub = svc.hub
        try:
            async with hub.subscribe(workflow_id, run_id) as sub:
                watcher = asyncio.create_task(_interrupt_on(shutdown, sub))
                try:
                    async for frame in _relay(svc, sub, run_id, last_event_id, since, skip_history):
                        yield frame
                finally:
                    watcher.cancel()
        except Exception as exc:  # Redis went away under the stream: end it cleanly
            yield _final(run_id, "STREAM_INTERRUPTED", "The stream was interrupted; reconnect with Last-Event-ID.",
                         reason=type(exc).__name__)

    return EventSourceResponse(
        frames(), ping=svc.settings.sse_ping_seconds, send_timeout=30, shutdown_event=shutdown,
        shutdown_grace_period=2, headers={"Cache-Control": "no-store"},
    )


async def _interrupt_on(shutdown: anyio.Event, sub: Subscriber) -> None:
    """One task per stream for its whole life (not per message): ends it on gateway shutdown."""
    await shutdown.wait()
    with contextlib.suppress(asyncio.QueueFull):
        sub.queue.put_nowait(Interrupted("The gateway is restarting; reconnect with Last-Event-ID."))
    sub.overflowed = sub.overflowed or sub.queue.full()


async def _relay(
    svc: Services, sub: Subscriber, run_id: str, last_event_id: int | None, since: int, skip_history: bool
) -> AsyncIterator[bytes | ServerSentEvent]:
    """Backlog, then live messages, each exactly once and in order."""
    hub, store = svc.hub, svc.updates
    if skip_history:
        last = await store.last_id(run_id)
    else:
        backlog = await (store.after_id(run_id, last_event_id) if last_event_id is not None
                         else store.since(run_id, since))
        last = last_event_id or 0
        for message in backlog:
            yield hub.frame(message)
            last = message.id
    while True:
        if sub.overflowed:
            yield _final(run_id, "STREAM_OVERFLOW", "This client fell too far behind and was dropped; "
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
            yield _final(run_id, "WORKFLOW_CLOSED", f"Workflow run {item.status}", status=item.status, **extra)
            return
        else:
            yield _final(run_id, "STREAM_INTERRUPTED", item.reason)
            return


_WID = Param("workflow_id", "path", {"type": "string"}, "The ID of the Workflow.", required=True)
_RID = Param("run_id", "path", {"type": "string", "format": "uuid"}, "The ID of the Run.", required=True)
_SINCE = Param("since", "query", {"type": "number", "default": 0}, "Messages after this timestamp (ms).")
_BEARER = ("bearer",)
_TAGS = ("updates",)

ROUTES = [
    ApiRoute(RUN + "/updates", get_updates, method="GET", operation=Operation(
        "getRunUpdates", "Get a run's progress updates", _TAGS, schemes=_BEARER,
        responses={200: UpdateMessages}, params=(_WID, _RID, _SINCE), errors=(400, 401, 404, 503))),
    ApiRoute(RUN + "/stream", stream_updates, method="GET", operation=Operation(
        "streamRunUpdates", "Stream a run's progress updates (Server-Sent Events)", _TAGS, schemes=_BEARER,
        responses={200: None}, content_type="text/event-stream",
        params=(_WID, _RID, _SINCE,
                Param("skipHistory", "query", {"type": "boolean", "default": False}, "Only live messages."),
                Param("access_token", "query", {"type": "string"}, "The JWT, for EventSource clients."),
                Param("Last-Event-ID", "header", {"type": "string"}, "Resume after this event id.")),
        errors=(400, 401, 404, 503))),
    ApiRoute(BASE + "/runs/{run_id}/updates", post_update, method="POST", operation=Operation(
        "postRunUpdate", "Publish a progress update", _TAGS, schemes=_BEARER, body=PostUpdate,
        body_required=False, responses={201: Posted},
        params=(Param("run_id", "path", {"type": "string", "format": "uuid"}, "The ID of the Run.", required=True),),
        errors=(400, 401, 404, 413, 422, 503))),
]
