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
    WorkflowNotFound,
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
    """The names the run answers to for `kind`; a name a remembered answer lacks is asked of
    the run itself (handlers can be registered at run time) before the caller is told it is
    unknown.

    Signals go by what a run of the same type answered within the last minute: Temporal
    takes a signal whether or not a worker polls, so a signal needs no word from the run
    itself. Queries and updates go by what this run answered (its first one is also the
    proof that a worker serves it: an update with none would wait out its timeout).
    With no worker polling, a signal to a catalog type is still checked against the signals
    its entry lists: Temporal holds it durably until a worker returns.
    """
    if kind == "signals":
        known = svc.memory.handler_set(workflow_type, kind)
        if known is not None and known.accepts(name):
            return known
    try:
        answered = await svc.temporal.handlers(workflow_id, run_id, fresh=kind == "signals")
        if not getattr(answered, kind).accepts(name) and kind != "signals":
            answered = await svc.temporal.handlers(workflow_id, run_id, fresh=True)
    except NoWorkerAnswered:
        entry = svc.settings.workflows.get(workflow_type)
        if entry is None or kind != "signals" or not entry.signals:
            raise
        return HandlerSet(names=tuple(entry.signals), dynamic=False)
    svc.memory.remember_handlers(workflow_type, answered)
    handlers: HandlerSet = getattr(answered, kind)
    return handlers


async def require_handler(svc: Services, run: access.VisibleRun, kind: Kind, name: str, links: Links, *,
                          closed: str | None = None) -> None:
    """422 naming what the run does handle, when it has no `kind` handler called `name`.

    `closed`: the run takes no message once closed (signals, updates): a closed run is
    answered so (409) rather than the name being unknown. Only an unknown name, or a run no
    worker answers for, costs the describe that tells.
    """
    try:
        known = await handler_set(svc, run.workflow_id, run.run_id, run.facts.workflow_type, kind, name)
    except NoWorkerAnswered:
        await _require_open(svc, run, links, closed)
        raise
    if known.accepts(name):
        return
    await _require_open(svc, run, links, closed)
    error, word, verb = _UNKNOWN[kind]
    raise error(
        f"Workflow {run.workflow_id} ({run.facts.workflow_type}) has no {word} {name!r}; "
        f"it {verb}: {', '.join(known.names) or 'none'}.",
        allowed_actions=[links.handler_action(word, n) for n in known.names],
    )


async def _require_open(svc: Services, run: access.VisibleRun, links: Links, closed: str | None) -> None:
    """409 when a message that a closed run refuses goes to a run not known to be open."""
    if closed is None or run.is_running is True:
        return
    try:
        desc = await svc.temporal.describe(run.workflow_id, run_id=run.run_id or None)
    except WorkflowNotFound:
        raise access.not_found(run.workflow_id, run.run_id or None) from None
    if not is_open(desc.status):
        raise links.closed(closed)


def handler_args(svc: Services, workflow_type: str, kind: Literal["signals", "updates"], name: str,
                 payload: Any, *, what: str) -> list[Any]:
    """The handler's arguments: checked against the payload schema the catalog gives it."""
    entry = svc.settings.workflows.get(workflow_type)
    if entry is not None and entry.schema_for(kind, name) is not None:
        return [checked(entry, kind, name, payload, what=what)]
    return [] if payload is None else [payload]


async def _latest(svc: Services, who: Principal, workflow_id: str, run_id: str | None) -> access.VisibleRun:
    """The run a message goes to. For the latest run of `workflow_id` (`run_id` None), its
    `run_id` is "": Temporal sends to whichever run is the latest when the message arrives,
    so a run that continued as new gets it in its new run, and a closed one answers so.

    The workflow id's facts are remembered (they are the same for all its runs), so only the
    first message to a workflow id describes it.
    """
    if run_id is not None:
        return await access.run(svc, who, workflow_id, run_id)
    if not access.in_scope(who, workflow_id, None):
        raise access.not_found(workflow_id)
    facts = svc.memory.workflow_facts(workflow_id)
    if facts is not None:
        if not access.can_see(who, facts):
            raise access.not_found(workflow_id)
        return access.VisibleRun(workflow_id, "", facts, None)
    desc = await access.describe(svc, who, workflow_id)
    facts = svc.temporal.facts_of(desc)
    svc.memory.remember_facts(workflow_id, facts)
    return access.VisibleRun(workflow_id, "", facts, is_open(desc.status))


async def _closed_or_gone(svc: Services, workflow_id: str, run_id: str | None, links: Links,
                          what: str) -> Exception:
    """Temporal answered "not found" to a message sent on remembered facts: the run closed
    (409), or the workflow is gone (404). Only this answer costs a describe."""
    if run_id is None:
        try:
            await svc.temporal.describe(workflow_id)
        except WorkflowNotFound:
            svc.memory.forget(workflow_id)
            return access.not_found(workflow_id)
    return links.closed(what)


