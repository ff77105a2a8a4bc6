"""Event triggers for durable waits (the event triggers API): `/v1/events`, plus what a run waits for."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from signalway.gateway.auth import Principal
from signalway.gateway.deps import principal, services
from signalway.gateway.errors import BadRequest, NotFound
from signalway.gateway.routes._params import RUN, RUN_ID, WORKFLOW_ID, idempotency_key, run_ids
from signalway.gateway.routing import (
    ApiRoute,
    Operation,
    Param,
    bool_param,
    int_param,
    read_json,
    read_model,
)
from signalway.gateway.services import events
from signalway.triggers import STATUSES, Trigger, iso_us, now_us

BASE = "/v1/events"
MAX_KEY = 1024
MAX_PREFIX = 512
_SOURCE_TYPES = ("workflow_step", "job_run")


class TriggerOut(BaseModel):
    """An event trigger, as the event triggers API shows it."""

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
    truncated: bool = Field(False, description="Some triggers were left out of `triggers` to keep the answer within "
                                               "the gateway's bound on payload bytes per answer; the counts are whole.")


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


# -- routes ----------------------------------------------------------------------------------


def _caller(request: Request) -> Principal:
    """The caller of the event API: a Bearer JWT or the project API key."""
    return principal(request, allow_api_key=True)


def _key(request: Request, name: str = "eventKey", limit: int = MAX_KEY) -> str:
    key: str = request.path_params[name]
    if not 0 < len(key) <= limit:
        raise BadRequest(f"{name} must be 1 to {limit} characters.")
    return key


def _out(trigger: Trigger) -> dict[str, Any]:
    return TriggerOut(**trigger.as_api()).model_dump(mode="json")


def _cursor(request: Request) -> int | None:
    raw = request.query_params.get("cursor")
    if not raw:
        return None
    try:
        cursor = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest("cursor must be the date-time of the last item of the previous page.") from None
    return int((cursor if cursor.tzinfo else cursor.replace(tzinfo=UTC)).timestamp() * 1_000_000)


def _choice(request: Request, name: str, allowed: tuple[str, ...]) -> str | None:
    value = request.query_params.get(name)
    if value is not None and value not in allowed:
        raise BadRequest(f"{name} must be one of {', '.join(allowed)}, got {value!r}.")
    return value


async def list_triggers(request: Request) -> Response:
    svc, who = services(request), _caller(request)
    status, source_type = _choice(request, "status", STATUSES), _choice(request, "source_type", _SOURCE_TYPES)
    limit, before = int_param(request, "limit", 50, 1, 500), _cursor(request)
    if (request.query_params.get("project_id") or who.project) != who.project:
        return JSONResponse(TriggerPage(data=[], has_more=False).model_dump())  # another project: nothing
    found, has_more = await events.page(svc, who, status=status, source_type=source_type, limit=limit,
                                        run_id=request.query_params.get("workflow_run_id"), before_us=before)
    next_cursor = iso_us(found[-1].requested_us) if has_more and found else None
    return JSONResponse(TriggerPage(data=[TriggerOut(**t.as_api()) for t in found], has_more=has_more,
                                    next_cursor=next_cursor).model_dump(mode="json"))


async def register_job_trigger(request: Request) -> Response:
    svc, who = services(request), _caller(request)
    body = await read_model(request, RegisterJobTrigger)
    trigger = await events.register_job(svc, who, event_key=body.event_key, job_run_id=body.job_run_id,
                                        timeout_secs=body.timeout_secs, request_payload=body.request_payload)
    return JSONResponse(_out(trigger), status_code=201)


async def stats(request: Request) -> Response:
    svc, who = services(request), _caller(request)
    return JSONResponse(TriggerStats(**await svc.triggers.stats(who.project)).model_dump())


async def purge(request: Request) -> Response:
    svc, who = services(request), _caller(request)
    body = await read_model(request, PurgeBody)
    cutoff = now_us() - int(body.older_than_days * 86_400 * 1_000_000)
    count = await svc.triggers.purge(who.project, older_than_us=cutoff, dry_run=body.dry_run)
    result = PurgeResult(deleted=0 if body.dry_run else count, dry_run=body.dry_run, would_delete=count)
    return JSONResponse(result.model_dump())


async def get_trigger(request: Request) -> Response:
    svc, who = services(request), _caller(request)
    return JSONResponse(_out(await events.by_key(svc, who, _key(request))))


async def cancel_trigger(request: Request) -> Response:
    svc, who = services(request), _caller(request)
    return JSONResponse(_out(await events.cancel(svc, who, _key(request))))


async def send_event(request: Request) -> Response:
    svc, who = services(request), _caller(request)
    key = _key(request)
    payload = await read_json(request, required=False)
    status, body = await events.send(svc, who, key, payload, idempotency_key=idempotency_key(request))
    return JSONResponse(TriggerOut(**body).model_dump(mode="json") if status == 200 else HeldEvent(**body).model_dump(),
                        status_code=status)


async def send_prefix(request: Request) -> Response:
    svc, who = services(request), _caller(request)
    key_prefix = _key(request, "prefix", MAX_PREFIX)
    dry_run = bool_param(request, "dry_run", False)
    payload = await read_json(request, required=False)
    if dry_run:
        count, waiting = await events.waiting_with_prefix(svc, who, key_prefix)
        return JSONResponse(PrefixResult(resolved=0, dry_run=True, would_resolve=count, truncated=len(waiting) < count,
                                         triggers=[TriggerOut(**t.as_api()) for t in waiting]).model_dump(mode="json"))
    resolved, settled, truncated = await events.send_prefix(svc, who, key_prefix, payload)
    return JSONResponse(PrefixResult(resolved=resolved, triggers=[TriggerOut(**t) for t in settled],
                                     truncated=truncated).model_dump(mode="json"))


async def stream_trigger(request: Request) -> Response:
    svc = services(request)
    who = principal(request, allow_api_key=True, allow_query_token=True, opens_stream=True)
    first = await events.by_key(svc, who, _key(request))

    async def frames() -> AsyncIterator[ServerSentEvent]:
        async for trigger in events.watch(svc, who, first):
            wire = _out(trigger)
            yield ServerSentEvent(data=json.dumps(wire, separators=(",", ":")), id=wire["status"])

    return EventSourceResponse(frames(), ping=svc.settings.sse_ping_seconds, send_timeout=30)


async def list_held(request: Request) -> Response:
    svc, who = services(request), _caller(request)
    held = await svc.triggers.held(who.project)
    return JSONResponse(HeldEvents(data=[HeldEvent(**h) for h in held]).model_dump())


async def drop_held(request: Request) -> Response:
    svc, who = services(request), _caller(request)
    key = _key(request)
    if not await svc.triggers.drop_held(who.project, key):
        raise NotFound(f"No early event is held for {key!r}.")
    return Response(status_code=204)


async def run_waits(request: Request) -> Response:
    """What a run is waiting for: open triggers, open resume URLs, the signals it accepts."""
    svc, who = services(request), principal(request)
    return JSONResponse(await events.run_waits(svc, who, *run_ids(request)))


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
        responses={201: TriggerOut}, errors=(400, 401, 409, 413, 422, 429, 503))),
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
        errors=(*_E, 413))),
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
        params=(WORKFLOW_ID, RUN_ID), errors=_E)),
]
