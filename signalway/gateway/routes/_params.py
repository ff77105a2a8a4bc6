"""Path, query and header parameters the route modules share, and their OpenAPI entries."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel
from starlette.convertors import StringConvertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from signalway.gateway.deps import services
from signalway.gateway.errors import BadRequest
from signalway.gateway.routing import UUID, Param
from signalway.gateway.runs_wire import API_VERSION_HEADER, CLIENT_API_VERSION, Wire, wire_of


class _RunIdConvertor(StringConvertor):
    """A run id segment that is not `updates`: `/runs/{run_id}/updates` (POST) is its own
    resource, not the details of a run named `updates` of a workflow named `{run_id}`."""

    regex = "(?!updates$)[^/]+"


register_url_convertor("run_id", _RunIdConvertor())

RUNS_BASE = "/api/v1/workflows"
RUN = RUNS_BASE + "/runs/{workflow_id}/{run_id:run_id}"

WORKFLOW_ID = Param("workflow_id", "path", {"type": "string", "minLength": 1, "maxLength": 1000},
                    "The ID of the Workflow.", required=True)
RUN_ID = Param("run_id", "path", {"type": "string", "format": "uuid"}, "The ID of the Run.", required=True)
IDEMPOTENCY_KEY = Param("Idempotency-Key", "header", {"type": "string", "minLength": 1, "maxLength": 255},
                        "Retries with the same key and body act once.")
PREFER = Param("Prefer", "header", {"type": "string"},
               "`return=representation` (RFC 7240): answer with the history event id that recorded the "
               "signal (`event_id`), at the cost of one more Temporal read; otherwise `event_id` is null.")

API_VERSION = Param(
    "x-api-version", "header", {"type": "string", "pattern": "^[0-9]{8}$"},
    f"An API version date `YYYYMMDD` (the published Vertesia clients send `{CLIENT_API_VERSION}`): the "
    "answer is in the format those clients parse. Without it, the API's original format. Malformed: 400.",
)


def api_wire(request: Request) -> Wire:
    """The wire the runs API answers this request in (`gateway.runs_wire`): its `x-api-version`,
    else the gateway's `SIGNALWAY_RUNS_DEFAULT_API_VERSION`, else seed 001's; 400 when malformed."""
    version = request.headers.get(API_VERSION_HEADER)
    if version is None:
        version = services(request).settings.runs_default_api_version
    return wire_of(version)


def run_ids(request: Request) -> tuple[str, str]:
    """`{workflow_id}/{run_id}` of the runs surface; run ids are UUIDs in any case."""
    workflow_id = request.path_params["workflow_id"]
    run_id = request.path_params["run_id"]
    if not 0 < len(workflow_id) <= 1000:
        raise BadRequest("workflow_id must be 1 to 1000 characters.")
    if not UUID.match(run_id):
        raise BadRequest(f"run_id must be a UUID, got {run_id!r}.")
    return workflow_id, run_id.lower()


def uuid_param(request: Request, name: str) -> str:
    """A UUID path parameter in any case; Temporal sees the lower-case form."""
    raw = request.path_params[name]
    if not UUID.match(raw):
        raise BadRequest(f"{name} must be a UUID, got {raw!r}.")
    return str(raw).lower()


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is not None and not 0 < len(key) <= 255:
        raise BadRequest("Idempotency-Key must be 1 to 255 characters.")
    return key


def return_preference(request: Request) -> str | None:
    """`representation` or `minimal` when the caller's `Prefer` header (RFC 7240) asks for one.

    A signal's delivery receipt (the history event id) costs one Temporal read, which doubles
    Temporal's work per signal, so it is given only on `Prefer: return=representation`.
    """
    prefer = request.headers.get("prefer")
    if not prefer:
        return None
    chosen = None
    # Preferences are comma-separated, each `token[=value]` with `;`-parameters; the first
    # `return` wins (RFC 7240 §2: a repeated preference is ignored).
    for preference in prefer.split(","):
        name, _, value = preference.split(";", 1)[0].partition("=")
        if name.strip().lower() == "return":
            chosen = value.strip().strip('"').lower()
            break
    return chosen if chosen in ("representation", "minimal") else None


def preference_applied(preference: str | None) -> dict[str, str] | None:
    """The `Preference-Applied` header that confirms a `return` preference the answer honoured."""
    return {"Preference-Applied": f"return={preference}"} if preference else None


def fast_json_response(value: dict[str, str | int | None], status: int = 200,
                       headers: dict[str, str] | None = None) -> Response:
    """A small JSON object of strings, ints and nulls, encoded with orjson (hot routes only).

    The same bytes `JSONResponse` would send, without its generic encoder's per-call cost.
    """
    return Response(orjson.dumps(value), status_code=status, headers=headers, media_type="application/json")


def json_response(value: BaseModel | list[BaseModel] | Any, status: int = 200,
                  headers: dict[str, str] | None = None) -> Response:
    """A model (or a list of models, or plain JSON) as the response body."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    elif isinstance(value, list) and value and isinstance(value[0], BaseModel):
        value = [item.model_dump(mode="json") for item in value]
    return JSONResponse(value, status_code=status, headers=headers)
