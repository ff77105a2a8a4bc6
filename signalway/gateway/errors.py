"""The gateway's error tree, and the one place errors become HTTP responses.

Every error is an RFC 9457 problem (`application/problem+json`) in the shape of the durable workflows API:
`title, status, detail?, code?, instance?, retry_after_seconds?, allowed_actions?, type?`.

    Problem
    ├── BadRequest (400 invalid_request)          malformed JSON, bad UUID, bad cursor
    │   └── InvalidQuery (400 invalid_query)      a list filter that does not parse or widens scope
    ├── Unauthorized (401 unauthorized)
    ├── NotFound (404 not_found)
    │   ├── WorkflowNotFound (404 workflow_not_found)
    │   └── RouteNotFound (404 route_not_found)
    ├── MethodNotAllowed (405 method_not_allowed)
    ├── Conflict (409 conflict)
    │   ├── WorkflowClosed (409 workflow_closed)
    │   └── IdempotencyConflict (409 idempotency_conflict)
    ├── Gone (410 gone)                           an expired or revoked resume URL
    ├── PayloadTooLarge (413 payload_too_large)
    ├── UnsupportedMediaType (415 unsupported_media_type)
    ├── Unprocessable (422 invalid_request)       well-formed JSON that fails validation
    │   ├── UnknownSignal (422 unknown_signal)
    │   ├── UnknownQuery (422 unknown_query)
    │   ├── UnknownUpdate (422 unknown_update)
    │   ├── QueryFailed (422 query_failed)          the workflow's query handler raised
    │   ├── UpdateRejected (422 update_rejected)    an update's validator or handler refused it
    │   ├── UnknownWorkflowType (422 unknown_workflow_type)
    │   └── WebhookUrlNotAllowed (422 webhook_url_not_allowed)  a webhook target outside the allowed networks
    ├── RateLimited (429 rate_limited)            retry_after_seconds + Retry-After
    ├── InternalError (500 internal_error)
    ├── BackendUnavailable (503 backend_unavailable)  nothing was sent; retry_after_seconds + Retry-After
    │   └── Overloaded (503 overloaded)             this gateway process is at its bound; nothing was sent
    ├── OutcomeUnknown (504 outcome_unknown)      sent, but no answer in time: retry with the same Idempotency-Key
    └── RequestHeaderFieldsTooLarge (431 request_header_fields_too_large)  SIGNALWAY_MAX_HEADER_BYTES
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match

from signalway.redaction import redact

log = logging.getLogger("signalway.gateway")

PROBLEM_CONTENT_TYPE = "application/problem+json"


class AllowedAction(BaseModel):
    """Agent-actionable recovery hint attached to an error response."""

    model_config = ConfigDict(extra="forbid")
    rel: str
    hint: str | None = None
    href: str | None = None
    operation_id: str | None = None


class ProblemDetails(BaseModel):
    """RFC 9457 Problem Details, the shape of every error."""

    type: str | None = None
    title: str
    status: int
    detail: str | None = None
    code: str | None = None
    instance: str | None = None
    retry_after_seconds: int | None = None
    allowed_actions: list[AllowedAction] | None = None
    errors: list[dict[str, Any]] | None = Field(
        None, description="Per-field validation errors (422 only)."
    )


class Problem(Exception):
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal Server Error"
    code: ClassVar[str] = "internal_error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        allowed_actions: list[AllowedAction] | None = None,
        retry_after_seconds: int | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.allowed_actions = allowed_actions
        self.retry_after_seconds = retry_after_seconds
        self.errors = errors
        self.headers = dict(headers or {})

    def body(self, instance: str | None) -> ProblemDetails:
        return ProblemDetails(
            title=self.title,
            status=self.status,
            detail=self.detail,
            code=self.code,
            instance=instance,
            retry_after_seconds=self.retry_after_seconds,
            allowed_actions=self.allowed_actions,
            errors=self.errors,
        )


class BadRequest(Problem):
    status, title, code = 400, "Bad Request", "invalid_request"


class InvalidQuery(BadRequest):
    code = "invalid_query"


class Unauthorized(Problem):
    status, title, code = 401, "Unauthorized", "unauthorized"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="signalway"'})


class NotFound(Problem):
    status, title, code = 404, "Not Found", "not_found"


class WorkflowNotFound(NotFound):
    code = "workflow_not_found"


class RouteNotFound(NotFound):
    code = "route_not_found"


class MethodNotAllowed(Problem):
    status, title, code = 405, "Method Not Allowed", "method_not_allowed"


class Conflict(Problem):
    status, title, code = 409, "Conflict", "conflict"


class WorkflowClosed(Conflict):
    code = "workflow_closed"


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"


class Gone(Problem):
    status, title, code = 410, "Gone", "gone"


class PayloadTooLarge(Problem):
    status, title, code = 413, "Payload Too Large", "payload_too_large"


class UnsupportedMediaType(Problem):
    status, title, code = 415, "Unsupported Media Type", "unsupported_media_type"


class Unprocessable(Problem):
    status, title, code = 422, "Unprocessable Content", "invalid_request"


class UnknownSignal(Unprocessable):
    code = "unknown_signal"


class UnknownQuery(Unprocessable):
    code = "unknown_query"


class UnknownUpdate(Unprocessable):
    code = "unknown_update"


class QueryFailed(Unprocessable):
    code = "query_failed"


class UpdateRejected(Unprocessable):
    code = "update_rejected"


class UnknownWorkflowType(Unprocessable):
    code = "unknown_workflow_type"


class WebhookUrlNotAllowed(Unprocessable):
    code = "webhook_url_not_allowed"


class RateLimited(Problem):
    status, title, code = 429, "Too Many Requests", "rate_limited"


class QuotaExceeded(Problem):
    """A project's quota (gateway.quotas): the detail names it and its setting."""

    status, title, code = 429, "Too Many Requests", "quota_exceeded"


