"""Resume URLs: the public capability that resumes a "webhook and wait" step, and the
management of a run's steps for callers who may see the run.

The URL's token is the only credential; Redis keeps only its hash, and a step moves
waiting → resumed once, in Lua, however many requests race.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from signalway.gateway.auth import Principal
from signalway.gateway.deps import Services
from signalway.gateway.errors import (
    BackendUnavailable,
    Conflict,
    Gone,
    NotFound,
    Problem,
    RateLimited,
    Unprocessable,
    WorkflowClosed,
    WorkflowNotFound,
)
from signalway.gateway.services import access
from signalway.gateway.services.idempotency import fingerprint
from signalway.resume import ResumeStep, token_hash
from signalway.steps.contract import RESUME_SIGNAL, ResumeAudit, ResumeSignal
from signalway.times import ms_to_rfc3339

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")
_RATE_KEY = "signalway:ratelimit:resume:{ip}:{window}"
_RATE_WINDOW_SECONDS = 60


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


# -- the public capability -------------------------------------------------------------


async def rate_limit(svc: Services, client_ip: str) -> None:
    limit = svc.settings.resume_rate_limit_per_minute
    now = time.time()
    key = _RATE_KEY.format(ip=client_ip, window=int(now // _RATE_WINDOW_SECONDS))
    if await svc.redis.count_hit(key, ttl_seconds=2 * _RATE_WINDOW_SECONDS) > limit:
        raise RateLimited(f"Too many resume attempts from this address; at most {limit} a minute.",
                          retry_after_seconds=max(int(_RATE_WINDOW_SECONDS - now % _RATE_WINDOW_SECONDS), 1))


async def step_of(svc: Services, token: str) -> ResumeStep:
    unknown = NotFound("This resume URL is unknown: check that it was copied whole.")
    if not _TOKEN.match(token):
        raise unknown
    step = await svc.resume.get(token_hash(token))
    if step is None:
        raise unknown
    return step


def _gone(step: ResumeStep) -> Gone | None:
    if step.status == "expired":
        return Gone(f"This resume URL expired at {ms_to_rfc3339(step.deadline_ms)}; the step no longer waits.")
    if step.status == "revoked":
        return Gone("This resume URL was revoked; the step no longer waits.")
    return None


@dataclass(frozen=True)
class Resumed:
    """A resume that succeeded: `now` when this call sent it, else an identical earlier one had."""

    step: ResumeStep
    message: str
    now: bool


def _already(step: ResumeStep, resume_fingerprint: str, earlier: str | None) -> Resumed:
    if earlier == resume_fingerprint:
        return Resumed(step, f"Workflow execution {step.workflow_id} was already resumed with these variables; "
                             "nothing was sent again.", now=False)
    raise Conflict("This resume URL was already used with different variables; it resumes only once.")


# `signalway_resume_outcomes_total{outcome}` of each refusal (the first class that matches).
_OUTCOMES: tuple[tuple[type[Problem], str], ...] = (
    (NotFound, "unknown"), (Gone, "gone"), (Conflict, "conflict"), (Unprocessable, "invalid"),
)


async def resume(svc: Services, token: str, variables: dict[str, Any], *, client_ip: str,
                 user_agent: str) -> Resumed:
    """Resume the step behind `token` exactly once."""
    try:
        resumed = await _resume(svc, token, variables, client_ip=client_ip, user_agent=user_agent)
    except Exception as exc:
        svc.telemetry.resume_outcome(next((o for kind, o in _OUTCOMES if isinstance(exc, kind)), "error"))
        raise
    svc.telemetry.resume_outcome("resumed" if resumed.now else "already")
    return resumed


async def _resume(svc: Services, token: str, variables: dict[str, Any], *, client_ip: str,
                  user_agent: str) -> Resumed:
    step = await step_of(svc, token)
    problems = check_variables(step.variables, variables, max_file_bytes=svc.settings.max_file_bytes)
    if problems:
        raise Unprocessable("; ".join(problems) + ".", errors=[{"msg": p} for p in problems])
    resume_fingerprint = fingerprint(variables)
    if (gone := _gone(step)) is not None:
        raise gone
    if step.status == "resumed":
        return _already(step, resume_fingerprint, step.fingerprint)
    outcome, earlier = await svc.resume.resume(step.hashed, fingerprint=resume_fingerprint,
                                               client_ip=client_ip, user_agent=user_agent)
    if outcome != "resumed-now":
        # Someone else got there first (or the deadline passed meanwhile).
        if outcome == "resumed":
            return _already(step, resume_fingerprint, earlier)
        raise _gone(ResumeStep(**{**step.__dict__, "status": outcome})) or Gone("This resume URL no longer waits.")
    signal = ResumeSignal(step=step.step, action="resume", variables=variables,
                          audit=ResumeAudit(at=datetime.now(tz=UTC), client_ip=client_ip, user_agent=user_agent))
    try:
        await svc.temporal.signal(step.workflow_id, step.run_id, RESUME_SIGNAL, [signal],
                                  request_id=f"resume-{step.hashed[:32]}", receipt=False)
    except (WorkflowClosed, WorkflowNotFound):
        await svc.resume.revert(step.hashed, fingerprint=resume_fingerprint)
        await svc.resume.revoke(step.hashed)
        raise Gone("The workflow execution behind this resume URL is no longer running.") from None
    except BackendUnavailable:
        # Nothing reached the workflow: put the step back so the caller's retry can resume it.
        await svc.resume.revert(step.hashed, fingerprint=resume_fingerprint)
        raise
    return Resumed(step, f"Signal sent to workflow execution {step.workflow_id}", now=True)


# -- management, for callers who may see the run ---------------------------------------


async def steps(svc: Services, who: Principal, workflow_id: str, run_id: str) -> list[ResumeStep]:
    await access.run(svc, who, workflow_id, run_id)
    return [s for s in await svc.resume.of_run(run_id) if s.workflow_id == workflow_id]


async def _named(svc: Services, who: Principal, workflow_id: str, run_id: str, name: str) -> ResumeStep:
    found = await steps(svc, who, workflow_id, run_id)
    for step in found:
        if step.step == name:
            return step
    raise NotFound(f"This run has no resume step {name!r}; it has: {', '.join(s.step for s in found) or 'none'}.")


def _not_waiting(step: ResumeStep, outcome: str) -> Exception:
    if outcome == "expired":
        return Gone(f"Resume step {step.step!r} expired at {ms_to_rfc3339(step.deadline_ms)}.")
    return Conflict(f"Resume step {step.step!r} is {outcome}; only a waiting step can change.")


async def revoke(svc: Services, who: Principal, workflow_id: str, run_id: str, name: str) -> ResumeStep:
    """Revoke a step's URL; the run goes on and the step raises `ResumeRevoked`."""
    step = await _named(svc, who, workflow_id, run_id, name)
    outcome = await svc.resume.revoke(step.hashed)
    if outcome not in ("ok", "revoked"):  # revoking twice is fine: the signal is sent again
        raise _not_waiting(step, outcome)
    await svc.temporal.signal(workflow_id, run_id, RESUME_SIGNAL, [ResumeSignal(step=step.step, action="revoke")],
                              request_id=None, receipt=False)
    return await svc.resume.get(step.hashed) or step


async def extend(svc: Services, who: Principal, workflow_id: str, run_id: str, name: str,
                 seconds: float) -> ResumeStep:
    step = await _named(svc, who, workflow_id, run_id, name)
    deadline_ms = (step.deadline_ms or int(time.time() * 1000)) + int(seconds * 1000)
    outcome = await svc.resume.extend(step.hashed, deadline_ms=deadline_ms)
    if outcome != "ok":
        raise _not_waiting(step, outcome)
    deadline = datetime.fromtimestamp(deadline_ms / 1000, tz=UTC)
    await svc.temporal.signal(workflow_id, run_id, RESUME_SIGNAL,
                              [ResumeSignal(step=step.step, action="extend", deadline=deadline)],
                              request_id=None, receipt=False)
    return await svc.resume.get(step.hashed) or step
