"""Reading one run the caller may see: the durable view, the runs surface's details with
mapped history, the durable event list, and who resumed it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from signalway import search_attributes as sa
from signalway.gateway.adapters.history import (
    Event,
    RunHistory,
    close_outcome,
    durable_event_type,
    epoch_seconds,
    event_data,
    event_time,
    event_time_rfc3339,
)
from signalway.gateway.adapters.memory import ClosedRun
from signalway.gateway.adapters.redis import REDIS_FAILURES
from signalway.gateway.adapters.temporal import (
    CLOSE_STATUS,
    Listed,
    RunFacts,
    Status,
    pending_activities,
)
from signalway.gateway.auth import Principal
from signalway.gateway.deps import Services
from signalway.gateway.errors import BackendUnavailable
from signalway.gateway.runs_schemas import PendingActivity, RunDetails, RunError, RunStatus
from signalway.gateway.runs_wire import ClientRunDetails, Wire, client_event, client_pending
from signalway.gateway.schemas import (
    DurableStatus,
    DurableWorkflow,
    WorkflowError,
    WorkflowEvent,
)
from signalway.gateway.services import access
from signalway.gateway.services.start import MEMO_INPUT
from signalway.times import ms_to_rfc3339, rfc3339_ms

DURABLE_STATUS: dict[Status, DurableStatus] = {
    Status.RUNNING: "running",
    Status.COMPLETED: "completed",
    Status.FAILED: "failed",
    Status.CANCELED: "cancelled",
    Status.TERMINATED: "terminated",
    Status.TIMED_OUT: "timed_out",
    Status.CONTINUED_AS_NEW: "continued_as_new",
}
_CANCELED = "CANCELED"


def attribute(item: Listed, key: Any) -> Any:
    return item.typed_search_attributes.get(key)


async def durable_view(svc: Services, item: Listed) -> DurableWorkflow:
    """A run as the durable surface shows it, alone or in a list alike: input, and for a
    closed run its result or error.

    The input comes from the memo when the start put it there (durable starts of small
    inputs), else from the first history event; the outcome from the close event. So a
    listed run costs at most two history reads, made only for what the memo cannot say.
    """
    memo = await svc.temporal.memo(item)
    workflow = DurableWorkflow(
        id=item.id, workflow_type=item.workflow_type, status=DURABLE_STATUS.get(item.status or Status.RUNNING, "running"),
        input=memo.get(MEMO_INPUT), created_at=item.start_time, started_at=item.start_time,
        completed_at=item.close_time,
    )
    if MEMO_INPUT not in memo:
        workflow.input = await svc.temporal.input_of(item.id, item.run_id)
    if item.close_time is not None:
        close = await svc.temporal.close_event(item.id, item.run_id)
        if close is not None:
            workflow.result, error = await close_outcome(close, svc.temporal.decode_one)
            if error is not None and CLOSE_STATUS.get(close.event_type) != _CANCELED:
                workflow.error = WorkflowError(**error)
    return workflow


async def durable_workflow(svc: Services, who: Principal, workflow_id: str) -> DurableWorkflow:
    """The durable view of a workflow's latest run; a run closed for good is shown from memory
    (it never changes) for as long as it is remembered as the workflow's last run."""
    closed = _closed_run(svc, who, workflow_id)
    if closed is not None:
        kept: bytes | None = svc.memory.history.get((closed.run_id, "view"))
        if kept is not None:
            return DurableWorkflow.model_validate_json(kept)
    desc = await access.describe(svc, who, workflow_id)
    view = await durable_view(svc, desc)
    if _final(desc):
        svc.memory.remember_closed(workflow_id, desc.run_id, svc.temporal.facts_of(desc))
        encoded = view.model_dump_json().encode()
        svc.memory.history.put((desc.run_id, "view"), encoded, len(encoded))
    return view


def _final(desc: Listed) -> bool:
    """A workflow's latest run (described without a run id) that is closed: a run that
    continues it (as new, by a retry or a cron schedule) would be its latest run instead,
    since Temporal starts it as the old one closes. Only a new start reusing the workflow id
    could follow, which Signalway never makes (remembered for a minute only, for those made
    elsewhere)."""
    return desc.status not in (None, Status.RUNNING, Status.CONTINUED_AS_NEW)


def _closed_run(svc: Services, who: Principal, workflow_id: str) -> ClosedRun | None:
    """The workflow's last run when it is remembered closed for good and the caller may see it;
    None when it must be described."""
    closed = svc.memory.closed_run(workflow_id)
    if closed is None or not access.in_scope(who, workflow_id, None):
        return None
    if not access.can_see(who, closed.facts):
        raise access.not_found(workflow_id)
    return closed


