"""Routes that carry their OpenAPI description, and request parsing into pydantic models."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.routing import Route

from gateway.errors import BadRequest, Unprocessable, UnsupportedMediaType

M = TypeVar("M", bound=BaseModel)

UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@dataclass(frozen=True)
class Param:
    name: str
    location: str  # "path" | "query" | "header"
    schema: dict[str, Any]
    description: str = ""
    required: bool = False


@dataclass(frozen=True)
class Operation:
    operation_id: str
    summary: str
    tags: Sequence[str] = ()
    body: type[BaseModel] | None = None
    body_required: bool = True
    responses: dict[int, type[BaseModel] | None] = field(default_factory=dict)
    params: Sequence[Param] = ()
    errors: Sequence[int] = ()
    security: bool = True
    schemes: Sequence[str] = ("bearer", "apiKey")
    content_type: str = "application/json"


class ApiRoute(Route):
    """A Starlette route that also describes itself for `/openapi.json`."""

    def __init__(self, path: str, endpoint: Callable[..., Any], *, method: str, operation: Operation) -> None:
        super().__init__(path, endpoint, methods=[method], name=operation.operation_id)
        self.method = method
        self.operation = operation


def validation_errors(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": list(err["loc"]), "msg": err["msg"], "type": err["type"]}
        for err in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


def validate(model: type[M], data: Any, *, what: str = "request body") -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = validation_errors(exc)
        first = errors[0]
        where = ".".join(str(p) for p in first["loc"]) or what
        raise Unprocessable(
            f"Invalid {what}: {where}: {first['msg']}.", errors=errors
        ) from None


async def read_json(request: Request, *, required: bool = True) -> Any:
    """The request body as JSON; an empty body is `None` when not required."""
    body = await request.body()
    if not body.strip():
        if required:
            raise BadRequest("A JSON request body is required.")
        return None
    # Lenient on purpose: `curl -d` sends form-urlencoded by default and existing clients do
    # not always set a type; anything that parses as JSON is accepted, multipart is not.
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type.startswith("multipart/"):
        raise UnsupportedMediaType(f"Send the body as application/json, not {content_type}.")
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"Malformed JSON body: {exc}.") from None


async def read_model(request: Request, model: type[M], *, required: bool = True) -> M | None:
    data = await read_json(request, required=required)
    if data is None and not required:
        return None
    return validate(model, data)


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"Query parameter {name} must be an integer, got {raw!r}.") from None
    if not low <= value <= high:
        raise BadRequest(f"Query parameter {name} must be between {low} and {high}, got {value}.")
    return value


def bool_param(request: Request, name: str, default: bool) -> bool:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("true", "1", "yes"):
        return True
    if raw.lower() in ("false", "0", "no"):
        return False
    raise BadRequest(f"Query parameter {name} must be true or false, got {raw!r}.")
