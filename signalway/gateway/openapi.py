"""`/openapi.json`, generated from the routes and the same pydantic models they use."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel
from starlette.routing import BaseRoute

from signalway.gateway.errors import ProblemDetails
from signalway.gateway.routing import ApiRoute

_REF = "#/components/schemas/{model}"
_ERROR_TITLES = {
    400: "Bad request", 401: "Missing or invalid credentials", 404: "Not found", 409: "Conflict", 410: "Gone",
    413: "Payload too large", 415: "Unsupported media type", 422: "Validation failed",
    429: "Rate limited", 431: "Request headers too large", 503: "Backend unavailable or overloaded",
    504: "Outcome unknown: retry with the same Idempotency-Key",
}
# Every operation can be shed by admission control (429/503) or refused for its headers (431);
# whatever writes can time out after reaching the backend (504).
_ANY_OPERATION = (429, 431, 503)
_TEXT = _HTML = {"schema": {"type": "string"}}
_WRITES = (504,)


def _schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template=_REF, mode="serialization")
    for name, definition in schema.pop("$defs", {}).items():
        components[name] = definition
    components[model.__name__] = schema
    return {"$ref": _REF.format(model=model.__name__)}


def build(routes: Iterable[BaseRoute], *, title: str, version: str) -> dict[str, Any]:
    components: dict[str, Any] = {}
    paths: dict[str, dict[str, Any]] = {}
    problem = _schema(ProblemDetails, components)
    for route in routes:
        if not isinstance(route, ApiRoute):
            continue
        op = route.operation
        entry: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary, "tags": list(op.tags)}
        if op.params:
            entry["parameters"] = [
                {"name": p.name, "in": p.location, "required": p.required or p.location == "path",
                 "schema": p.schema, **({"description": p.description} if p.description else {})}
                for p in op.params
            ]
        if op.body is not None:
            entry["requestBody"] = {
                "required": op.body_required,
                "content": {"application/json": {"schema": _schema(op.body, components)}},
            }
        responses: dict[str, Any] = {}
        for status, model in op.responses.items():
            content = {op.content_type: {"schema": _schema(model, components)}} if model else {}
            if model is None and op.content_type.startswith("text/"):
                content = {op.content_type: _TEXT}  # a page or an exposition: text, no JSON schema
            if op.html:
                content["text/html"] = _HTML
            responses[str(status)] = {"description": model.__doc__.strip().splitlines()[0]
                                      if model and model.__doc__ else "OK", **({"content": content} if content else {})}
        admitted = "system" not in op.tags  # the system routes bypass admission control
        writes = admitted and route.method in ("POST", "DELETE", "PUT", "PATCH")
        for status in sorted({*op.errors, *(_ANY_OPERATION if admitted else ()), *(_WRITES if writes else ())}):
            responses[str(status)] = {
                "description": _ERROR_TITLES.get(status, "Error"),
                "content": {"application/problem+json": {"schema": problem}, **({"text/html": _HTML} if op.html else {})},
            }
        if op.security:
            entry["security"] = [{scheme: []} for scheme in op.schemes]
        entry["responses"] = responses
        paths.setdefault(route.path_format, {})[route.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "Authorization"},
            },
        },
    }
