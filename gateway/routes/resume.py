"""Resume URLs (seed 003): the only unauthenticated write, and the API that manages them.

`POST /public/send-user-signal/{signal_id}` resumes a "webhook and wait" step; the URL is
the capability. `GET` on it previews the step. Authenticated routes under a run list its
resume steps, revoke one (the run goes on; the step raises `ResumeRevoked`) or extend its
deadline.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.deps import Services, principal, services
from gateway.errors import (
    BackendUnavailable,
    Conflict,
    Gone,
    NotFound,
    RateLimited,
    Unprocessable,
    WorkflowClosed,
    WorkflowNotFound,
)
from gateway.routes._handlers import fingerprint
from gateway.routes.runs import RUN, describe_run, run_ids
from gateway.routing import ApiRoute, Operation, Param, read_model
from signalway.resume import PATH_PREFIX, ResumeStep, token_hash
from workflows.webhook_wait import RESUME_SIGNAL, ResumeAudit, ResumeSignal

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")
_RATE_KEY = "signalway:ratelimit:resume:{ip}:{window}"


class SendUserSignal(BaseModel):
    """Variables collected for a paused "webhook and wait" step."""

    model_config = ConfigDict(extra="forbid")

    variables: dict[str, Any] = Field(description="Key-value pairs of variable names and their values.")


class SignalSent(BaseModel):
    status: str = "success"
    message: str


class ResumePreview(BaseModel):
    state: str = Field(description="waiting | resumed | revoked | expired")
    step: str
    workflow_id: str
    variables: dict[str, str] = Field(description="Expected variables and their types.")
    deadline: str | None
    created_at: str
    resumed_at: str | None = None


class ResumeStepView(BaseModel):
    step: str
    state: str
    variables: dict[str, str]
    deadline: str | None
    created_at: str
    resumed_at: str | None = None
    client_ip: str | None = None
    user_agent: str | None = None


class ResumeSteps(BaseModel):
    data: list[ResumeStepView]


class ExtendBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seconds: float = Field(gt=0, le=365 * 24 * 3600, description="Added to the current deadline.")


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- variables ---------------------------------------------------------------------------


def _check_file(name: str, value: Any, max_bytes: int) -> str | None:
    if not isinstance(value, dict):
        return f"variable {name!r} must be a file object {{name, content_type, url | data}}"
    unknown = set(value) - {"name", "content_type", "url", "data"}
    if unknown:
        return f"variable {name!r} has unknown file fields: {', '.join(sorted(unknown))}"
    if not isinstance(value.get("name"), str) or not value["name"]:
        return f"variable {name!r} needs a file `name`"
    if not isinstance(value.get("content_type"), str) or "/" not in value["content_type"]:
        return f"variable {name!r} needs a `content_type` such as application/pdf"
    has_url, has_data = "url" in value, "data" in value
    if has_url == has_data:
        return f"variable {name!r} needs exactly one of `url` or `data` (base64)"
    if has_url:
        url = value["url"]
        if not isinstance(url, str) or not url.startswith(("https://", "http://")) or len(url) > 2048:
            return f"variable {name!r} has an invalid `url` (http or https, at most 2048 characters)"
        return None
    try:
        size = len(base64.b64decode(value["data"], validate=True))
    except (binascii.Error, ValueError, TypeError):
        return f"variable {name!r} has `data` that is not valid base64"
    if size > max_bytes:
        return f"variable {name!r} is {size} bytes; files may be at most {max_bytes} bytes"
    return None


def check_variables(expected: dict[str, str], given: dict[str, Any], *, max_file_bytes: int) -> list[str]:
    """Every problem with the variables, each naming the variable: missing, unknown, wrong type."""
    problems = [f"missing variable {name!r} ({kind})" for name, kind in expected.items() if name not in given]
    problems += [f"unknown variable {name!r}; this step expects {', '.join(expected) or 'none'}"
                 for name in given if name not in expected]
    for name, value in given.items():
        kind = expected.get(name)
        if kind == "string" and not isinstance(value, str):
            problems.append(f"variable {name!r} must be a string")
        elif kind == "number" and (isinstance(value, bool) or not isinstance(value, int | float)):
            problems.append(f"variable {name!r} must be a number")
        elif kind == "boolean" and not isinstance(value, bool):
            problems.append(f"variable {name!r} must be a boolean")
        elif kind == "file" and (problem := _check_file(name, value, max_file_bytes)):
            problems.append(problem)
    return problems


# -- public routes -----------------------------------------------------------------------


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _rate_limit(svc: Services, request: Request) -> None:
    limit = svc.settings.resume_rate_limit_per_minute
    now = time.time()
    window = int(now // 60)
    key = _RATE_KEY.format(ip=_client_ip(request), window=window)
    with svc.redis.errors():
        async with svc.redis.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, 120)
            count, _ = await pipe.execute()
    if count > limit:
        retry = max(int(60 - now % 60), 1)
        raise RateLimited(f"Too many resume attempts from this address; at most {limit} a minute.",
                          retry_after_seconds=retry)


async def _step(svc: Services, signal_id: str) -> ResumeStep:
    unknown = NotFound("This resume URL is unknown: check that it was copied whole.")
    if not _TOKEN.match(signal_id):
        raise unknown
    with svc.redis.errors():
        step = await svc.resume.get(token_hash(signal_id))
    if step is None:
        raise unknown
    return step


def _gone(step: ResumeStep) -> Gone | None:
    if step.status == "expired":
        return Gone(f"This resume URL expired at {_iso(step.deadline_ms)}; the step no longer waits.")
    if step.status == "revoked":
        return Gone("This resume URL was revoked; the step no longer waits.")
    return None


def _already(step: ResumeStep, resume_fingerprint: str, earlier: str | None) -> Response:
    if earlier == resume_fingerprint:
        return JSONResponse(SignalSent(
            message=f"Workflow execution {step.workflow_id} was already resumed with these variables; "
                    "nothing was sent again.").model_dump())
    raise Conflict("This resume URL was already used with different variables; it resumes only once.")


async def send_user_signal(request: Request) -> Response:
    svc = services(request)
    await _rate_limit(svc, request)
    signal_id = request.path_params["signal_id"]
    body = await read_model(request, SendUserSignal)
    assert body is not None
    step = await _step(svc, signal_id)
    problems = check_variables(step.variables, body.variables, max_file_bytes=svc.settings.max_file_bytes)
    if problems:
        raise Unprocessable("; ".join(problems) + ".", errors=[{"msg": p} for p in problems])
    resume_fingerprint = fingerprint(body.variables)
    if (gone := _gone(step)) is not None:
        raise gone
    if step.status == "resumed":
        return _already(step, resume_fingerprint, step.fingerprint)

    client_ip, user_agent = _client_ip(request), request.headers.get("user-agent", "")[:500]
    with svc.redis.errors():
        outcome, earlier = await svc.resume.resume(step.hashed, fingerprint=resume_fingerprint,
                                                   client_ip=client_ip, user_agent=user_agent)
    if outcome != "resumed-now":
        # Someone else got there first (or the deadline passed meanwhile).
        if outcome == "resumed":
            return _already(step, resume_fingerprint, earlier)
        raise _gone(ResumeStep(**{**step.__dict__, "status": outcome})) or Gone("This resume URL no longer waits.")

    signal = ResumeSignal(step=step.step, action="resume", variables=body.variables,
                          audit=ResumeAudit(at=datetime.now(tz=UTC), client_ip=client_ip, user_agent=user_agent))
    try:
        await svc.temporal.signal(step.workflow_id, step.run_id, RESUME_SIGNAL, [signal],
                                  request_id=f"resume-{step.hashed[:32]}", receipt=False)
    except (WorkflowClosed, WorkflowNotFound):
        with svc.redis.errors():
            await svc.resume.revert(step.hashed, fingerprint=resume_fingerprint)
            await svc.resume.revoke(step.hashed)
        raise Gone("The workflow execution behind this resume URL is no longer running.") from None
    except BackendUnavailable:
        # Nothing reached the workflow: put the step back so the caller's retry can resume it.
        await svc.resume.revert(step.hashed, fingerprint=resume_fingerprint)
        raise
    return JSONResponse(SignalSent(message=f"Signal sent to workflow execution {step.workflow_id}").model_dump())


async def preview(request: Request) -> Response:
    svc = services(request)
    await _rate_limit(svc, request)
    step = await _step(svc, request.path_params["signal_id"])
    return JSONResponse(ResumePreview(
        state=step.status, step=step.step, workflow_id=step.workflow_id, variables=step.variables,
        deadline=_iso(step.deadline_ms), created_at=_iso(step.created_ms) or "", resumed_at=_iso(step.resumed_ms),
    ).model_dump())


# -- authenticated management ------------------------------------------------------------


def view(step: ResumeStep) -> ResumeStepView:
    return ResumeStepView(step=step.step, state=step.status, variables=step.variables,
                          deadline=_iso(step.deadline_ms), created_at=_iso(step.created_ms) or "",
                          resumed_at=_iso(step.resumed_ms), client_ip=step.client_ip, user_agent=step.user_agent)


async def _run_steps(request: Request) -> tuple[Services, str, str, list[ResumeStep]]:
    svc = services(request)
    who = principal(request)
    workflow_id, run_id = run_ids(request)
    await describe_run(svc, who, workflow_id, run_id)
    with svc.redis.errors():
        steps = await svc.resume.of_run(run_id)
    return svc, workflow_id, run_id, steps


async def list_steps(request: Request) -> Response:
    _, _, _, steps = await _run_steps(request)
    return JSONResponse(ResumeSteps(data=[view(s) for s in steps]).model_dump())


def _named(steps: list[ResumeStep], name: str) -> ResumeStep:
    for step in steps:
        if step.step == name:
            return step
    raise NotFound(f"This run has no resume step {name!r}; it has: {', '.join(s.step for s in steps) or 'none'}.")


def _not_waiting(step: ResumeStep, outcome: str) -> Exception:
    if outcome == "expired":
        return Gone(f"Resume step {step.step!r} expired at {_iso(step.deadline_ms)}.")
    return Conflict(f"Resume step {step.step!r} is {outcome}; only a waiting step can change.")


async def revoke_step(request: Request) -> Response:
    svc, workflow_id, run_id, steps = await _run_steps(request)
    step = _named(steps, request.path_params["step"])
    with svc.redis.errors():
        outcome = await svc.resume.revoke(step.hashed)
    if outcome not in ("ok", "revoked"):  # revoking twice is fine: the signal is sent again
        raise _not_waiting(step, outcome)
    await svc.temporal.signal(workflow_id, run_id, RESUME_SIGNAL,
                              [ResumeSignal(step=step.step, action="revoke")], request_id=None,
                              receipt=False)
    with svc.redis.errors():
        current = await svc.resume.get(step.hashed)
    return JSONResponse(view(current or step).model_dump())


async def extend_step(request: Request) -> Response:
    svc, workflow_id, run_id, steps = await _run_steps(request)
    step = _named(steps, request.path_params["step"])
    body = await read_model(request, ExtendBody)
    assert body is not None
    base = step.deadline_ms or int(time.time() * 1000)
    deadline_ms = base + int(body.seconds * 1000)
    with svc.redis.errors():
        outcome = await svc.resume.extend(step.hashed, deadline_ms=deadline_ms)
    if outcome != "ok":
        raise _not_waiting(step, outcome)
    deadline = datetime.fromtimestamp(deadline_ms / 1000, tz=UTC)
    await svc.temporal.signal(workflow_id, run_id, RESUME_SIGNAL,
                              [ResumeSignal(step=step.step, action="extend", deadline=deadline)], request_id=None,
                              receipt=False)
    with svc.redis.errors():
        current = await svc.resume.get(step.hashed)
    return JSONResponse(view(current or step).model_dump())


_SIGNAL_ID = Param("signal_id", "path", {"type": "string"}, "The resume URL's token.", required=True)
_STEP = Param("step", "path", {"type": "string"}, "The step's name.", required=True)
_WID = Param("workflow_id", "path", {"type": "string"}, "The ID of the Workflow.", required=True)
_RID = Param("run_id", "path", {"type": "string", "format": "uuid"}, "The ID of the Run.", required=True)
_TAGS = ("resume",)

ROUTES = [
    ApiRoute(PATH_PREFIX + "{signal_id}", send_user_signal, method="POST", operation=Operation(
        "sendUserSignal", "Resume a paused workflow", _TAGS, body=SendUserSignal, security=False,
        responses={200: SignalSent}, params=(_SIGNAL_ID,), errors=(400, 404, 409, 410, 413, 422, 429, 503))),
    ApiRoute(PATH_PREFIX + "{signal_id}", preview, method="GET", operation=Operation(
        "previewUserSignal", "Preview a resume URL's step without resuming it", _TAGS, security=False,
        responses={200: ResumePreview}, params=(_SIGNAL_ID,), errors=(404, 429, 503))),
    ApiRoute(RUN + "/resume-urls", list_steps, method="GET", operation=Operation(
        "listResumeSteps", "List a run's resume steps", _TAGS, schemes=("bearer",),
        responses={200: ResumeSteps}, params=(_WID, _RID), errors=(400, 401, 404, 503))),
    ApiRoute(RUN + "/resume-urls/{step}/revoke", revoke_step, method="POST", operation=Operation(
        "revokeResumeStep", "Revoke a resume URL (the run goes on)", _TAGS, schemes=("bearer",),
        responses={200: ResumeStepView}, params=(_WID, _RID, _STEP), errors=(400, 401, 404, 409, 410, 503))),
    ApiRoute(RUN + "/resume-urls/{step}/extend", extend_step, method="POST", operation=Operation(
        "extendResumeStep", "Extend a resume URL's deadline", _TAGS, schemes=("bearer",), body=ExtendBody,
        responses={200: ResumeStepView}, params=(_WID, _RID, _STEP), errors=(400, 401, 404, 409, 410, 422, 503))),
]
