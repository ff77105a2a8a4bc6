"""Resume URLs: the only unauthenticated write, and the API that manages them.

`POST /public/send-user-signal/{signal_id}` resumes a "webhook and wait" step; the URL is
the capability. `GET` on it previews the step. A browser (`Accept: text/html`) gets a page
for both instead: the question and a form, then the outcome (`resume_page`); JSON clients
get exactly the JSON API. Authenticated routes under a run list its resume steps, revoke
one (the run goes on; the step raises `ResumeRevoked`) or extend its deadline.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from signalway.gateway.client_address import client_address
from signalway.gateway.deps import principal, services
from signalway.gateway.errors import BadRequest, Problem
from signalway.gateway.routes import resume_page
from signalway.gateway.routes._params import RUN, RUN_ID, WORKFLOW_ID, run_ids
from signalway.gateway.routing import ApiRoute, Operation, Param, read_model
from signalway.gateway.services import resume
from signalway.resume import PATH_PREFIX, ResumeStep
from signalway.times import ms_to_rfc3339


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


def _client_ip(request: Request) -> str:
    # X-Forwarded-For counts only from SIGNALWAY_TRUSTED_PROXIES: the rate limit and the audit key on this.
    return client_address(request, services(request).settings.trusted_proxies)


def view(step: ResumeStep) -> dict[str, Any]:
    return ResumeStepView(step=step.step, state=step.status, variables=step.variables,
                          deadline=ms_to_rfc3339(step.deadline_ms), created_at=ms_to_rfc3339(step.created_ms) or "",
                          resumed_at=ms_to_rfc3339(step.resumed_ms), client_ip=step.client_ip,
                          user_agent=step.user_agent).model_dump()


async def send_user_signal(request: Request) -> Response:
    if resume_page.is_form_post(request):
        return await _send_from_page(request)
    svc = services(request)
    client_ip = _client_ip(request)
    await resume.rate_limit(svc, client_ip)
    body = await read_model(request, SendUserSignal)
    resumed = await resume.resume(svc, request.path_params["signal_id"], body.variables, client_ip=client_ip,
                                  user_agent=_user_agent(request))
    return JSONResponse(SignalSent(message=resumed.message).model_dump())


async def preview(request: Request) -> Response:
    if resume_page.wants_html(request):
        return await _page(request)
    svc = services(request)
    await resume.rate_limit(svc, _client_ip(request))
    step = await resume.step_of(svc, request.path_params["signal_id"])
    return JSONResponse(ResumePreview(
        state=step.status, step=step.step, workflow_id=step.workflow_id, variables=step.variables,
        deadline=ms_to_rfc3339(step.deadline_ms), created_at=ms_to_rfc3339(step.created_ms) or "",
        resumed_at=ms_to_rfc3339(step.resumed_ms),
    ).model_dump())


def _user_agent(request: Request) -> str:
    return request.headers.get("user-agent", "")[:500]


# -- the same two operations for a person in a browser (`resume_page`) -------------------------
# Every refusal is a page with the problem's status; Redis failures too (`svc.redis.errors()`
# makes them the 503 problem, which elsewhere the app's handler renders as JSON).


async def _page(request: Request) -> Response:
    svc = services(request)
    try:
        with svc.redis.errors():
            await resume.rate_limit(svc, _client_ip(request))
            return resume_page.step_page(await resume.step_of(svc, request.path_params["signal_id"]))
    except Problem as problem:
        return resume_page.problem_page(problem)


async def _send_from_page(request: Request) -> Response:
    svc = services(request)
    token = request.path_params["signal_id"]
    client_ip = _client_ip(request)
    try:
        with svc.redis.errors():
            await resume.rate_limit(svc, client_ip)
            step = await resume.step_of(svc, token)
            if step.status in ("expired", "revoked"):
                return resume_page.gone_page(step)
            try:
                variables, typed, problems = await resume_page.read_form(
                    request, step, max_file_bytes=svc.settings.max_file_bytes)
            except HTTPException as exc:  # a form the parser refuses (too many parts, malformed)
                raise BadRequest(f"The form could not be read: {exc.detail}") from None
            if problems:
                return resume_page.form_page(step, problems=problems, values=typed, status=422)
            try:
                resumed = await resume.resume(svc, token, variables, client_ip=client_ip,
                                              user_agent=_user_agent(request))
            except Problem as problem:
                # The step as it is now: a refusal may mean it expired or was withdrawn meanwhile.
                return resume_page.refused_page(await resume.step_of(svc, token), problem, typed)
            return resume_page.result_page(resumed.step, already=not resumed.now)
    except Problem as problem:
        return resume_page.problem_page(problem)


async def list_steps(request: Request) -> Response:
    svc, who = services(request), principal(request)
    steps = await resume.steps(svc, who, *run_ids(request))
    return JSONResponse({"data": [view(s) for s in steps]})


async def revoke_step(request: Request) -> Response:
    svc, who = services(request), principal(request)
    return JSONResponse(view(await resume.revoke(svc, who, *run_ids(request), request.path_params["step"])))


async def extend_step(request: Request) -> Response:
    svc, who = services(request), principal(request)
    workflow_id, run_id = run_ids(request)
    body = await read_model(request, ExtendBody)
    return JSONResponse(view(await resume.extend(svc, who, workflow_id, run_id, request.path_params["step"],
                                                 body.seconds)))


_SIGNAL_ID = Param("signal_id", "path", {"type": "string"}, "The resume URL's token.", required=True)
_STEP = Param("step", "path", {"type": "string"}, "The step's name.", required=True)
_TAGS = ("resume",)

ROUTES = [
    ApiRoute(PATH_PREFIX + "{signal_id}", send_user_signal, method="POST", operation=Operation(
        "sendUserSignal", "Resume a paused workflow (a browser posts the resume page's form here)", _TAGS,
        body=SendUserSignal, security=False, html=True,
        responses={200: SignalSent}, params=(_SIGNAL_ID,), errors=(400, 404, 409, 410, 413, 422, 429, 503))),
    ApiRoute(PATH_PREFIX + "{signal_id}", preview, method="GET", operation=Operation(
        "previewUserSignal", "Preview a resume URL's step without resuming it (a browser gets the resume page)",
        _TAGS, security=False, html=True,
        responses={200: ResumePreview}, params=(_SIGNAL_ID,), errors=(404, 410, 429, 503))),
    ApiRoute(RUN + "/resume-urls", list_steps, method="GET", operation=Operation(
        "listResumeSteps", "List a run's resume steps", _TAGS, schemes=("bearer",),
        responses={200: ResumeSteps}, params=(WORKFLOW_ID, RUN_ID), errors=(400, 401, 404, 503))),
    ApiRoute(RUN + "/resume-urls/{step}/revoke", revoke_step, method="POST", operation=Operation(
        "revokeResumeStep", "Revoke a resume URL (the run goes on)", _TAGS, schemes=("bearer",),
        responses={200: ResumeStepView}, params=(WORKFLOW_ID, RUN_ID, _STEP),
        errors=(400, 401, 404, 409, 410, 503))),
    ApiRoute(RUN + "/resume-urls/{step}/extend", extend_step, method="POST", operation=Operation(
        "extendResumeStep", "Extend a resume URL's deadline", _TAGS, schemes=("bearer",), body=ExtendBody,
        responses={200: ResumeStepView}, params=(WORKFLOW_ID, RUN_ID, _STEP),
        errors=(400, 401, 404, 409, 410, 413, 422, 503))),
]
