"""Routes that carry their OpenAPI description, and request parsing into pydantic models.

Every route reads its JSON body through `read_json` (and so `parse_json_body`), which is
where hostile JSON is refused with a 400 before any model, encoder or backend sees it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any, NoReturn, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.routing import Route

from signalway.gateway.errors import BadRequest, Unprocessable, UnsupportedMediaType

M = TypeVar("M", bound=BaseModel)

__all__ = [
    "MAX_JSON_DEPTH",
    "MAX_JSON_NUMBER_CHARS",
    "UUID",
    "ApiRoute",
    "Operation",
    "Param",
    "bool_param",
    "int_param",
    "parse_json_body",
    "read_json",
    "read_model",
    "read_optional_model",
    "validate",
    "validation_errors",
]

UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

# Limits on a JSON request body (documented; a body past them is a 400 invalid_request).
# Depth: every later consumer (pydantic, Temporal's payload converter, json.dumps, the history
# renderer) recurses once per level, and ~1,000 levels overflow the interpreter's recursion
# limit; 64 levels of objects+arrays is far beyond any real payload.
MAX_JSON_DEPTH = 64
# Number literals, in characters (sign, digits, '.', exponent): converting a long integer is
# quadratic and CPython refuses past 4,300 digits with a ValueError; 100 characters holds any
# int64/uint64 id and every float that round-trips, with room to spare.
MAX_JSON_NUMBER_CHARS = 100

# A JSON string (escapes included), removed before counting brackets: brackets inside strings
# are text, not nesting. The closing quote is optional so that a match, once started, never
# fails: a failed match would be retried from every escaped quote inside an unterminated
# string, which is quadratic in the body size.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_BRACKET_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}
# `\uD800`-`\uDFFF` escapes: the only way a lone surrogate gets into a parsed str (raw UTF-8
# cannot encode one), and such a str cannot be encoded as UTF-8 by Redis or a response.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
# Where orjson and the strict parser could disagree on a number (see parse_json_body).
_LONG_DIGITS = re.compile(rb"[0-9]{19}")


class _Refused(ValueError):
    """A JSON value the parser hooks refuse; the message is the client-facing reason."""


def _too_deep(body: bytes) -> bool:
    """Whether objects+arrays nest deeper than MAX_JSON_DEPTH; iterative, never recursive."""
    # Fast path for the common small body: fewer brackets than the limit cannot nest past it.
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return False
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    # Running depth at each bracket, computed in C (map/accumulate/max), so a megabyte of
    # brackets costs milliseconds, not a Python loop per byte.
    return max(accumulate(map(_BRACKET_STEP.__getitem__, brackets)), default=0) > MAX_JSON_DEPTH


def _number_literal(text: str) -> None:
    if len(text) > MAX_JSON_NUMBER_CHARS:
        raise _Refused(f"a number literal is longer than {MAX_JSON_NUMBER_CHARS} characters")


def _parse_int(text: str) -> int:
    _number_literal(text)
    return int(text)


def _parse_float(text: str) -> float:
    _number_literal(text)
    value = float(text)
    # `1e999` parses to inf without an error; inf (like NaN) has no JSON form, so a value
    # accepted here could never be written back out.
    if not math.isfinite(value):
        raise _Refused(f"the number {text} is out of range for a double")
    return value


def _parse_constant(name: str) -> NoReturn:
    # Python's json accepts NaN/Infinity/-Infinity, which are not JSON (RFC 8259).
    raise _Refused(f"{name} is not a JSON value")


_DECODER = json.JSONDecoder(parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant)


def _lone_surrogate(value: Any) -> bool:
    """Whether any string (or object key) in a parsed value holds an unpaired UTF-16 surrogate."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def parse_json_body(body: bytes) -> Any:
    """Parse a request body as strict JSON, or raise `BadRequest` naming what was refused.

    Refused: nesting deeper than MAX_JSON_DEPTH, a number literal longer than
    MAX_JSON_NUMBER_CHARS, a float outside double range, NaN/Infinity, unpaired surrogate
    escapes, and anything else that is not JSON. A parsed value never holds NaN or inf, so
    it always encodes back to JSON.
    """
    if _too_deep(body):
        raise BadRequest(
            f"Malformed JSON body: nested deeper than {MAX_JSON_DEPTH} levels of objects and arrays."
        )
    # Fast path (orjson, ~10x faster on a small body) when its answer is provably the one below:
    # orjson refuses NaN/Infinity, out-of-range floats, lone surrogates, BOMs and non-UTF-8 input
    # (any refusal falls through to the strict parser, which names the reason), but it reads an
    # integer past 64 bits as a float, so a body holding 19 consecutive digits anywhere (a long
    # integer, or any literal near MAX_JSON_NUMBER_CHARS) takes the strict parser.
    if not _LONG_DIGITS.search(body):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    try:
        # What json.loads does with bytes, minus building a decoder per call (most of the cost
        # of a small body when hooks are passed as keywords), and decoding strictly: json.loads
        # lets UTF-8-encoded surrogates through ("surrogatepass").
        value = _DECODER.decode(body.decode(json.detect_encoding(body)))
    except _Refused as exc:
        raise BadRequest(f"Malformed JSON body: {exc}.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"Malformed JSON body: {exc}.") from None
    except (RecursionError, ValueError, OverflowError):
        # Defence in depth: the checks above should make these unreachable, and the message
        # of such an error can quote the input, so it is not echoed.
        raise BadRequest(
            "Malformed JSON body: it could not be parsed within the gateway's limits."
        ) from None
    if _SURROGATE_ESCAPE.search(body) and _lone_surrogate(value):
        raise BadRequest("Malformed JSON body: a string holds an unpaired UTF-16 surrogate escape.")
    return value


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
    # Also answers `text/html` (a page for people) when the caller asks for it.
    html: bool = False


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
    return parse_json_body(body)


async def read_model(request: Request, model: type[M]) -> M:
    """A required JSON body validated into `model`."""
    return validate(model, await read_json(request, required=True))


async def read_optional_model(request: Request, model: type[M]) -> M:
    """An optional JSON body validated into `model`; no body is the model's defaults."""
    data = await read_json(request, required=False)
    return validate(model, {} if data is None else data)


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
