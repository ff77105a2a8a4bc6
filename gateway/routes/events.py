"""Event triggers for durable waits (seed 004): `/v1/events`, plus what a run waits for."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.auth import Principal
from gateway.deps import Services, principal, services
from gateway.errors import (
    BackendUnavailable,
    BadRequest,
    Conflict,
    NotFound,
    Problem,
    WorkflowClosed,
    WorkflowNotFound,
)
from gateway.routes._handlers import fingerprint, idempotency_key, once
from gateway.routes.runs import RUN, describe_run, run_ids
from gateway.routing import ApiRoute, Operation, Param, int_param, read_json, read_model
from gateway.temporal_service import NoWorkerAnswered
from signalway.triggers import STATUSES, Trigger, iso_us, now_us
from workflows.event_wait import TRIGGER_SIGNAL, TriggerMessage

BASE = "/v1/events"
MAX_KEY = 1024
MAX_PREFIX = 512
_SOURCE_TYPES = ("workflow_step", "job_run")


class TriggerOut(BaseModel):
    """An event trigger, as seed 004 shows it."""

    id: str
    event_key: str
    project_id: str
    source_type: str
    workflow_run_id: str | None = None
    workflow_step_run_id: str | None = None
    job_run_id: str | None = None
    status: str
    request_payload: Any = None
    response_payload: Any = None
    timeout_secs: float | None = None
    requested_at: str | None = None
    received_at: str | None = None
    expires_at: str | None = None
    error: str | None = None


class TriggerPage(BaseModel):
    data: list[TriggerOut]
    has_more: bool
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page (date-time).")


class TriggerStats(BaseModel):
    total_count: int
    waiting_count: int
    received_count: int
    timed_out_count: int
    canceled_count: int
    avg_wait_duration_secs: float


class PrefixResult(BaseModel):
    resolved: int
    triggers: list[TriggerOut]
    dry_run: bool = False
    would_resolve: int | None = None


class PurgeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    older_than_days: float = Field(ge=0, le=3650, description="Terminal triggers settled this long ago or more.")
    dry_run: bool = False


class PurgeResult(BaseModel):
    deleted: int
    dry_run: bool
    would_delete: int


class RegisterJobTrigger(BaseModel):
    """A trigger for a job that is not a workflow: it waits on the trigger's SSE stream."""

    model_config = ConfigDict(extra="forbid")

    event_key: str = Field(min_length=1, max_length=MAX_KEY)
    job_run_id: str = Field(min_length=1, max_length=200)
    timeout_secs: float = Field(3600, gt=0, le=365 * 24 * 3600)
    request_payload: Any = None


class HeldEvent(BaseModel):
    event_key: str
    status: str = "held"
    payload: Any = None
    expires_at: str | None = None


class HeldEvents(BaseModel):
    data: list[HeldEvent]


# -- helpers ---------------------------------------------------------------------------------


def _who(request: Request) -> Principal:
    return principal(request, allow_api_key=True)


def _key(request: Request, name: str = "eventKey", limit: int = MAX_KEY) -> str:
    key = request.path_params[name]
    if not 0 < len(key) <= limit:
        raise BadRequest(f"{name} must be 1 to {limit} characters.")
    return key


def _missing(key: str) -> NotFound:
    return NotFound(f"No event trigger has the key {key!r} in this project.")


def _early_allowed(svc: Services, key: str) -> bool:
    return any(key.startswith(p) for p in svc.settings.early_event_prefixes)


async def _payload_text(request: Request) -> tuple[Any, str]:
    payload = await read_json(request, required=False)
    return payload, json.dumps(payload, separators=(",", ":"))


async def _signal(svc: Services, trigger: Trigger, message: TriggerMessage) -> None:
    if trigger.source_type != "workflow_step" or not trigger.workflow_id or not trigger.workflow_run_id:
        return  # a job waits on the stream; nothing to signal
    # No receipt lookup: the trigger itself records the delivery.
    await svc.temporal.signal(trigger.workflow_id, trigger.workflow_run_id, TRIGGER_SIGNAL, [message],
                              request_id=f"trigger-{trigger.id}-{message.action}", receipt=False)


