"""Workflow runs surface (seed 001): `/api/v1/workflows/...`, Bearer JWT only."""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import (
    WorkflowExecution,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from gateway.auth import Principal
from gateway.deps import Services, principal, services
from gateway.errors import (
    AllowedAction,
    BackendUnavailable,
    BadRequest,
    UnknownQuery,
    UnknownSignal,
    UnknownUpdate,
    Unprocessable,
    WorkflowClosed,
    WorkflowNotFound,
)
from gateway.history import RunHistory, close_outcome, failure_summary
from gateway.list_query import parse as parse_query
from gateway.routes._handlers import (
    MEMO_REQUEST_HASH,
    derived_id,
    fingerprint,
    handler_args,
    handler_set,
    idempotency_key,
    once,
    require_known_type,
    same_request_or_conflict,
    wants_receipt,
    workflow_input,
)
from gateway.routing import UUID, ApiRoute, Operation, Param, bool_param, read_json, read_model
from gateway.runs_schemas import (
    ActionBody,
    ActionDone,
    ExecuteWorkflow,
    ListRuns,
    PendingActivity,
    RunDetails,
    RunError,
    RunList,
    RunStatus,
    RunSummary,
    Signalled,
    StartedRun,
    StartedRuns,
)
from gateway.temporal_service import CLOSE_STATUS, RunFacts, TemporalService, is_open
from gateway.visibility import EXECUTION_STATUS, all_of, equals, literal
from signalway import search_attributes as sa
from workflows.registry import CONVERSATION_TYPES

BASE = "/api/v1/workflows"
RUN = BASE + "/runs/{workflow_id}/{run_id}"
API_NAME = "runs"
DEFAULT_INTERACTION = "default"

_TOKEN_DIGEST_BYTES = 12

# Beyond the durable surface's names, the spellings seed 001 clients send.
RUN_STATUS_FILTER: dict[str, str] = {**EXECUTION_STATUS, "timedout": "TimedOut", "continuedasnew": "ContinuedAsNew"}


# -- parameters --------------------------------------------------------------------------


def run_ids(request: Request) -> tuple[str, str]:
    workflow_id = request.path_params["workflow_id"]
    run_id = request.path_params["run_id"]
    if not 0 < len(workflow_id) <= 1000:
        raise BadRequest("workflow_id must be 1 to 1000 characters.")
    if not UUID.match(run_id):
        raise BadRequest(f"run_id must be a UUID, got {run_id!r}.")
    return workflow_id, run_id.lower()


def _iso_time(value: str, name: str) -> str:
    try:
        parsed = datetime.fromisoformat(value.strip().replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{name} must be an ISO 8601 date or date-time, got {value!r}.") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# -- access ----------------------------------------------------------------------------


def _attribute(desc: WorkflowExecutionDescription | WorkflowExecution, key: Any) -> Any:
    return desc.typed_search_attributes.get(key)


def can_see(who: Principal, facts: RunFacts) -> bool:
    """Same project, and a private run only to its starter and the project's superadmins."""
    if facts.project != who.project:
        return False
    if facts.visibility == "private":
        return who.is_superadmin or facts.initiated_by == who.initiated_by
    return True


def _missing(workflow_id: str, run_id: str) -> WorkflowNotFound:
    return WorkflowNotFound(f"Run {run_id} of workflow {workflow_id} was not found.")


async def describe_run(svc: Services, who: Principal, workflow_id: str, run_id: str) -> WorkflowExecutionDescription:
    try:
        desc = await svc.temporal.describe(workflow_id, project=who.project, run_id=run_id)
    except WorkflowNotFound:
        raise _missing(workflow_id, run_id) from None
    if not can_see(who, svc.temporal.facts_of(desc)):
        raise _missing(workflow_id, run_id)
    return desc


def _closed(workflow_id: str, run_id: str) -> WorkflowClosed:
    return WorkflowClosed(
        f"Run {run_id} of workflow {workflow_id} is closed.",
        allowed_actions=[AllowedAction(rel="get-existing", href=f"{BASE}/runs/{workflow_id}/{run_id}",
                                       operation_id="getRunDetails", hint="Read the run's outcome.")],
    )


async def describe_open_run(svc: Services, who: Principal, workflow_id: str, run_id: str) -> WorkflowExecutionDescription:
    desc = await describe_run(svc, who, workflow_id, run_id)
    if not is_open(desc.status):
        raise _closed(workflow_id, run_id)
    return desc


# -- rendering ---------------------------------------------------------------------------


def _json(value: BaseModel | list[BaseModel] | Any, status: int = 200) -> Response:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    elif isinstance(value, list) and value and isinstance(value[0], BaseModel):
        value = [item.model_dump(mode="json") for item in value]
    return JSONResponse(value, status_code=status)


def _epoch(value: datetime | None) -> int | None:
    return int(value.timestamp()) if value is not None else None


def _status(status: WorkflowExecutionStatus | None) -> RunStatus:
    name = (status or WorkflowExecutionStatus.RUNNING).name
    return name  # type: ignore[return-value]  # the enum's names are exactly the seed's


def _timing(item: WorkflowExecution) -> dict[str, Any]:
    """Status and times as the seed shows them, for a listed or described run."""
    started, closed = item.start_time, item.close_time
    return {
        "status": _status(item.status),
        "started_at": _epoch(started),
        "closed_at": _epoch(closed),
        "execution_duration": int((closed - started).total_seconds()) if closed and started else None,
    }


def summary(item: WorkflowExecution) -> RunSummary:
    return RunSummary(
        **_timing(item),
        run_id=item.run_id,
        workflow_id=item.id,
        type=item.workflow_type,
        initiated_by=_attribute(item, sa.INITIATED_BY),
        interaction_name=_attribute(item, sa.INTERACTION),
        vertesia_workflow_type=item.workflow_type,
        visibility=_attribute(item, sa.VISIBILITY),
        document_id=_attribute(item, sa.DOCUMENT_ID),
        event_name=_attribute(item, sa.EVENT_NAME),
        rule_id=_attribute(item, sa.RULE_ID),
        rule_name=_attribute(item, sa.RULE_NAME),
    )


def _pending_activities(desc: WorkflowExecutionDescription) -> list[PendingActivity]:
    pending = []
    for activity in desc.raw_description.pending_activities:
        last_failure = None
        if activity.HasField("last_failure"):
            failure = failure_summary(activity.last_failure)
            last_failure = RunError(message=failure["message"], type=failure.get("type"))
        pending.append(PendingActivity(
            activityId=activity.activity_id,
            activityType=activity.activity_type.name,
            state=PendingActivityState.Name(activity.state),
            attempt=activity.attempt,
            maximumAttempts=activity.maximum_attempts,
            scheduledTime=activity.scheduled_time.seconds if activity.HasField("scheduled_time") else None,
            lastStartedTime=activity.last_started_time.seconds if activity.HasField("last_started_time") else None,
            lastHeartbeatTime=(
                activity.last_heartbeat_time.seconds if activity.HasField("last_heartbeat_time") else None
            ),
            lastFailure=last_failure,
        ))
    return pending


async def details(
    temporal: TemporalService, desc: WorkflowExecutionDescription, *, include_history: bool
) -> tuple[RunDetails, list[dict[str, Any]] | None]:
    """The run's details, and its history entries (shaped as `HistoryEntry`) when asked for.

    The entries stay plain JSON-ready dicts: a history can hold thousands of events, and they
    are mapped once, page by page, straight into the response.
    """
    memo = {k: v for k, v in (await temporal.memo(desc)).items() if not k.startswith("signalway_")}
    run = RunDetails(
        **_timing(desc),
        run_id=desc.run_id,
        workflow_id=desc.id,
        type=desc.workflow_type,
        memo=memo,
        history=None,
        pendingActivities=_pending_activities(desc),
        initiated_by=_attribute(desc, sa.INITIATED_BY),
        visibility=_attribute(desc, sa.VISIBILITY),
    )
    close = None
    entries: list[dict[str, Any]] | None = None
    if include_history:
        mapper = RunHistory(temporal.decode)
        entries = []
        # Paged from Temporal: each page is mapped and dropped before the next is fetched.
        async for event in temporal.history(desc.id, desc.run_id, page_size=1000):
            entry = await mapper.entry(event)
            if event.event_id == 1:
                values = entry.get("input") or []
                run.input = values[0] if len(values) == 1 else (values or None)
            if event.event_type in CLOSE_STATUS:
                close = event
            entries.append(entry)
    else:
        first = await temporal.first_event(desc.id, desc.run_id)
        if first is not None:
            run.input = await temporal.decode_one(first.workflow_execution_started_event_attributes.input)
        if desc.close_time is not None:
            close = await temporal.close_event(desc.id, desc.run_id)
    if close is not None:
        run.result, error = await close_outcome(close, temporal.decode_one)
        run.error = RunError(**error) if error else None
    return run, entries




# -- list ------------------------------------------------------------------------------


def scope_filter(who: Principal, *, conversations: bool) -> str:
    """What the caller may see: its project, and private runs only when they are its own."""
    clauses = [equals(sa.PROJECT, who.project)]
    if not who.is_superadmin:
        clauses.append(f"{equals(sa.VISIBILITY, 'project')} OR {equals(sa.INITIATED_BY, who.initiated_by)}")
    if conversations:
        clauses.append(f"{sa.INTERACTION.name} IS NOT NULL")
    return all_of(*clauses)


def filters(body: ListRuns) -> list[str]:
    clauses: list[str] = []
    for value, key in ((body.document_id, sa.DOCUMENT_ID), (body.event_name, sa.EVENT_NAME),
                       (body.rule_id, sa.RULE_ID), (body.initiated_by, sa.INITIATED_BY)):
        if value is not None:
            clauses.append(equals(key, value))
    if body.type is not None:
        clauses.append(equals("WorkflowType", body.type))
    if body.start is not None:
        clauses.append(f"StartTime >= {literal(_iso_time(body.start, 'start'))}")
    if body.end is not None:
        clauses.append(f"StartTime <= {literal(_iso_time(body.end, 'end'))}")
    if body.status is not None:
        status = RUN_STATUS_FILTER.get(body.status.strip().lower())
        if status is None:
            raise BadRequest(
                f"Unknown status {body.status!r}; use one of "
                "running, completed, failed, canceled, terminated, timed_out, continued_as_new."
            )
        clauses.append(equals("ExecutionStatus", status))
    if body.search_term is not None:
        term = body.search_term.strip()
        clauses.append(" OR ".join(
            (equals("WorkflowType", term), equals(sa.RULE_NAME, term), equals("RunId", term))
        ))
    if body.query:
        clauses.append(parse_query(body.query))
    return clauses


def _encode_token(query: str, token: bytes) -> str:
    digest = hashlib.sha256(query.encode()).digest()[:_TOKEN_DIGEST_BYTES]
    return base64.urlsafe_b64encode(digest + token).decode()


def _decode_token(query: str, raw: str) -> bytes:
    try:
        data = base64.urlsafe_b64decode(raw.encode() + b"=" * (-len(raw) % 4))
    except (binascii.Error, ValueError):
        raise BadRequest("next_page_token is malformed; pass the token of the previous page unchanged.") from None
    digest, token = data[:_TOKEN_DIGEST_BYTES], data[_TOKEN_DIGEST_BYTES:]
    if not token or digest != hashlib.sha256(query.encode()).digest()[:_TOKEN_DIGEST_BYTES]:
        raise BadRequest("next_page_token does not belong to these filters; start again without it.")
    return token


async def _list(request: Request, *, conversations: bool) -> Response:
    svc = services(request)
    who = principal(request)
    body = await read_model(request, ListRuns, required=False) or ListRuns()
    query = all_of(scope_filter(who, conversations=conversations), *filters(body))
    token = _decode_token(query, body.next_page_token) if body.next_page_token else None
    items, next_token = await svc.temporal.list(query, page_size=body.page_size, next_page_token=token)
    return _json(RunList(
        runs=[summary(item) for item in items],
        next_page_token=_encode_token(query, next_token) if next_token else None,
        has_more=next_token is not None,
    ))


async def list_runs(request: Request) -> Response:
    return await _list(request, conversations=False)


async def list_conversations(request: Request) -> Response:
    return await _list(request, conversations=True)


async def index_run(svc: Services, run_id: str, workflow_id: str, facts: RunFacts) -> None:
    """Record a started run for the routes that name it by run id alone (POST updates)."""
    svc.temporal.remember_run(run_id, workflow_id, facts)
    with suppress(BackendUnavailable):  # only an index: visibility finds the run without it
        await svc.redis.index_run(run_id, workflow_id, facts)


# -- execute -----------------------------------------------------------------------------


def _search_attributes(who: Principal, workflow_type: str, body: ExecuteWorkflow) -> TypedSearchAttributes:
    document_id = body.document_id or (body.objectIds[0] if body.objectIds else None)
    interaction = body.interaction or (DEFAULT_INTERACTION if workflow_type in CONVERSATION_TYPES else None)
    pairs: list[SearchAttributePair[str]] = [
        SearchAttributePair(sa.PROJECT, who.project),
        SearchAttributePair(sa.API, API_NAME),
        SearchAttributePair(sa.INITIATED_BY, who.initiated_by),
        SearchAttributePair(sa.VISIBILITY, body.visibility),
    ]
    for key, value in ((sa.DOCUMENT_ID, document_id), (sa.EVENT_NAME, body.event_name),
                       (sa.RULE_ID, body.rule_id), (sa.RULE_NAME, body.rule_name),
                       (sa.INTERACTION, interaction)):
        if value:
            pairs.append(SearchAttributePair(key, value))
    return TypedSearchAttributes(pairs)


async def execute(request: Request) -> Response:
    svc = services(request)
    who = principal(request)
    workflow_type = request.path_params["workflow_type"]
    require_known_type(svc, workflow_type, field="workflow type", operation_id="executeWorkflow",
                       href=f"{BASE}/execute/{{name}}")
    body = await read_model(request, ExecuteWorkflow, required=False) or ExecuteWorkflow()
    arg = workflow_input(workflow_type, body.vars, what="vars")
    request_hash = fingerprint(workflow_type, body.model_dump(mode="json"))
    key = idempotency_key(request)
    workflow_id = derived_id(who.project, "execute", key) if key else str(uuid.uuid4())
    memo: dict[str, Any] = {MEMO_REQUEST_HASH: request_hash}
    if body.objectIds:
        memo["objectIds"] = body.objectIds
    run_id = await svc.temporal.start(
        workflow_type, arg, workflow_id=workflow_id,
        search_attributes=_search_attributes(who, workflow_type, body), memo=memo,
    )
    if run_id is None:
        # The Idempotency-Key was used before: the same request gets the same run, else 409.
        desc = await svc.temporal.describe(workflow_id, project=who.project)
        await same_request_or_conflict(svc.temporal, desc, request_hash)
        run_id = desc.run_id
    await index_run(svc, run_id, workflow_id, RunFacts(
        workflow_type=workflow_type, project=who.project, visibility=body.visibility, initiated_by=who.initiated_by))
    return _json([StartedRun(run_id=run_id, workflow_id=workflow_id)])


# -- one run ---------------------------------------------------------------------------


async def resume_audit(svc: Services, run_id: str) -> list[dict[str, Any]]:
    """Who resumed the run's "webhook and wait" steps; empty when Redis cannot say."""
    try:
        with svc.redis.errors():
            steps = await svc.resume.of_run(run_id)
    except BackendUnavailable:
        return []
    return [
        {"step": s.step, "resumed_at": datetime.fromtimestamp(s.resumed_ms / 1000, tz=UTC).isoformat(),
         "client_ip": s.client_ip, "user_agent": s.user_agent}
        for s in steps if s.resumed_ms is not None
    ]


async def get_run(request: Request) -> Response:
    svc = services(request)
    who = principal(request)
    workflow_id, run_id = run_ids(request)
    include_history = bool_param(request, "include_history", True)
    desc = await describe_run(svc, who, workflow_id, run_id)
    run, entries = await details(svc.temporal, desc, include_history=include_history)
    run.resumes = await resume_audit(svc, run_id)
    body: dict[str, Any] = {}
    for name, value in run.model_dump(mode="json").items():
        if name != "history":
            body[name] = value
        elif entries is not None:  # without history the field is left out, as the seed's API does
            body[name] = entries
    return JSONResponse(body)


async def _action(request: Request, *, cancel: bool) -> Response:
    svc = services(request)
    who = principal(request)
    workflow_id, run_id = run_ids(request)
    body = await read_model(request, ActionBody, required=False) or ActionBody()
    await describe_open_run(svc, who, workflow_id, run_id)
    verb = "cancelled" if cancel else "terminated"
    reason = body.reason or f"{verb} by {who.initiated_by}"
    if cancel:
        await svc.temporal.cancel(workflow_id, run_id, reason=reason)
    else:
        await svc.temporal.terminate(workflow_id, run_id, reason=reason)
    return _json(ActionDone(message=f"Workflow {run_id} {verb}"))


async def cancel_run(request: Request) -> Response:
    return await _action(request, cancel=True)


async def terminate_run(request: Request) -> Response:
    return await _action(request, cancel=False)


# kind → (error, path segment, operation id, what the run does with the ones it knows)
_HANDLER_KINDS: dict[str, tuple[type[Unprocessable], str, str, str]] = {
    "signals": (UnknownSignal, "signal", "signalRun", "accepts"),
    "queries": (UnknownQuery, "query", "queryRun", "answers"),
    "updates": (UnknownUpdate, "update", "updateRun", "handles"),
}


async def require_handler(svc: Services, workflow_id: str, run_id: str, workflow_type: str,
                          kind: Literal["signals", "queries", "updates"], name: str) -> None:
    """422 naming what the run does handle, when it has no `kind` handler called `name`."""
    known = await handler_set(svc, workflow_id, run_id, workflow_type, kind, name)
    if known.accepts(name):
        return
    error, segment, operation, verb = _HANDLER_KINDS[kind]
    raise error(
        f"Workflow {workflow_id} ({workflow_type}) has no {segment} {name!r}; "
        f"it {verb}: {', '.join(known.names) or 'none'}.",
        allowed_actions=[AllowedAction(rel=f"send-{segment}", hint=n, operation_id=operation,
                                       href=f"{BASE}/runs/{workflow_id}/{run_id}/{segment}/{n}")
                         for n in known.names],
    )


async def signal_run(request: Request) -> Response:
    svc = services(request)
    who = principal(request)
    workflow_id, run_id = run_ids(request)
    name = request.path_params["signal_name"]
    payload = await read_json(request, required=False)
    receipt = wants_receipt(request)

    async def send(request_id: str | None) -> int | None:
        # The hot path of a chat: a run's facts are cached, and a closed run is found by the
        # signal itself rather than by a describe before every message.
        try:
            facts, is_running = await svc.temporal.run_facts(workflow_id, run_id)
        except WorkflowNotFound:
            raise _missing(workflow_id, run_id) from None
        if not can_see(who, facts):
            raise _missing(workflow_id, run_id)
        if is_running is False:
            raise _closed(workflow_id, run_id)
        await require_handler(svc, workflow_id, run_id, facts.workflow_type, "signals", name)
        args = handler_args(facts.workflow_type, "signals", name, payload, what="signal payload")
        try:
            return await svc.temporal.signal(workflow_id, run_id, name, args, request_id=request_id,
                                             receipt=receipt)
        except WorkflowClosed:
            raise _closed(workflow_id, run_id) from None

    # A retry with the same key answers as the first time, even once the signal closed the run.
    event_id = await once(svc, project=who.project, scope="signal", key=idempotency_key(request),
                          request_fingerprint=lambda: fingerprint(workflow_id, run_id, name, payload), action=send)
    headers = {} if receipt else {"Preference-Applied": "return=minimal"}
    return JSONResponse(Signalled(message=f"Workflow {run_id} signalled with {name}", event_id=event_id)
                        .model_dump(mode="json"), headers=headers)


async def query_run(request: Request) -> Response:
    svc = services(request)
    who = principal(request)
    workflow_id, run_id = run_ids(request)
    name = request.path_params["query_name"]
    desc = await describe_run(svc, who, workflow_id, run_id)
    await require_handler(svc, workflow_id, run_id, desc.workflow_type, "queries", name)
    return _json(await svc.temporal.query(workflow_id, run_id, name, []))


async def update_run(request: Request) -> Response:
    svc = services(request)
    who = principal(request)
    workflow_id, run_id = run_ids(request)
    name = request.path_params["update_name"]
    payload = await read_json(request, required=False)

    async def run_update(update_id: str | None) -> Any:
        desc = await describe_open_run(svc, who, workflow_id, run_id)
        await require_handler(svc, workflow_id, run_id, desc.workflow_type, "updates", name)
        args = handler_args(desc.workflow_type, "updates", name, payload, what="update payload")
        return await svc.temporal.update(workflow_id, run_id, name, args, update_id=update_id)

    result = await once(svc, project=who.project, scope="update", key=idempotency_key(request),
                        request_fingerprint=lambda: fingerprint(workflow_id, run_id, name, payload), action=run_update)
    return _json(result)


# -- routes ----------------------------------------------------------------------------

_TAGS = ("runs",)
_WID = Param("workflow_id", "path", {"type": "string"}, "The ID of the Workflow.", required=True)
_RID = Param("run_id", "path", {"type": "string", "format": "uuid"}, "The ID of the Run.", required=True)
_IDEMPOTENCY = Param("Idempotency-Key", "header", {"type": "string", "maxLength": 255},
                     "Retries with the same key and body act once.")
_ANY_JSON: type[BaseModel] | None = None
_BEARER = ("bearer",)

ROUTES = [
    ApiRoute(BASE + "/execute/{workflow_type}", execute, method="POST", operation=Operation(
        "executeWorkflow", "Start a workflow run", _TAGS, schemes=_BEARER, body=ExecuteWorkflow, body_required=False,
        responses={200: StartedRuns}, errors=(400, 401, 409, 413, 422, 503),
        params=(Param("workflow_type", "path", {"type": "string"}, "Registered workflow type.", required=True),
                _IDEMPOTENCY))),
    ApiRoute(BASE + "/runs", list_runs, method="POST", operation=Operation(
        "listRuns", "List workflow runs", _TAGS, schemes=_BEARER, body=ListRuns, body_required=False,
        responses={200: RunList}, errors=(400, 401, 413, 422, 503))),
    ApiRoute(BASE + "/conversations", list_conversations, method="POST", operation=Operation(
        "listConversations", "List conversations", _TAGS, schemes=_BEARER, body=ListRuns, body_required=False,
        responses={200: RunList}, errors=(400, 401, 413, 422, 503))),
    ApiRoute(RUN, get_run, method="GET", operation=Operation(
        "getRunDetails", "Get run details", _TAGS, schemes=_BEARER, responses={200: RunDetails}, errors=(400, 401, 404, 503),
        params=(_WID, _RID, Param("include_history", "query", {"type": "boolean", "default": True},
                                  "Include the run's history.")))),
    ApiRoute(RUN + "/actions/cancel", cancel_run, method="POST", operation=Operation(
        "cancelRun", "Cancel a run (its cleanup code runs)", _TAGS, schemes=_BEARER, body=ActionBody, body_required=False,
        responses={200: ActionDone}, params=(_WID, _RID), errors=(400, 401, 404, 409, 503))),
    ApiRoute(RUN + "/actions/terminate", terminate_run, method="POST", operation=Operation(
        "terminateRun", "Terminate a run (no cleanup)", _TAGS, schemes=_BEARER, body=ActionBody, body_required=False,
        responses={200: ActionDone}, params=(_WID, _RID), errors=(400, 401, 404, 409, 503))),
    ApiRoute(RUN + "/signal/{signal_name}", signal_run, method="POST", operation=Operation(
        "signalRun", "Signal a run", _TAGS, schemes=_BEARER, body_required=False, responses={200: Signalled},
        params=(_WID, _RID, Param("signal_name", "path", {"type": "string"}, required=True), _IDEMPOTENCY),
        errors=(400, 401, 404, 409, 413, 422, 503))),
    ApiRoute(RUN + "/query/{query_name}", query_run, method="GET", operation=Operation(
        "queryRun", "Query a run", _TAGS, schemes=_BEARER, responses={200: _ANY_JSON},
        params=(_WID, _RID, Param("query_name", "path", {"type": "string"}, required=True)),
        errors=(400, 401, 404, 422, 503))),
    ApiRoute(RUN + "/update/{update_name}", update_run, method="POST", operation=Operation(
        "updateRun", "Run a Temporal Update on a run", _TAGS, schemes=_BEARER, body_required=False, responses={200: _ANY_JSON},
        params=(_WID, _RID, Param("update_name", "path", {"type": "string"}, required=True), _IDEMPOTENCY),
        errors=(400, 401, 404, 409, 413, 422, 429, 503))),
]