async def signal(svc: Services, who: Principal, workflow_id: str, run_id: str | None, name: str, payload: Any, *,
                 key: str | None, receipt: bool, links: Links, what: str, scope: str) -> int | None:
    """Signal a run (the latest of `workflow_id` when `run_id` is None); the receipt's event id.

    The hot path of a chat: one Temporal call, the signal itself. The run's facts and its
    type's handler names are remembered, and a closed run is found by the signal itself
    rather than by a describe before every message. A retry with the same key answers as
    the first time, even once the signal closed the run.
    """
    closed = f"Workflow {workflow_id}"

    async def send(request_id: str | None) -> int | None:
        run = await _latest(svc, who, workflow_id, run_id)
        if run.is_running is False:
            raise links.closed(closed)
        await require_handler(svc, run, "signals", name, links, closed=closed)
        args = handler_args(svc, run.facts.workflow_type, "signals", name, payload, what=what)
        try:
            return await svc.temporal.signal(workflow_id, run.run_id, name, args, request_id=request_id,
                                             receipt=receipt)
        except WorkflowClosed:
            raise await _closed_or_gone(svc, workflow_id, run_id, links, closed) from None

    return await acting_once(svc, who=who, scope=scope, key=key, action=send,
                             authorize=lambda _: _latest(svc, who, workflow_id, run_id),
                             request_fingerprint=lambda: fingerprint(workflow_id, run_id, name, payload))


async def query(svc: Services, who: Principal, workflow_id: str, run_id: str, name: str, links: Links) -> Any:
    run = await access.run(svc, who, workflow_id, run_id)
    await require_handler(svc, run, "queries", name, links)
    return await svc.temporal.query(workflow_id, run_id, name, [])


async def update(svc: Services, who: Principal, workflow_id: str, run_id: str, name: str, payload: Any, *,
                 key: str | None, links: Links) -> Any:
    """Run an update on a run the caller may see: one Temporal call, the update itself (a
    closed run answers so to the update)."""
    closed = f"Run {run_id} of workflow {workflow_id}"

    async def run_update(update_id: str | None) -> Any:
        run = await access.run(svc, who, workflow_id, run_id)
        if run.is_running is False:
            raise links.closed(closed)
        await require_handler(svc, run, "updates", name, links, closed=closed)
        args = handler_args(svc, run.facts.workflow_type, "updates", name, payload, what="update payload")
        try:
            return await svc.temporal.update(workflow_id, run_id, name, args, update_id=update_id)
        except WorkflowClosed:
            raise links.closed(closed) from None

    return await acting_once(svc, who=who, scope="update", key=key, action=run_update,
                             authorize=lambda _: access.describe(svc, who, workflow_id, run_id),
                             request_fingerprint=lambda: fingerprint(workflow_id, run_id, name, payload))


async def stop(svc: Services, who: Principal, workflow_id: str, run_id: str | None, *, terminate: bool,
               reason: str | None, links: Links, key: str | None = None) -> None:
    """Cancel (its cleanup code runs) or terminate a run the caller may see (the latest of
    `workflow_id` when `run_id` is None).

    A terminate is one Temporal call: a closed run answers it "not found". A cancel reads the
    run first: Temporal takes a cancel request for a run that already closed as a success
    that does nothing, and the caller is promised a 409 for it.
    With an Idempotency-Key a retry answers as the first call did, even once the run closed.
    """
    verb = "terminated" if terminate else "cancelled"
    closed = f"Workflow {workflow_id}" if run_id is None else f"Run {run_id} of workflow {workflow_id}"

    async def act(_: str | None) -> None:
        if terminate:
            run = await _latest(svc, who, workflow_id, run_id)
        else:
            desc = await access.describe(svc, who, workflow_id, run_id)
            run = access.VisibleRun(workflow_id, run_id or "", svc.temporal.facts_of(desc), is_open(desc.status))
        if run.is_running is False:
            raise links.closed(closed)
        why = reason or f"{verb} by {who.initiated_by}"
        try:
            if terminate:
                await svc.temporal.terminate(workflow_id, run.run_id, reason=why)
            else:
                await svc.temporal.cancel(workflow_id, run.run_id, reason=why)
        except WorkflowClosed:
            raise await _closed_or_gone(svc, workflow_id, run_id, links, closed) from None

    await acting_once(svc, who=who, scope=verb, key=key, action=act,
                      authorize=lambda _: access.describe(svc, who, workflow_id, run_id),
                      request_fingerprint=lambda: fingerprint(workflow_id, run_id, reason))
