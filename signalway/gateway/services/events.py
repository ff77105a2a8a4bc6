"""Event triggers: what a caller of the project may see and send, exactly once.

A trigger of a workflow step belongs to its run and is visible exactly when the run is
(`access.owns`): another user's private run's triggers answer 404 like a missing key and
are left out of lists and prefix sends. Job triggers and early events belong to the
project. Counts (`stats`) and `purge` are project-level operations.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

from signalway.gateway.adapters.redis import REDIS_FAILURES
from signalway.gateway.adapters.temporal import NoWorkerAnswered, Status
from signalway.gateway.auth import Principal
from signalway.gateway.deps import Services
from signalway.gateway.errors import (
    Conflict,
    NotFound,
    Problem,
    Unprocessable,
    WorkflowClosed,
    WorkflowNotFound,
)
from signalway.gateway.services import access
from signalway.gateway.services.idempotency import acting_once, fingerprint
from signalway.steps.contract import TRIGGER_SIGNAL, TriggerMessage
from signalway.times import ms_to_rfc3339, us_to_rfc3339_ms
from signalway.triggers import Trigger, invalid_event_key, iso_us, now_us

_LIST_SCAN_LIMIT = 20_000
_PREFIX_CONCURRENCY = 64
_WATCH_INTERVAL_SECONDS = 0.2


def missing(key: str) -> NotFound:
    return NotFound(f"No event trigger has the key {key!r} in this project.")


def not_held(key: str) -> NotFound:
    """An event sent before its wait exists, for a key no early-event prefix covers."""
    return NotFound(
        f"No event trigger has the key {key!r} in this project, so the event was not delivered. An event "
        "sent before its wait exists is held only when its key starts with a prefix listed in the gateway's "
        "SIGNALWAY_EARLY_EVENT_PREFIXES setting."
    )


async def visible(svc: Services, who: Principal, trigger: Trigger | None) -> Trigger | None:
    if trigger is None or not await access.owns(svc, who, trigger.workflow_id, trigger.workflow_run_id):
        return None
    return trigger


async def by_key(svc: Services, who: Principal, key: str) -> Trigger:
    trigger = await visible(svc, who, await svc.triggers.by_key(who.project, key))
    if trigger is None:
        raise missing(key)
    return trigger


async def page(svc: Services, who: Principal, *, status: str | None, source_type: str | None, run_id: str | None,
               limit: int, before_us: int | None) -> tuple[list[Trigger], bool]:
    """Newest first, filtered in a bounded scan of the project's time index; (page, has_more).

    A page is bounded by count (`limit`) and by the bytes of its payloads
    (`SIGNALWAY_EVENTS_PAGE_MAX_BYTES`; at least one trigger): the scan reads triggers without
    their payloads, and only the page's are then read whole, so the gateway never holds more
    than one page's payloads, however large the project's triggers are.

    The next page starts strictly before the last item's time (the cursor), so a page does
    not end inside an instant whose other triggers would not fit: it ends before that
    instant, unless the instant is all of the page."""
    found, has_more = await _page_of_meta(svc, who, status=status, source_type=source_type, run_id=run_id,
                                          limit=limit, before_us=before_us)
    return await svc.triggers.with_payloads(who.project, found), has_more


async def _page_of_meta(svc: Services, who: Principal, *, status: str | None, source_type: str | None,
                        run_id: str | None, limit: int, before_us: int | None) -> tuple[list[Trigger], bool]:
    found: list[Trigger] = []
    size, budget = 0, svc.settings.events_page_max_bytes
    scanned = 0
    while scanned < _LIST_SCAN_LIMIT:
        batch = await svc.triggers.page(who.project, before_us=before_us, batch=200, payloads=False)
        scanned += len(batch.triggers)
        for trigger in batch.triggers:
            if (status and trigger.as_api()["status"] != status) or (source_type and trigger.source_type != source_type) \
                    or (run_id and trigger.workflow_run_id != run_id):
                continue
            if await visible(svc, who, trigger) is None:
                continue
            if len(found) == limit or (found and size + trigger.payload_bytes > budget):
                whole = [t for t in found if t.requested_us != trigger.requested_us]
                return whole or found, True
            found.append(trigger)
            size += trigger.payload_bytes
        if batch.next_before_us is None:
            break
        before_us = batch.next_before_us
    return found, False


def check_key(key: str) -> None:
    reason = invalid_event_key(key)
    if reason is not None:
        raise Unprocessable(f"event_key {key!r} cannot be used: {reason}.")


async def register_job(svc: Services, who: Principal, *, event_key: str, job_run_id: str, timeout_secs: float,
                       request_payload: Any) -> Trigger:
    check_key(event_key)
    size = len(json.dumps(request_payload)) if request_payload is not None else 0
    svc.quotas.payload_bound("request_payload", size)
    await svc.quotas.register_trigger(who.project, size)
    requested = now_us()
    registered = await svc.triggers.register(
        project=who.project, id=str(uuid.uuid4()), event_key=event_key, source_type="job_run",
        workflow_id=None, run_id=None, step_run_id=None, job_run_id=job_run_id,
        request_payload=request_payload, timeout_secs=timeout_secs, requested_us=requested,
        expires_us=requested + int(timeout_secs * 1_000_000),
    )
    if registered.status == "conflict":
        raise Conflict(f"Another trigger already waits for {event_key!r}.")
    trigger = await svc.triggers.by_key(who.project, event_key)
    assert trigger is not None
    return trigger


async def _signal(svc: Services, trigger: Trigger, message: TriggerMessage) -> None:
    if trigger.source_type != "workflow_step" or not trigger.workflow_id or not trigger.workflow_run_id:
        return  # a job waits on the stream; nothing to signal
    # No receipt lookup: the trigger itself records the delivery.
    await svc.temporal.signal(trigger.workflow_id, trigger.workflow_run_id, TRIGGER_SIGNAL, [message],
                              request_id=f"trigger-{trigger.id}-{message.action}", receipt=False)


async def _send_one(svc: Services, who: Principal, key: str, payload: Any, text: str) -> Trigger | None:
    """Resolve one key's waiting trigger exactly once; None when the key has no trigger."""
    if await visible(svc, who, await svc.triggers.by_key(who.project, key)) is None:
        return None
    fp = fingerprint(payload)
    outcome, id, earlier, trigger = await svc.triggers.send(who.project, key, text, fp)
    if outcome == "missing" or trigger is None:
        return None
    if outcome == "received-now":
        try:
            await _signal(svc, trigger, TriggerMessage(event_key=key, action="received", payload=payload))
        except (WorkflowClosed, WorkflowNotFound):
            await svc.triggers.unsend(who.project, id, fp, event_key=key)
            await svc.triggers.settle(who.project, id, "canceled", event_key=key,
                                      error="the waiting workflow is no longer running")
            raise Conflict(f"The workflow waiting for {key!r} is no longer running; the trigger was canceled.") from None
        except Problem:
            # Nothing reached the workflow: the trigger waits again, and the send can be retried.
            await svc.triggers.unsend(who.project, id, fp, event_key=key)
            raise
        svc.telemetry.trigger("received")
        return trigger
    if outcome == "received" and earlier == fp:
        return trigger  # the same event again: answered, not sent twice
    if outcome == "received":
        raise Conflict(f"The trigger {key!r} already received a different payload.")
    raise Conflict(f"The trigger {key!r} is {outcome}; it takes no event.")


