"""Messages to a run the caller may see: signals, queries, updates, cancel and terminate.

Which names a run answers to is asked of the run itself (handlers can be registered at
run time); a payload is checked against its schema in the workflow catalog before anything
reaches Temporal, so a bad message is a 422 and never lands in history.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from signalway.gateway.adapters.temporal import HandlerSet, NoWorkerAnswered, is_open
from signalway.gateway.auth import Principal
from signalway.gateway.deps import Services
from signalway.gateway.errors import (
    AllowedAction,
    UnknownQuery,
    UnknownSignal,
    UnknownUpdate,
    Unprocessable,
    WorkflowClosed,
)
from signalway.gateway.services import access
from signalway.gateway.services.idempotency import acting_once, fingerprint
from signalway.gateway.services.start import checked

Kind = Literal["signals", "queries", "updates"]

# kind → (error, what the run does with the names it knows)
_UNKNOWN: dict[str, tuple[type[Unprocessable], str, str]] = {
    "signals": (UnknownSignal, "signal", "accepts"),
    "queries": (UnknownQuery, "query", "answers"),
    "updates": (UnknownUpdate, "update", "handles"),
}


@dataclass(frozen=True)
class Links:
    """How one API surface points a caller at a run and its handlers (`allowed_actions`)."""

    run_href: str
    run_operation: str
    handler_action: Callable[[str, str], AllowedAction]  # (kind's word, name) → the action

    def closed(self, what: str) -> WorkflowClosed:
        return WorkflowClosed(f"{what} is closed.", allowed_actions=[AllowedAction(
            rel="get-existing", href=self.run_href, operation_id=self.run_operation,
            hint="Read the outcome.")])


async def handler_set(svc: Services, workflow_id: str, run_id: str, workflow_type: str, kind: Kind,
                      name: str) -> HandlerSet:
    """The names the run answers to for `kind`; a recent answer is reused unless it lacks `name`.

    With no worker polling, a signal to a catalog type is still checked against the signals
    its entry lists: Temporal holds it durably until a worker returns.
    """
    try:
        handlers: HandlerSet = getattr(await svc.temporal.handlers(workflow_id, run_id), kind)
        if not handlers.accepts(name):
            handlers = getattr(await svc.temporal.handlers(workflow_id, run_id, fresh=True), kind)
    except NoWorkerAnswered:
        entry = svc.settings.workflows.get(workflow_type)
        if entry is None or kind != "signals" or not entry.signals:
            raise
        handlers = HandlerSet(names=tuple(entry.signals), dynamic=False)
    return handlers


async def require_handler(svc: Services, run: access.VisibleRun, kind: Kind, name: str, links: Links) -> None:
    """422 naming what the run does handle, when it has no `kind` handler called `name`."""
    known = await handler_set(svc, run.workflow_id, run.run_id, run.facts.workflow_type, kind, name)
    if known.accepts(name):
        return
    error, word, verb = _UNKNOWN[kind]
    raise error(
        f"Workflow {run.workflow_id} ({run.facts.workflow_type}) has no {word} {name!r}; "
        f"it {verb}: {', '.join(known.names) or 'none'}.",
        allowed_actions=[links.handler_action(word, n) for n in known.names],
    )


def handler_args(svc: Services, workflow_type: str, kind: Literal["signals", "updates"], name: str,
                 payload: Any, *, what: str) -> list[Any]:
    """The handler's arguments: checked against the payload schema the catalog gives it."""
    entry = svc.settings.workflows.get(workflow_type)
    if entry is not None and entry.schema_for(kind, name) is not None:
        return [checked(entry, kind, name, payload, what=what)]
    return [] if payload is None else [payload]


async def _latest(svc: Services, who: Principal, workflow_id: str, run_id: str | None) -> access.VisibleRun:
    if run_id is not None:
        return await access.run(svc, who, workflow_id, run_id)
    desc = await access.describe(svc, who, workflow_id)
    return access.VisibleRun(workflow_id, desc.run_id, svc.temporal.facts_of(desc), is_open(desc.status))