async def durable_after_write(svc: Services, who: Principal, workflow_id: str, *, workflow_type: str | None = None,
                              input: Any = None) -> DurableWorkflow:
    """The view answered after a start or a cancel Temporal accepted: read back when it can
    be, else what the request itself knows — never an error for something that happened."""
    try:
        return await durable_workflow(svc, who, workflow_id)
    except BackendUnavailable:
        now = datetime.now(tz=UTC)
        return DurableWorkflow(id=workflow_id, workflow_type=workflow_type or "", status="running", input=input,
                               created_at=now, started_at=now)


# A closed run's events are mapped once and kept (by bytes, gateway.adapters.memory) when
# the run has at most this many; a longer one is paged from Temporal each time.
_KEPT_EVENTS = 20_000


async def durable_events(svc: Services, who: Principal, workflow_id: str, *, limit: int, offset: int) -> bytes:
    """A page of the workflow's latest run's events, as the `WorkflowEventList` JSON body.

    A run closed for good never changes: its events are read from Temporal once, mapped,
    and later pages are cut from memory (with no describe while it is remembered as the
    workflow's last run). An open run's page reads the history up to the page's end only.
    """
    closed = _closed_run(svc, who, workflow_id)
    if closed is not None:
        kept: list[bytes] | None = svc.memory.history.get((closed.run_id, "events"))
        if kept is not None:
            return _event_page(kept[offset:offset + limit], len(kept))
    desc = await access.describe(svc, who, workflow_id)
    if _final(desc) and desc.history_length <= _KEPT_EVENTS:
        kept = svc.memory.history.get((desc.run_id, "events"))
        if kept is None:
            kept = [_event_json(await _durable_event(svc, workflow_id, event))
                    async for event in svc.temporal.history(workflow_id, desc.run_id, page_size=1000)]
            svc.memory.history.put((desc.run_id, "events"), kept, sum(map(len, kept)))
        svc.memory.remember_closed(workflow_id, desc.run_id, svc.temporal.facts_of(desc))
        return _event_page(kept[offset:offset + limit], len(kept))
    data: list[bytes] = []
    last = 0
    if offset < desc.history_length:
        async for event in svc.temporal.history(workflow_id, desc.run_id, page_size=min(offset + limit, 1000)):
            if event.event_id <= offset:
                continue
            data.append(_event_json(await _durable_event(svc, workflow_id, event)))
            last = event.event_id
            if len(data) >= limit:
                break
    # history_length can trail a run that is still writing events; never report fewer than we saw.
    return _event_page(data, max(desc.history_length, last))


async def _durable_event(svc: Services, workflow_id: str, event: Event) -> WorkflowEvent:
    return WorkflowEvent(
        id=event.event_id, sequence_num=event.event_id, event_type=durable_event_type(event),
        event_data=await event_data(event, svc.temporal.decode_one), created_at=event_time(event),
        workflow_id=workflow_id,
    )


def _event_json(event: WorkflowEvent) -> bytes:
    return orjson.dumps(event.model_dump(mode="json"))


def _event_page(events: list[bytes], total: int) -> bytes:
    """`WorkflowEventList` from events already encoded: kept as bytes, served without re-encoding."""
    return b'{"data":[' + b",".join(events) + b'],"total":' + str(total).encode() + b"}"


def _epoch(value: datetime | None) -> int | None:
    return int(value.timestamp()) if value is not None else None


def timing(item: Listed) -> dict[str, Any]:
    """Status and times as the runs surface shows them, for a listed or described run."""
    started, closed = _epoch(item.start_time), _epoch(item.close_time)
    status: RunStatus = (item.status or Status.RUNNING).name  # type: ignore[assignment]  # the seed's names
    return {
        "status": status,
        "started_at": started,
        "closed_at": closed,
        # From the shown epochs, so that duration == closed_at - started_at always (truncating the
        # exact duration instead disagrees by a second for a run that crosses a second boundary).
        "execution_duration": closed - started if closed is not None and started is not None else None,
    }


def client_timing(item: Listed) -> dict[str, Any]:
    """`timing` in the client wire: the times RFC 3339 to the millisecond, the rest as the seed's."""
    return {**timing(item), "started_at": rfc3339_ms(item.start_time), "closed_at": rfc3339_ms(item.close_time)}


