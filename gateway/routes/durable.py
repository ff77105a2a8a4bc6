"""Durable workflows surface (seeds 000 and 002): `/api/v1/durable/workflows`."""

from __future__ import annotations

import json
import uuid
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    WorkflowExecution,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from gateway.deps import principal, services
from gateway.errors import (
    AllowedAction,
    BadRequest,
    UnknownSignal,
    WorkflowClosed,
)
from gateway.history import close_outcome, durable_event_type, event_data, event_time
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
from gateway.routes.runs import index_run
from gateway.routing import UUID, ApiRoute, Operation, Param, int_param, read_model
from gateway.schemas import (
    CreateDurableWorkflow,
    DurableStatus,
    DurableWorkflow,
    DurableWorkflowList,
    SendSignal,
    SignalAccepted,
    WorkflowError,
    WorkflowEvent,
    WorkflowEventList,
)
from gateway.temporal_service import TemporalService, is_open
from gateway.visibility import EXECUTION_STATUS, all_of, equals
from signalway import search_attributes as sa

BASE = "/api/v1/durable/workflows"
API_NAME = "durable"
MEMO_INPUT = "signalway_input"
MEMO_INPUT_MAX_BYTES = 2048

STATUS_NAMES: dict[WorkflowExecutionStatus, DurableStatus] = {
    WorkflowExecutionStatus.RUNNING: "running",
    WorkflowExecutionStatus.COMPLETED: "completed",
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.CANCELED: "cancelled",
    WorkflowExecutionStatus.TERMINATED: "terminated",
    WorkflowExecutionStatus.TIMED_OUT: "timed_out",
    WorkflowExecutionStatus.CONTINUED_AS_NEW: "continued_as_new",
}


def workflow_id_param(request: Request) -> str:
    """UUIDs name workflows in any case; Temporal sees the lower-case form."""
    raw = request.path_params["workflow_id"]
    if not UUID.match(raw):
        raise BadRequest(f"workflow_id must be a UUID, got {raw!r}.")
    return raw.lower()


def _closed(workflow_id: str) -> WorkflowClosed:
    return WorkflowClosed(
        f"Workflow {workflow_id} is closed.",
        allowed_actions=[
            AllowedAction(rel="get-existing", href=f"{BASE}/{workflow_id}", operation_id="getDurableWorkflow",
                          hint="Read the workflow's final status and result.")
        ],
    )


async def to_durable(
    temporal: TemporalService, desc: WorkflowExecutionDescription | WorkflowExecution, *, details: bool
) -> DurableWorkflow:
    status = STATUS_NAMES.get(desc.status or WorkflowExecutionStatus.RUNNING, "running")
    memo = await temporal.memo(desc)
    workflow = DurableWorkflow(
        id=desc.id,
        workflow_type=desc.workflow_type,
        status=status,
        input=memo.get(MEMO_INPUT),
        created_at=desc.start_time,
        started_at=desc.start_time,
        completed_at=desc.close_time,
    )
    if not details:
        return workflow
    if MEMO_INPUT not in memo:
        first = await temporal.first_event(desc.id, desc.run_id)
        if first is not None:
            workflow.input = await temporal.decode_one(
                first.workflow_execution_started_event_attributes.input
            )
    if desc.close_time is not None:
        close = await temporal.close_event(desc.id, desc.run_id)
        if close is not None:
            workflow.result, error = await close_outcome(close, temporal.decode_one)
            if error is not None and close.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED:
                workflow.error = WorkflowError(**error)
    return workflow