def _early_allowed(svc: Services, key: str) -> bool:
    return any(key.startswith(p) for p in svc.settings.early_event_prefixes)


async def send(svc: Services, who: Principal, key: str, payload: Any, *,
               idempotency_key: str | None) -> tuple[int, dict[str, Any]]:
    """Send an event: (200, the trigger) or, for an early-event prefix, (202, the held event)."""
    text = json.dumps(payload, separators=(",", ":"))
    svc.quotas.payload_bound("event payload (its response_payload)", len(text))

    async def act(_: str | None) -> dict[str, Any]:
        trigger = await _send_one(svc, who, key, payload, text)
        if trigger is not None:
            return {"status": 200, "body": trigger.as_api()}
        if not _early_allowed(svc, key):
            raise not_held(key)
        expires = await svc.triggers.hold(who.project, key, text, ttl_seconds=svc.settings.early_event_ttl_seconds)
        svc.telemetry.early_event_held()
        return {"status": 202, "body": {"event_key": key, "status": "held", "payload": payload,
                                        "expires_at": iso_us(expires)}}

    async def authorize(stored: dict[str, Any]) -> None:
        # The access decision of a fresh send: the trigger's run, when it still has one.
        if stored.get("status") == 200:
            current = await svc.triggers.get(who.project, stored["body"]["id"], event_key=key)
            if current is not None and await visible(svc, who, current) is None:
                raise missing(key)

    answer = await acting_once(svc, who=who, scope=f"event-send:{key}", key=idempotency_key,
                               request_fingerprint=lambda: fingerprint(key, payload), action=act,
                               authorize=authorize)
    return answer["status"], answer["body"]


async def waiting_with_prefix(svc: Services, who: Principal, key_prefix: str) -> tuple[int, list[Trigger]]:
    """(how many waiting triggers the caller may see match the prefix, the first of them, whole,
    as many as fit `SIGNALWAY_EVENTS_PAGE_MAX_BYTES` of payloads: at least one)."""
    keys = await svc.triggers.waiting_keys(who.project, key_prefix)
    count, size, full = 0, 0, False
    listed: list[Trigger] = []
    for start in range(0, len(keys), 200):  # read without payloads, 200 keys a round trip
        for trigger in await svc.triggers.by_keys(who.project, keys[start:start + 200]):
            if await visible(svc, who, trigger) is None:
                continue
            count += 1
            if not full and (not listed or size + trigger.payload_bytes <= svc.settings.events_page_max_bytes):
                listed.append(trigger)
                size += trigger.payload_bytes
            else:
                full = True  # the listed ones stay the first ones
    return count, await svc.triggers.with_payloads(who.project, listed)


