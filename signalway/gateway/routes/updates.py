"""Progress updates of a run: publish, poll, and watch live over Server-Sent Events."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, RootModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from signalway.gateway.deps import principal, services
from signalway.gateway.errors import BadRequest, PayloadTooLarge, WorkflowNotFound
from signalway.gateway.routes._params import (
    API_VERSION,
    IDEMPOTENCY_KEY,
    RUN,
    RUN_ID,
    RUNS_BASE,
    WORKFLOW_ID,
    api_wire,
    idempotency_key,
    run_ids,
)
from signalway.gateway.routing import (
    UUID,
    ApiRoute,
    Operation,
    Param,
    bool_param,
    read_json,
    validate,
)
from signalway.gateway.runs_wire import ClientPostUpdate, CompactMessages, Wire
from signalway.gateway.services import updates
from signalway.gateway.sse import EventStream


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


class PostUpdateAnyWire(RootModel[PostUpdate | ClientPostUpdate]):
    """A progress update: in the original format, or with x-api-version the Vertesia clients' (numeric `type`)."""


class UpdateMessagesAnyWire(RootModel[UpdateMessages | CompactMessages]):
    """The run's updates: in the original format, or with x-api-version the Vertesia clients' (compact messages)."""


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
    if not raw.strip().isdigit() or len(raw.strip()) > 18:
        raise BadRequest(f"Last-Event-ID must be an event id this stream sent, got {raw!r}.")
    return int(raw)


async def post_update(request: Request) -> Response:
    svc, who = services(request), principal(request)
    wire = api_wire(request)
    run_id = request.path_params["run_id"]
    if not UUID.match(run_id):
        raise WorkflowNotFound(f"Run {run_id} was not found.")
    body = await request.body()
    if len(body) > svc.settings.max_update_bytes:
        raise PayloadTooLarge(
            f"An update may be at most {svc.settings.max_update_bytes} bytes; this one is {len(body)}."
        )
    data = await read_json(request, required=False)
    message: str | None
    if wire is Wire.CLIENT:
        kind, message, details, workstream_id = validate(ClientPostUpdate, {} if data is None else data).stored(
            run_id.lower())
    else:
        update = validate(PostUpdate, {} if data is None else data)
        kind, message, details, workstream_id = update.type, update.message, update.details, update.workstream_id
    await updates.publish(svc, who, run_id.lower(), type=kind, message=message, details=details,
                          workstream_id=workstream_id, key=idempotency_key(request))
    return JSONResponse({"success": True}, status_code=201)


async def get_updates(request: Request) -> Response:
    svc, who = services(request), principal(request, allow_query_token=True, allow_stream_token=True)
    wire = api_wire(request)
    workflow_id, run_id = run_ids(request)
    payload = await updates.since(svc, who, workflow_id, run_id, _since(request), wire=wire)
    return Response(payload, media_type="application/json")


async def stream_updates(request: Request) -> EventStream:
    wire = api_wire(request)  # before the stream's slot is taken
    svc, who = services(request), principal(request, allow_query_token=True, allow_stream_token=True,
                                            opens_stream=True)
    workflow_id, run_id = run_ids(request)
    last_event_id, since = _last_event_id(request), _since(request)
    skip_history = bool_param(request, "skipHistory", False)
    await updates.open_stream(svc, who, workflow_id, run_id)
    # The lean response (gateway.sse): one ASGI send per frame, the frame encoded once per
    # message for all of the run's streams; pings, the send deadline and the shutdown
    # farewell are looked after by the process's one EventStreams task.
    frames = updates.stream(svc, workflow_id, run_id, last_event_id=last_event_id, since_ms=since,
                            skip_history=skip_history, shutdown=svc.event_streams.shutdown, wire=wire)
    return EventStream(frames, svc.event_streams)


_SINCE = Param("since", "query", {"type": "number", "default": 0}, "Messages after this timestamp (ms).")
_BEARER = ("bearer",)
_TAGS = ("updates",)

ROUTES = [
    ApiRoute(RUN + "/updates", get_updates, method="GET", operation=Operation(
        "getRunUpdates", "Get a run's progress updates", _TAGS, schemes=_BEARER,
        responses={200: UpdateMessagesAnyWire}, params=(WORKFLOW_ID, RUN_ID, _SINCE, API_VERSION),
        errors=(400, 401, 404, 503))),
    ApiRoute(RUN + "/stream", stream_updates, method="GET", operation=Operation(
        "streamRunUpdates", "Stream a run's progress updates (Server-Sent Events)", _TAGS, schemes=_BEARER,
        responses={200: None}, content_type="text/event-stream",
        params=(WORKFLOW_ID, RUN_ID, _SINCE,
                Param("skipHistory", "query", {"type": "boolean", "default": False},
                      "Only live messages, unless `since` > 0 or Last-Event-ID says where to resume."),
                Param("access_token", "query", {"type": "string"}, "The JWT, for EventSource clients."),
                Param("Last-Event-ID", "header", {"type": "string", "pattern": "^[0-9]{1,18}$"},
                      "Resume after this event id."), API_VERSION),
        errors=(400, 401, 404, 429, 503))),
    ApiRoute(RUNS_BASE + "/runs/{run_id}/updates", post_update, method="POST", operation=Operation(
        "postRunUpdate", "Publish a progress update", _TAGS, schemes=_BEARER, body=PostUpdateAnyWire,
        body_required=False, responses={201: Posted}, params=(RUN_ID, IDEMPOTENCY_KEY, API_VERSION),
        errors=(400, 401, 404, 409, 413, 422, 429, 503))),
]