def _json(model: BaseModel, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(model.model_dump(mode="json"), status_code=status, headers=headers)


async def create_workflow(request: Request) -> Response:
    svc = services(request)
    who = principal(request, allow_api_key=True)
    body = await read_model(request, CreateDurableWorkflow)
    assert body is not None
    require_known_type(svc, body.workflow_type, field="workflow_type", operation_id="createDurableWorkflow")
    arg = workflow_input(body.workflow_type, body.input, what="input")

    request_hash = fingerprint(body.model_dump(mode="json"))
    key = idempotency_key(request)
    workflow_id = derived_id(who.project, "durable-create", key) if key else str(uuid.uuid4())
    memo: dict[str, Any] = {MEMO_REQUEST_HASH: request_hash}
    if len(json.dumps(body.input)) <= MEMO_INPUT_MAX_BYTES:
        memo[MEMO_INPUT] = body.input
    attributes = TypedSearchAttributes(
        [
            SearchAttributePair(sa.PROJECT, who.project),
            SearchAttributePair(sa.API, API_NAME),
            SearchAttributePair(sa.INITIATED_BY, who.initiated_by),
            SearchAttributePair(sa.VISIBILITY, "project"),
        ]
    )
    run_id = await svc.temporal.start(
        body.workflow_type, arg, workflow_id=workflow_id, search_attributes=attributes, memo=memo
    )
    desc = await svc.temporal.describe(workflow_id, project=who.project)
    await index_run(svc, desc.run_id, workflow_id, svc.temporal.facts_of(desc))
    location = {"Location": f"{BASE}/{workflow_id}"}
    if run_id is None:
        await same_request_or_conflict(svc.temporal, desc, request_hash, href=f"{BASE}/{workflow_id}")
        return _json(await to_durable(svc.temporal, desc, details=True), 200, location)
    return _json(await to_durable(svc.temporal, desc, details=True), 201, location)


async def get_workflow(request: Request) -> Response:
    svc = services(request)
    who = principal(request, allow_api_key=True)
    desc = await svc.temporal.describe(workflow_id_param(request), project=who.project)
    return _json(await to_durable(svc.temporal, desc, details=True))


async def list_workflows(request: Request) -> Response:
    svc = services(request)
    who = principal(request, allow_api_key=True)
    limit = int_param(request, "limit", 20, 1, 200)
    offset = int_param(request, "offset", 0, 0, 10_000)
    clauses = [equals(sa.PROJECT, who.project), equals(sa.API, API_NAME)]
    status = request.query_params.get("status")
    if status:
        if status.lower() not in EXECUTION_STATUS:
            raise BadRequest(f"Unknown status {status!r}; use one of {', '.join(STATUS_NAMES.values())}.")
        clauses.append(equals("ExecutionStatus", EXECUTION_STATUS[status.lower()]))
    workflow_type = request.query_params.get("workflow_type")
    if workflow_type:
        clauses.append(equals("WorkflowType", workflow_type))
    query = all_of(*clauses)

    wanted = offset + limit
    items: list[WorkflowExecution] = []
    token: bytes | None = None
    while len(items) < wanted:
        page, token = await svc.temporal.list(query, page_size=min(wanted - len(items), 1000), next_page_token=token)
        items.extend(page)
        if token is None:
            break
    total = await svc.temporal.count(query)
    data = [await to_durable(svc.temporal, item, details=False) for item in items[offset:wanted]]
    return _json(DurableWorkflowList(data=data, total=max(total, offset + len(data))))


async def signal_workflow(request: Request) -> Response:
    svc = services(request)
    who = principal(request, allow_api_key=True)
    workflow_id = workflow_id_param(request)
    body = await read_model(request, SendSignal)
    assert body is not None

    async def send(request_id: str | None) -> dict[str, Any]:
        desc = await svc.temporal.describe(workflow_id, project=who.project)
        if not is_open(desc.status):
            raise _closed(workflow_id)
        accepted = await handler_set(svc, workflow_id, desc.run_id, desc.workflow_type, "signals", body.signal_type)
        if not accepted.accepts(body.signal_type):
            raise UnknownSignal(
                f"Workflow {workflow_id} ({desc.workflow_type}) does not accept signal "
                f"{body.signal_type!r}; it accepts: {', '.join(accepted.names) or 'no signals'}.",
                allowed_actions=[
                    AllowedAction(rel="send-signal", hint=f"signal_type={name}", href=f"{BASE}/{workflow_id}/signal",
                                  operation_id="sendDurableSignal")
                    for name in accepted.names
                ],
            )
        args = handler_args(desc.workflow_type, "signals", body.signal_type, body.payload, what="payload")
        event_id = await svc.temporal.signal(workflow_id, desc.run_id, body.signal_type, args, request_id=request_id,
                                             receipt=wants_receipt(request))
        return SignalAccepted(workflow_id=workflow_id, signal_type=body.signal_type, event_id=event_id).model_dump()

    # A retry with the same key answers as the first time, even once the signal closed the run.
    receipt = await once(svc, project=who.project, scope="durable-signal", key=idempotency_key(request),
                         request_fingerprint=lambda: fingerprint(workflow_id, body.model_dump(mode="json")), action=send)
    return JSONResponse(receipt, status_code=202)


async def list_events(request: Request) -> Response:
    svc = services(request)
    who = principal(request, allow_api_key=True)
    workflow_id = workflow_id_param(request)
    limit = int_param(request, "limit", 100, 1, 1000)
    offset = int_param(request, "offset", 0, 0, 10_000_000)
    desc = await svc.temporal.describe(workflow_id, project=who.project)
    data: list[WorkflowEvent] = []
    if offset < desc.history_length:
        async for event in svc.temporal.history(workflow_id, desc.run_id, page_size=min(offset + limit, 1000)):
            if event.event_id <= offset:
                continue
            data.append(
                WorkflowEvent(
                    id=event.event_id,
                    sequence_num=event.event_id,
                    event_type=durable_event_type(event),
                    event_data=await event_data(event, svc.temporal.decode_one),
                    created_at=event_time(event),
                    workflow_id=workflow_id,
                )
            )
            if len(data) >= limit:
                break
    # history_length can trail a run that is still writing events; never report fewer than we saw.
    total = max(desc.history_length, data[-1].id if data else 0)
    return _json(WorkflowEventList(data=data, total=total))


async def cancel_workflow(request: Request) -> Response:
    svc = services(request)
    who = principal(request, allow_api_key=True)
    workflow_id = workflow_id_param(request)
    desc = await svc.temporal.describe(workflow_id, project=who.project)
    if not is_open(desc.status):
        raise _closed(workflow_id)
    await svc.temporal.cancel(workflow_id, desc.run_id, reason=f"cancelled by {who.initiated_by}")
    desc = await svc.temporal.describe(workflow_id, project=who.project)
    return _json(await to_durable(svc.temporal, desc, details=True), 202)


_ID = Param("workflow_id", "path", {"type": "string", "format": "uuid"}, "Workflow ID", required=True)
_IDEMPOTENCY = Param("Idempotency-Key", "header", {"type": "string", "maxLength": 255},
                     "Retries with the same key and body act once.")
_TAGS = ("durable",)


def _page_params(default: int, high: int) -> tuple[Param, Param]:
    return (
        Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": high, "default": default}),
        Param("offset", "query", {"type": "integer", "minimum": 0, "default": 0}),
    )


ROUTES = [
    ApiRoute(BASE, create_workflow, method="POST", operation=Operation(
        "createDurableWorkflow", "Start a durable workflow", _TAGS, body=CreateDurableWorkflow,
        responses={201: DurableWorkflow, 200: DurableWorkflow}, params=(_IDEMPOTENCY,),
        errors=(400, 401, 409, 413, 422, 503))),
    ApiRoute(BASE, list_workflows, method="GET", operation=Operation(
        "listDurableWorkflows", "List durable workflows", _TAGS, responses={200: DurableWorkflowList},
        params=(*_page_params(20, 200),
                Param("status", "query", {"type": "string", "enum": sorted(set(STATUS_NAMES.values()))}),
                Param("workflow_type", "query", {"type": "string"})),
        errors=(400, 401, 503))),
    ApiRoute(BASE + "/{workflow_id}", get_workflow, method="GET", operation=Operation(
        "getDurableWorkflow", "Get a durable workflow", _TAGS, responses={200: DurableWorkflow},
        params=(_ID,), errors=(400, 401, 404, 503))),
    ApiRoute(BASE + "/{workflow_id}/signal", signal_workflow, method="POST", operation=Operation(
        "sendDurableSignal", "Send signal to workflow", _TAGS, body=SendSignal,
        responses={202: SignalAccepted}, params=(_ID, _IDEMPOTENCY), errors=(400, 401, 404, 409, 413, 422, 503))),
    ApiRoute(BASE + "/{workflow_id}/events", list_events, method="GET", operation=Operation(
        "listDurableWorkflowEvents", "Get workflow events", _TAGS, responses={200: WorkflowEventList},
        params=(_ID, *_page_params(100, 1000)), errors=(400, 401, 404, 503))),
    ApiRoute(BASE + "/{workflow_id}/cancel", cancel_workflow, method="POST", operation=Operation(
        "cancelDurableWorkflow", "Request cancellation of a durable workflow", _TAGS,
        responses={202: DurableWorkflow}, params=(_ID,), errors=(400, 401, 404, 409, 503))),
]