async def _send_one(svc: Services, project: str, key: str, payload: Any, text: str) -> Trigger | None:
    """Resolve one key's waiting trigger exactly once; None when the key has no trigger."""
    fp = fingerprint(payload)
    with svc.redis.errors():
        outcome, id, earlier, trigger = await svc.triggers.send(project, key, text, fp)
    if outcome == "missing" or trigger is None:
        return None
    if outcome == "received-now":
        try:
            await _signal(svc, trigger, TriggerMessage(event_key=key, action="received", payload=payload))
        except (WorkflowClosed, WorkflowNotFound):
            with svc.redis.errors():
                await svc.triggers.unsend(project, id, fp)
                await svc.triggers.settle(project, id, "canceled", error="the waiting workflow is no longer running")
            raise Conflict(f"The workflow waiting for {key!r} is no longer running; the trigger was canceled.") from None
        except Problem:
            # Nothing reached the workflow: the trigger waits again, and the send can be retried.
            with svc.redis.errors():
                await svc.triggers.unsend(project, id, fp)
            raise
        return trigger
    if outcome == "received" and earlier == fp:
        return trigger  # the same event again: answered, not sent twice
    if outcome == "received":
        raise Conflict(f"The trigger {key!r} already received a different payload.")
    raise Conflict(f"The trigger {key!r} is {outcome}; it takes no event.")


def _out(trigger: Trigger) -> dict[str, Any]:
    return TriggerOut(**trigger.wire()).model_dump(mode="json")


# -- routes ----------------------------------------------------------------------------------


async def list_triggers(request: Request) -> Response:
    svc = services(request)
    who = _who(request)
    params = request.query_params
    project = params.get("project_id") or who.project
    status = params.get("status")
    if status is not None and status not in STATUSES:
        raise BadRequest(f"status must be one of {', '.join(STATUSES)}, got {status!r}.")
    source_type = params.get("source_type")
    if source_type is not None and source_type not in _SOURCE_TYPES:
        raise BadRequest(f"source_type must be one of {', '.join(_SOURCE_TYPES)}, got {source_type!r}.")
    run_id = params.get("workflow_run_id")
    limit = int_param(request, "limit", 50, 1, 500)
    before = None
    if params.get("cursor"):
        try:
            cursor = datetime.fromisoformat(params["cursor"].replace("Z", "+00:00"))
        except ValueError:
            raise BadRequest("cursor must be the date-time of the last item of the previous page.") from None
        before = int((cursor if cursor.tzinfo else cursor.replace(tzinfo=UTC)).timestamp() * 1_000_000)
    if project != who.project:
        return JSONResponse(TriggerPage(data=[], has_more=False).model_dump())  # another project: nothing
    found: list[Trigger] = []
    scanned = 0
    has_more = False
    with svc.redis.errors():
        while not has_more and scanned < 20_000:
            page = await svc.triggers.page(project, before_us=before, batch=200)
            if not page:
                break
            scanned += len(page)
            for id, score in page:
                before = score
                trigger = await svc.triggers.get(project, id)
                if trigger is None:
                    continue
                wire = trigger.wire()
                if (status and wire["status"] != status) or (source_type and trigger.source_type != source_type) \
                        or (run_id and trigger.workflow_run_id != run_id):
                    continue
                if len(found) == limit:
                    has_more = True
                    break
                found.append(trigger)
    next_cursor = iso_us(found[-1].requested_us) if has_more and found else None
    return JSONResponse(TriggerPage(data=[TriggerOut(**t.wire()) for t in found], has_more=has_more,
                                    next_cursor=next_cursor).model_dump(mode="json"))