async def run_details(svc: Services, who: Principal, workflow_id: str, run_id: str, *,
                      include_history: bool, wire: Wire = Wire.SEED) -> dict[str, Any]:
    """The run's details as the response body, with its history when asked for; a closed
    run's are kept (by bytes) and answered again without asking Temporal.

    The history entries stay plain JSON-ready dicts: a history can hold thousands of events,
    and they are mapped once, page by page, straight into the response.
    """
    key = (run_id, "details", wire.value, include_history)
    kept: tuple[str, RunFacts, bytes] | None = svc.memory.history.get(key)
    if kept is not None and kept[0] == workflow_id and access.in_scope(who, workflow_id, run_id):
        # A closed run never changes: only who resumed it is read again (it lives in Redis).
        if not access.can_see(who, kept[1]):
            raise access.not_found(workflow_id, run_id)
        body: dict[str, Any] = orjson.loads(kept[2])
        body["resumes"] = await resume_audit(svc, run_id)
        return body
    body, desc = await _run_details(svc, who, workflow_id, run_id, include_history=include_history, wire=wire)
    if desc.close_time is not None:
        try:  # kept as JSON: its memory is what it weighs
            encoded = orjson.dumps(body)
        except (TypeError, orjson.JSONEncodeError):
            return body  # nothing orjson encodes (e.g. an integer past 64 bits): not kept
        svc.memory.history.put(key, (workflow_id, svc.temporal.facts_of(desc), encoded), len(encoded))
    return body


async def _run_details(svc: Services, who: Principal, workflow_id: str, run_id: str, *,
                       include_history: bool, wire: Wire) -> tuple[dict[str, Any], Listed]:
    client = wire is Wire.CLIENT
    desc = await access.describe(svc, who, workflow_id, run_id)
    temporal = svc.temporal
    memo = {k: v for k, v in (await temporal.memo(desc)).items() if not k.startswith("signalway_")}
    pending = pending_activities(desc)
    run = RunDetails(
        **timing(desc), run_id=desc.run_id, workflow_id=desc.id, type=desc.workflow_type, memo=memo,
        pendingActivities=[PendingActivity(**p) for p in pending],
        initiated_by=attribute(desc, sa.INITIATED_BY), visibility=attribute(desc, sa.VISIBILITY),
    )
    close = None
    entries: list[dict[str, Any]] | None = None
    if include_history:
        mapper = RunHistory(temporal.decode, time_of=event_time_rfc3339 if client else epoch_seconds)
        entries = []
        async for event in temporal.history(desc.id, desc.run_id, page_size=1000):
            entry = await mapper.entry(event)
            if event.event_id == 1:
                values = entry.get("input") or []
                run.input = values[0] if len(values) == 1 else (values or None)
            if event.event_type in CLOSE_STATUS:
                close = event
            entries.append(client_event(entry) if client else entry)
    else:
        run.input = await temporal.input_of(desc.id, desc.run_id)
        if desc.close_time is not None:
            close = await temporal.close_event(desc.id, desc.run_id)
    if close is not None:
        run.result, error = await close_outcome(close, temporal.decode_one)
        run.error = RunError(**error) if error else None
    run.resumes = await resume_audit(svc, run_id)
    if client:
        body = ClientRunDetails(
            **client_timing(desc), run_id=run.run_id, workflow_id=run.workflow_id, type=run.type,
            vertesia_workflow_type=run.type, initiated_by=run.initiated_by,
            interaction_name=attribute(desc, sa.INTERACTION), visibility=run.visibility, input=run.input,
            result=run.result, error=run.error, memo=memo, pendingActivities=[client_pending(p) for p in pending],
            resumes=run.resumes,
        ).model_dump(mode="json", exclude={"history"})
        if entries is not None:
            body["history"] = {"type": "events", "events": entries}
        return body, desc
    body = run.model_dump(mode="json", exclude={"history"})
    if entries is not None:  # without history the field is left out, as the seed's API does
        body["history"] = entries
    return body, desc


async def resume_audit(svc: Services, run_id: str) -> list[dict[str, Any]]:
    """Who resumed the run's "webhook and wait" steps; empty when Redis cannot say."""
    try:
        steps = await svc.resume.of_run(run_id)
    except REDIS_FAILURES:
        return []
    return [
        {"step": s.step, "resumed_at": ms_to_rfc3339(s.resumed_ms),
         "client_ip": s.client_ip, "user_agent": s.user_agent}
        for s in steps if s.resumed_ms is not None
    ]