async def signal(svc: Services, who: Principal, workflow_id: str, run_id: str | None, name: str, payload: Any, *,
                 key: str | None, receipt: bool, links: Links, what: str, scope: str) -> int | None:
    """Signal a run (the latest of `workflow_id` when `run_id` is None); the receipt's event id.

    The hot path of a chat: a run's facts are cached, and a closed run is found by the
    signal itself rather than by a describe before every message. A retry with the same
    key answers as the first time, even once the signal closed the run.
    """
    async def send(request_id: str | None) -> int | None:
        run = await _latest(svc, who, workflow_id, run_id)
        if run.is_running is False:
            raise links.closed(f"Workflow {workflow_id}")
        await require_handler(svc, run, "signals", name, links)
        args = handler_args(svc, run.facts.workflow_type, "signals", name, payload, what=what)
        try:
            return await svc.temporal.signal(workflow_id, run.run_id, name, args, request_id=request_id,
                                             receipt=receipt)
        except WorkflowClosed:
            raise links.closed(f"Workflow {workflow_id}") from None

    return await acting_once(svc, who=who, scope=scope, key=key, action=send,
                             authorize=lambda _: _latest(svc, who, workflow_id, run_id),
                             request_fingerprint=lambda: fingerprint(workflow_id, run_id, name, payload))


async def query(svc: Services, who: Principal, workflow_id: str, run_id: str, name: str, links: Links) -> Any:
    run = await access.run(svc, who, workflow_id, run_id)
    await require_handler(svc, run, "queries", name, links)
    return await svc.temporal.query(workflow_id, run_id, name, [])


async def update(svc: Services, who: Principal, workflow_id: str, run_id: str, name: str, payload: Any, *,
                 key: str | None, links: Links) -> Any:
    async def run_update(update_id: str | None) -> Any:
        desc = await access.describe(svc, who, workflow_id, run_id)
        if not is_open(desc.status):
            raise links.closed(f"Run {run_id} of workflow {workflow_id}")
        run = access.VisibleRun(workflow_id, run_id, svc.temporal.facts_of(desc), True)
        await require_handler(svc, run, "updates", name, links)
        args = handler_args(svc, run.facts.workflow_type, "updates", name, payload, what="update payload")
        return await svc.temporal.update(workflow_id, run_id, name, args, update_id=update_id)

    return await acting_once(svc, who=who, scope="update", key=key, action=run_update,
                             authorize=lambda _: access.describe(svc, who, workflow_id, run_id),
                             request_fingerprint=lambda: fingerprint(workflow_id, run_id, name, payload))


async def stop(svc: Services, who: Principal, workflow_id: str, run_id: str | None, *, terminate: bool,
               reason: str | None, links: Links, key: str | None = None) -> str:
    """Cancel (its cleanup code runs) or terminate a run the caller may see; the run id.

    With an Idempotency-Key a retry answers as the first call did, even once the run closed.
    """
    verb = "terminated" if terminate else "cancelled"

    async def act(_: str | None) -> str:
        desc = await access.describe(svc, who, workflow_id, run_id)
        if not is_open(desc.status):
            raise links.closed(f"Workflow {workflow_id}" if run_id is None
                               else f"Run {run_id} of workflow {workflow_id}")
        why = reason or f"{verb} by {who.initiated_by}"
        try:
            if terminate:
                await svc.temporal.terminate(workflow_id, desc.run_id, reason=why)
            else:
                await svc.temporal.cancel(workflow_id, desc.run_id, reason=why)
        except WorkflowClosed:
            raise links.closed(f"Workflow {workflow_id}") from None
        return desc.run_id

    return await acting_once(svc, who=who, scope=verb, key=key, action=act,
                             authorize=lambda _: access.describe(svc, who, workflow_id, run_id),
                             request_fingerprint=lambda: fingerprint(workflow_id, run_id, reason))