async def register_job_trigger(request: Request) -> Response:
    svc = services(request)
    who = _who(request)
    body = await read_model(request, RegisterJobTrigger)
    assert body is not None
    requested = now_us()
    with svc.redis.errors():
        registered = await svc.triggers.register(
            project=who.project, id=str(uuid.uuid4()), event_key=body.event_key, source_type="job_run",
            workflow_id=None, run_id=None, step_run_id=None, job_run_id=body.job_run_id,
            request_payload=body.request_payload, timeout_secs=body.timeout_secs, requested_us=requested,
            expires_us=requested + int(body.timeout_secs * 1_000_000),
        )
        if registered.status == "conflict":
            raise Conflict(f"Another trigger already waits for {body.event_key!r}.")
        trigger = await svc.triggers.by_key(who.project, body.event_key)
    assert trigger is not None
    return JSONResponse(_out(trigger), status_code=201)


async def stats(request: Request) -> Response:
    svc = services(request)
    who = _who(request)
    with svc.redis.errors():
        figures = await svc.triggers.stats(who.project)
    return JSONResponse(TriggerStats(**figures).model_dump())


async def purge(request: Request) -> Response:
    svc = services(request)
    who = _who(request)
    body = await read_model(request, PurgeBody)
    assert body is not None
    cutoff = now_us() - int(body.older_than_days * 86_400 * 1_000_000)
    with svc.redis.errors():
        count = await svc.triggers.purge(who.project, older_than_us=cutoff, dry_run=body.dry_run)
    result = PurgeResult(deleted=0 if body.dry_run else count, dry_run=body.dry_run, would_delete=count)
    return JSONResponse(result.model_dump())


async def _keyed(request: Request) -> tuple[Services, Principal, str, Trigger]:
    svc = services(request)
    who = _who(request)
    key = _key(request)
    with svc.redis.errors():
        trigger = await svc.triggers.by_key(who.project, key)
    if trigger is None:
        raise _missing(key)
    return svc, who, key, trigger


async def get_trigger(request: Request) -> Response:
    *_, trigger = await _keyed(request)
    return JSONResponse(_out(trigger))


async def cancel_trigger(request: Request) -> Response:
    svc, who, key, trigger = await _keyed(request)
    with svc.redis.errors():
        outcome = await svc.triggers.settle(who.project, trigger.id, "canceled", error="canceled by " + who.initiated_by)
    if outcome not in ("ok", "canceled"):
        raise Conflict(f"The trigger {key!r} is {outcome}; only a waiting trigger can be canceled.")
    try:
        await _signal(svc, trigger, TriggerMessage(event_key=key, action="canceled"))
    except (WorkflowClosed, WorkflowNotFound):
        pass  # the run ended meanwhile: the trigger is canceled either way
    with svc.redis.errors():
        current = await svc.triggers.get(who.project, trigger.id)
    return JSONResponse(_out(current or trigger))


async def send_event(request: Request) -> Response:
    svc = services(request)
    who = _who(request)
    key = _key(request)
    payload, text = await _payload_text(request)

    async def send(_: str | None) -> dict[str, Any]:
        trigger = await _send_one(svc, who.project, key, payload, text)
        if trigger is not None:
            return {"status": 200, "body": _out(trigger)}
        if not _early_allowed(svc, key):
            raise _missing(key)
        with svc.redis.errors():
            expires = await svc.triggers.hold(who.project, key, text, ttl_seconds=svc.settings.early_event_ttl_seconds)
        held = HeldEvent(event_key=key, payload=payload, expires_at=iso_us(expires))
        return {"status": 202, "body": held.model_dump()}

    answer = await once(svc, project=who.project, scope=f"event-send:{key}", key=idempotency_key(request),
                        request_fingerprint=lambda: fingerprint(key, payload), action=send)
    return JSONResponse(answer["body"], status_code=answer["status"])


