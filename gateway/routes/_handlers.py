"""What the durable and runs surfaces share when they message a run: handler discovery,
payload validation and the Idempotency-Key of signals and updates."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any, Literal, TypeVar

from pydantic import BaseModel
from starlette.requests import Request
from temporalio.client import WorkflowExecutionDescription

from gateway.deps import Services
from gateway.errors import (
    AllowedAction,
    BackendUnavailable,
    BadRequest,
    IdempotencyConflict,
    UnknownWorkflowType,
)
from gateway.routing import validate
from gateway.temporal_service import HandlerSet, NoWorkerAnswered, TemporalService
from workflows.registry import TYPES

T = TypeVar("T")
Kind = Literal["signals", "queries", "updates"]

IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1c1a0e-5b1e-4c55-9a57-7a1f3c9e2d10")
IDEMPOTENCY_TTL_SECONDS = 24 * 3600
# Memo key of a started run: the fingerprint of the request that started it.
MEMO_REQUEST_HASH = "signalway_request_hash"
_CLAIM_KEY = "signalway:idempotency:{project}:{scope}:{key}"


async def handler_set(svc: Services, workflow_id: str, run_id: str, workflow_type: str, kind: Kind,
                      name: str) -> HandlerSet:
    """The names the run answers to for `kind`, asked of the run itself.

    A recent answer is reused; a name it did not contain is asked again, since handlers can
    be registered at run time. With no worker polling, a signal to a registered class is
    still checked against that class: Temporal holds it durably until a worker returns.
    """
    try:
        handlers = getattr(await svc.temporal.handlers(workflow_id, run_id), kind)
        if not handlers.accepts(name):
            handlers = getattr(await svc.temporal.handlers(workflow_id, run_id, fresh=True), kind)
    except NoWorkerAnswered:
        info = TYPES.get(workflow_type)
        if info is None or kind != "signals":
            raise
        handlers = HandlerSet(names=tuple(info.signal_models), dynamic=False)
    assert isinstance(handlers, HandlerSet)
    return handlers


def require_known_type(svc: Services, workflow_type: str, *, field: str, operation_id: str,
                       href: str | None = None) -> None:
    """422 listing the registered types when `workflow_type` is not one clients may start."""
    allowed = svc.settings.workflow_types
    if workflow_type in allowed:
        return
    raise UnknownWorkflowType(
        f"Unknown {field} {workflow_type!r}; registered types: {', '.join(allowed)}.",
        allowed_actions=[AllowedAction(rel="use-workflow-type", hint=name, operation_id=operation_id,
                                       href=href.format(name=name) if href else None) for name in allowed],
    )


def workflow_input(workflow_type: str, value: Any, *, what: str) -> Any:
    """A start's input, validated against the workflow's input model when the type is known."""
    info = TYPES.get(workflow_type)
    if info is None or info.input_model is None:
        return value
    return validate(info.input_model, {} if value is None else value, what=what)


async def same_request_or_conflict(temporal: TemporalService, desc: WorkflowExecutionDescription,
                                   request_hash: str, *, href: str | None = None) -> None:
    """A start whose Idempotency-Key was used before: the same request gets that run, else 409."""
    if (await temporal.memo(desc)).get(MEMO_REQUEST_HASH) != request_hash:
        raise IdempotencyConflict(
            "This Idempotency-Key was already used with a different request body.",
            allowed_actions=[AllowedAction(rel="get-existing", href=href)] if href else None,
        )


def handler_args(workflow_type: str, kind: Literal["signals", "updates"], name: str, payload: Any,
                 *, what: str) -> list[Any]:
    """The handler's arguments: validated against its payload model when the type is known."""
    info = TYPES.get(workflow_type)
    models: dict[str, type[BaseModel] | None] = {}
    if info is not None:
        models = info.signal_models if kind == "signals" else info.update_models
    model = models.get(name)
    if model is not None:
        return [validate(model, {} if payload is None else payload, what=what)]
    return [] if payload is None else [payload]


def wants_receipt(request: Request) -> bool:
    """A delivery receipt costs one Temporal read; `Prefer: return=minimal` (RFC 7240) skips it."""
    prefer = request.headers.get("prefer", "")
    return "return=minimal" not in prefer.replace(" ", "").lower()


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is not None and not 0 < len(key) <= 255:
        raise BadRequest("Idempotency-Key must be 1 to 255 characters.")
    return key


def derived_id(project: str, scope: str, key: str) -> str:
    """A stable id (workflow id, signal request id, update id) for one caller's key."""
    return str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{project}\n{scope}\n{key}"))


def fingerprint(*parts: Any) -> str:
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def once(svc: Services, *, project: str, scope: str, key: str | None,
               request_fingerprint: Callable[[], str], action: Callable[[str | None], Awaitable[T]]) -> T:
    """Run `action` under an Idempotency-Key: a retry gets the first answer, and the same
    key with a different request is a 409.

    `action` gets an id derived from the key that Temporal itself deduplicates on (signal
    request id, update id), so a retry that races the first attempt still acts once. Its
    JSON result is kept with the claim for the key's lifetime.
    """
    if key is None:
        return await action(None)
    mine_fingerprint = request_fingerprint()  # only computed when a key asks for it
    claim = _CLAIM_KEY.format(project=project, scope=scope, key=hashlib.sha256(key.encode()).hexdigest())
    mine = json.dumps({"fingerprint": mine_fingerprint})
    earlier_raw = await svc.redis.claim(claim, mine, ttl_seconds=IDEMPOTENCY_TTL_SECONDS)
    if earlier_raw is not None:
        try:
            earlier = json.loads(earlier_raw)
        except json.JSONDecodeError:
            earlier = {"fingerprint": earlier_raw}
        if earlier.get("fingerprint") != mine_fingerprint:
            raise IdempotencyConflict("This Idempotency-Key was already used with a different request.")
        if "result" in earlier:
            return earlier["result"]  # type: ignore[no-any-return]
    try:
        result = await action(derived_id(project, scope, key))
    except Exception:
        if earlier_raw is None:
            with suppress(BackendUnavailable):  # the original error is the one to report
                await svc.redis.release(claim, mine)
        raise
    with suppress(BackendUnavailable):  # done in Temporal; a lost record only costs a re-check
        await svc.redis.remember(claim, json.dumps({"fingerprint": mine_fingerprint, "result": result}),
                                 ttl_seconds=IDEMPOTENCY_TTL_SECONDS)
    return result