class InternalError(Problem):
    pass


class BackendUnavailable(Problem):
    status, title, code = 503, "Service Unavailable", "backend_unavailable"


class Overloaded(BackendUnavailable):
    code = "overloaded"


class OutcomeUnknown(Problem):
    """The request reached Temporal (or Redis) but its answer did not come back in time: it
    may have acted. Only a retry with the same Idempotency-Key is safe, and tells."""

    status, title, code = 504, "Gateway Timeout", "outcome_unknown"

    def __init__(self, detail: str, *, retry_after_seconds: int = 1) -> None:
        super().__init__(detail, retry_after_seconds=retry_after_seconds, allowed_actions=[AllowedAction(
            rel="retry-with-same-idempotency-key",
            hint="Send the same request again with the same Idempotency-Key header: it acts at most once "
                 "and answers with the first outcome. Without a key, check the run before retrying.",
        )])


class RequestHeaderFieldsTooLarge(Problem):
    status, title, code = 431, "Request Header Fields Too Large", "request_header_fields_too_large"


def render(problem: Problem, instance: str | None) -> Response:
    """The one renderer: every error response of the gateway comes out of here."""
    headers = dict(problem.headers)
    if problem.retry_after_seconds is not None:
        headers["Retry-After"] = str(problem.retry_after_seconds)
    return JSONResponse(
        problem.body(None if instance is None else path_instance(instance)).model_dump(mode="json", exclude_none=True),
        status_code=problem.status,
        headers=headers,
        media_type=PROBLEM_CONTENT_TYPE,
    )


# What of a path a problem repeats as is: RFC 3986's path characters, nothing that could
# break out of a JSON string in a careless client, mark up a page or forge a log line.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


def path_instance(path: str) -> str:
    """A request path as a problem's `instance`: percent-encoded, so neither control
    characters nor markup a client put in the path come back in an answer."""
    return quote(path, safe=_PATH_SAFE)


def _instance(request: Request) -> str:
    return request.url.path  # encoded by `render`


async def problem_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    if exc.status >= 500:
        # The path may be a resume URL, a capability: it never reaches the logs in clear.
        log.warning("%s %s -> %d %s: %s", request.method, redact(request.url.path), exc.status, exc.code, exc)
    return render(exc, _instance(request))


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 (unknown route, wrong method) as problems."""
    assert isinstance(exc, HTTPException)
    problem: Problem
    if exc.status_code == 404:
        problem = RouteNotFound(f"No route matches {request.method} {path_instance(request.url.path)}.")
    elif exc.status_code == 405:
        allow = _allowed_methods(request) or (exc.headers or {}).get("Allow", "")
        problem = MethodNotAllowed(
            f"{request.method} is not allowed here; allowed: {allow}.", headers={"Allow": allow}
        )
    else:
        problem = Problem(exc.detail)
        problem.status = exc.status_code  # type: ignore[misc]
    return render(problem, _instance(request))


def _allowed_methods(request: Request) -> str:
    """The methods served at this path's route template (one template may be split over
    several routes, one per method); a route with another template that would also match
    the path, e.g. `/v1/events/{eventKey}` for `/v1/events/stats`, is not this resource."""
    template = None
    for route in request.app.routes:
        match, _ = route.matches({**request.scope, "method": "__none__"})
        if match == Match.PARTIAL:
            template = getattr(route, "path", None)
            break
    methods: set[str] = set()
    for route in request.app.routes:
        if template is not None and getattr(route, "path", None) == template:
            methods.update(getattr(route, "methods", None) or ())
    return ", ".join(sorted(methods))


async def unhandled_handler(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return render(InternalError("An unexpected error occurred; it has been logged."), _instance(request))


EXCEPTION_HANDLERS: dict[Any, Any] = {
    Problem: problem_handler,
    HTTPException: http_exception_handler,
    Exception: unhandled_handler,
}