async def send_prefix(request: Request) -> Response:
    svc = services(request)
    who = _who(request)
    key_prefix = _key(request, "prefix", MAX_PREFIX)
    dry_run = request.query_params.get("dry_run", "false").lower() in ("true", "1", "yes")
    payload, text = await _payload_text(request)
    with svc.redis.errors():
        keys = await svc.triggers.waiting_keys(who.project, key_prefix)
    if dry_run:
        with svc.redis.errors():
            triggers = [t for t in [await svc.triggers.by_key(who.project, k) for k in keys] if t is not None]
        return JSONResponse(PrefixResult(resolved=0, dry_run=True, would_resolve=len(triggers),
                                         triggers=[TriggerOut(**t.wire()) for t in triggers]).model_dump(mode="json"))
    limit = asyncio.Semaphore(64)

    async def one(key: str) -> tuple[bool, dict[str, Any] | None]:
        async with limit:
            try:
                trigger = await _send_one(svc, who.project, key, payload, text)
            except Problem as exc:
                with svc.redis.errors():
                    current = await svc.triggers.by_key(who.project, key)
                return False, ({**_out(current), "error": exc.detail} if current else None)
            if trigger is None:
                return False, None
            return True, _out(trigger)

    results = await asyncio.gather(*[one(k) for k in keys])
    resolved = sum(1 for ok, _ in results if ok)
    triggers = [t for _, t in results if t is not None]
    return JSONResponse({"resolved": resolved, "triggers": triggers, "dry_run": False, "would_resolve": None})


async def stream_trigger(request: Request) -> Response:
    svc = services(request)
    who = principal(request, allow_api_key=True, allow_query_token=True)
    key = _key(request)
    with svc.redis.errors():
        first = await svc.triggers.by_key(who.project, key)
    if first is None:
        raise _missing(key)

    async def frames() -> AsyncIterator[ServerSentEvent]:
        last: dict[str, Any] | None = None
        trigger: Trigger | None = first
        while trigger is not None:
            wire = _out(trigger)
            if wire != last:
                yield ServerSentEvent(data=json.dumps(wire, separators=(",", ":")), id=wire["status"])
                last = wire
            if wire["status"] != "waiting":
                return  # terminal: the stream ends
            await asyncio.sleep(0.2)
            try:
                with svc.redis.errors():
                    trigger = await svc.triggers.get(who.project, first.id)
            except BackendUnavailable:
                return

    return EventSourceResponse(frames(), ping=svc.settings.sse_ping_seconds, send_timeout=30)


async def list_held(request: Request) -> Response:
    svc = services(request)
    who = _who(request)
    with svc.redis.errors():
        held = await svc.triggers.held(who.project)
    return JSONResponse(HeldEvents(data=[HeldEvent(**h) for h in held]).model_dump())


async def drop_held(request: Request) -> Response:
    svc = services(request)
    who = _who(request)
    key = _key(request)
    with svc.redis.errors():
        dropped = await svc.triggers.drop_held(who.project, key)
    if not dropped:
        raise NotFound(f"No early event is held for {key!r}.")
    return Response(status_code=204)


async def run_waits(request: Request) -> Response:
    """What a run is waiting for: open triggers, open resume URLs, the signals it accepts."""
    svc = services(request)
    who = principal(request)
    workflow_id, run_id = run_ids(request)
    desc = await describe_run(svc, who, workflow_id, run_id)
    with svc.redis.errors():
        triggers = [t for t in await svc.triggers.of_run(who.project, run_id) if t.wire()["status"] == "waiting"]
        steps = [s for s in await svc.resume.of_run(run_id) if s.status == "waiting"]
    body: dict[str, Any] = {
        "workflow_id": workflow_id, "run_id": run_id, "status": desc.status.name if desc.status else None,
        "triggers": [{"event_key": t.event_key, "id": t.id, "expires_at": iso_us(t.expires_us),
                      "send": f"{BASE}/{t.event_key}/send"} for t in triggers],
        "resume_urls": [{"step": s.step, "variables": s.variables,
                         "deadline": iso_us(s.deadline_ms * 1000) if s.deadline_ms else None} for s in steps],
        "signals": [], "updates": [],
    }
    if desc.status is not None and desc.status.name == "RUNNING":
        try:
            handlers = await svc.temporal.handlers(workflow_id, run_id)
            body["signals"] = [n for n in handlers.signals.names if not n.startswith("signalway_")]
            body["updates"] = list(handlers.updates.names)
        except NoWorkerAnswered:
            body["signals_unknown"] = "no worker answered; the run's signals cannot be listed right now"
    return JSONResponse(body)


_KEY = Param("eventKey", "path", {"type": "string", "maxLength": MAX_KEY}, required=True)
_TAGS = ("events",)
_E = (400, 401, 404, 503)