async def send_prefix(svc: Services, who: Principal, key_prefix: str,
                      payload: Any) -> tuple[int, list[dict[str, Any]], bool]:
    """Resolve every waiting trigger the caller may see whose key starts with the prefix:
    (how many were resolved, the triggers, whether some were left out of the answer).

    The answer lists triggers up to `SIGNALWAY_EVENTS_PAGE_MAX_BYTES` of payloads (at least
    one): a send to thousands of large triggers does not hold all of them at once."""
    text = json.dumps(payload, separators=(",", ":"))
    svc.quotas.payload_bound("event payload (its response_payload)", len(text))
    limit = asyncio.Semaphore(_PREFIX_CONCURRENCY)
    budget = svc.settings.events_page_max_bytes
    kept: list[dict[str, Any]] = []
    size, left_out = 0, False

    def keep(trigger: Trigger, extra: dict[str, Any]) -> None:
        nonlocal size, left_out
        if kept and size + trigger.payload_bytes > budget:
            left_out = True
            return
        kept.append({**trigger.as_api(), **extra})
        size += trigger.payload_bytes

    async def one(key: str) -> bool:
        async with limit:
            try:
                trigger = await _send_one(svc, who, key, payload, text)
            except Problem as exc:
                current = await svc.triggers.by_key(who.project, key)
                if current is not None:
                    keep(current, {"error": exc.detail})
                return False
            if trigger is not None:
                keep(trigger, {})
            return trigger is not None

    keys = await svc.triggers.waiting_keys(who.project, key_prefix)
    results = await asyncio.gather(*[one(k) for k in keys])
    return sum(results), kept, left_out


async def cancel(svc: Services, who: Principal, key: str) -> Trigger:
    trigger = await by_key(svc, who, key)
    outcome = await svc.triggers.settle(who.project, trigger.id, "canceled", event_key=key,
                                        error="canceled by " + who.initiated_by)
    if outcome not in ("ok", "canceled"):
        raise Conflict(f"The trigger {key!r} is {outcome}; only a waiting trigger can be canceled.")
    if outcome == "ok":
        svc.telemetry.trigger("canceled")
    try:
        await _signal(svc, trigger, TriggerMessage(event_key=key, action="canceled"))
    except (WorkflowClosed, WorkflowNotFound):
        pass  # the run ended meanwhile: the trigger is canceled either way
    return await svc.triggers.get(who.project, trigger.id, event_key=key) or trigger


async def watch(svc: Services, who: Principal, first: Trigger) -> AsyncIterator[Trigger]:
    """The trigger each time it changes, until it is terminal (or Redis stops answering)."""
    last: dict[str, Any] | None = None
    trigger: Trigger | None = first
    while trigger is not None:
        wire = trigger.as_api()
        if wire != last:
            yield trigger
            last = wire
        if wire["status"] != "waiting":
            return
        await asyncio.sleep(_WATCH_INTERVAL_SECONDS)
        try:
            trigger = await svc.triggers.get(who.project, first.id, event_key=first.event_key)
        except REDIS_FAILURES:
            return


async def run_waits(svc: Services, who: Principal, workflow_id: str, run_id: str) -> dict[str, Any]:
    """What a run is waiting for: open triggers, open resume URLs, the signals it accepts."""
    desc = await access.describe(svc, who, workflow_id, run_id)
    triggers = [t for t in await svc.triggers.of_run(who.project, run_id) if t.as_api()["status"] == "waiting"]
    steps = [s for s in await svc.resume.of_run(run_id) if s.status == "waiting"]
    body: dict[str, Any] = {
        "workflow_id": workflow_id, "run_id": run_id, "status": desc.status.name if desc.status else None,
        "triggers": [{"event_key": t.event_key, "id": t.id, "expires_at": us_to_rfc3339_ms(t.expires_us),
                      "send": f"/v1/events/{t.event_key}/send"} for t in triggers],
        "resume_urls": [{"step": s.step, "variables": s.variables,
                         "deadline": ms_to_rfc3339(s.deadline_ms)} for s in steps],
        "signals": [], "updates": [],
    }
    if desc.status == Status.RUNNING:
        try:
            handlers = await svc.temporal.handlers(workflow_id, run_id)
            body["signals"] = [n for n in handlers.signals.names if not n.startswith("signalway_")]
            body["updates"] = list(handlers.updates.names)
            if not handlers.known:
                body["signals_unknown"] = "the run's SDK does not describe its handlers; any name is sent"
        except NoWorkerAnswered:
            body["signals_unknown"] = "no worker answered; the run's signals cannot be listed right now"
    return body
