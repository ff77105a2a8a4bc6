"""Path, query and header parameters the route modules share, and their OpenAPI entries."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from starlette.convertors import StringConvertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.errors import BadRequest
from gateway.routing import UUID, Param


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


def wants_receipt(request: Request) -> bool:
    """A delivery receipt costs one Temporal read; `Prefer: return=minimal` (RFC 7240) skips it."""
    prefer = request.headers.get("prefer", "")
    return "return=minimal" not in prefer.replace(" ", "").lower()


def json_response(value: BaseModel | list[BaseModel] | Any, status: int = 200,
                  headers: dict[str, str] | None = None) -> Response:
    """A model (or a list of models, or plain JSON) as the response body."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    elif isinstance(value, list) and value and isinstance(value[0], BaseModel):
        value = [item.model_dump(mode="json") for item in value]
    return JSONResponse(value, status_code=status, headers=headers)