ROUTES = [
    ApiRoute(BASE, list_triggers, method="GET", operation=Operation(
        "listEventTriggers", "List event triggers for a project", _TAGS, responses={200: TriggerPage},
        params=(Param("project_id", "query", {"type": "string"}, "Defaults to the caller's project."),
                Param("status", "query", {"type": "string", "enum": list(STATUSES)}),
                Param("workflow_run_id", "query", {"type": "string"}),
                Param("source_type", "query", {"type": "string", "enum": list(_SOURCE_TYPES)}),
                Param("limit", "query", {"type": "integer", "default": 50, "minimum": 1, "maximum": 500}),
                Param("cursor", "query", {"type": "string", "format": "date-time"})), errors=(400, 401, 503))),
    ApiRoute(BASE, register_job_trigger, method="POST", operation=Operation(
        "registerJobTrigger", "Register a trigger for a job (not a workflow)", _TAGS, body=RegisterJobTrigger,
        responses={201: TriggerOut}, errors=(400, 401, 409, 422, 503))),
    ApiRoute(BASE + "/stats", stats, method="GET", operation=Operation(
        "eventTriggerStats", "Counts per status and the average wait", _TAGS, responses={200: TriggerStats},
        errors=(401, 503))),
    ApiRoute(BASE + "/purge", purge, method="POST", operation=Operation(
        "purgeEventTriggers", "Purge terminal event triggers", _TAGS, body=PurgeBody,
        responses={200: PurgeResult}, errors=(400, 401, 422, 503))),
    ApiRoute(BASE + "/prefix/{prefix}/send", send_prefix, method="POST", operation=Operation(
        "sendEventByPrefix", "Send an event to all waiting triggers matching a prefix", _TAGS,
        body_required=False, responses={200: PrefixResult},
        params=(Param("prefix", "path", {"type": "string", "maxLength": MAX_PREFIX}, required=True),
                Param("dry_run", "query", {"type": "boolean", "default": False}, "List what would be resolved.")),
        errors=_E)),
    ApiRoute(BASE + "/{eventKey}", get_trigger, method="GET", operation=Operation(
        "getEventTrigger", "Get an event trigger", _TAGS, responses={200: TriggerOut}, params=(_KEY,), errors=_E)),
    ApiRoute(BASE + "/{eventKey}", cancel_trigger, method="DELETE", operation=Operation(
        "cancelEventTrigger", "Cancel a waiting trigger", _TAGS, responses={200: TriggerOut}, params=(_KEY,),
        errors=(*_E, 409))),
    ApiRoute(BASE + "/{eventKey}/send", send_event, method="POST", operation=Operation(
        "sendEvent", "Send an event to a waiting trigger", _TAGS, body_required=False,
        responses={200: TriggerOut, 202: HeldEvent},
        params=(_KEY, Param("Idempotency-Key", "header", {"type": "string", "maxLength": 255})),
        errors=(*_E, 409, 413))),
    ApiRoute(BASE + "/{eventKey}/stream", stream_trigger, method="GET", operation=Operation(
        "streamEventTrigger", "Stream event trigger status updates via SSE", _TAGS, responses={200: None},
        content_type="text/event-stream", params=(_KEY,), errors=_E)),
    ApiRoute("/v1/early-events", list_held, method="GET", operation=Operation(
        "listEarlyEvents", "Events held for waits that do not exist yet", _TAGS, responses={200: HeldEvents},
        errors=(401, 503))),
    ApiRoute("/v1/early-events/{eventKey}", drop_held, method="DELETE", operation=Operation(
        "dropEarlyEvent", "Drop a held early event", _TAGS, responses={204: None}, params=(_KEY,), errors=_E)),
    ApiRoute(RUN + "/waits", run_waits, method="GET", operation=Operation(
        "getRunWaits", "What a run is waiting for", ("runs",), schemes=("bearer",), responses={200: None},
        params=(Param("workflow_id", "path", {"type": "string"}, required=True),
                Param("run_id", "path", {"type": "string", "format": "uuid"}, required=True)), errors=_E)),
]
