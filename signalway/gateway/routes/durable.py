"""Durable workflows surface (`/api/v1/durable/workflows`): API key or Bearer JWT, errors
as RFC 9457 problems, times as RFC 3339."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from signalway.gateway.deps import principal, services
from signalway.gateway.errors import AllowedAction
from signalway.gateway.routes._params import (
    IDEMPOTENCY_KEY,
    PREFER,
    fast_json_response,
    idempotency_key,
    json_response,
    preference_applied,
    return_preference,
    uuid_param,
)
from signalway.gateway.routing import ApiRoute, Operation, Param, int_param, read_model
from signalway.gateway.schemas import (
    CreateDurableWorkflow,
    DurableWorkflow,
    DurableWorkflowList,
    SendSignal,
    SignalAccepted,
    WorkflowEventList,
)
from signalway.gateway.services import lists, messages, read
from signalway.gateway.services.read import DURABLE_STATUS
from signalway.gateway.services.start import StartRequest, require_known_type, start_run

BASE = "/api/v1/durable/workflows"
API_NAME = "durable"


def _links(workflow_id: str) -> messages.Links:
    return messages.Links(
        run_href=f"{BASE}/{workflow_id}", run_operation="getDurableWorkflow",
        handler_action=lambda word, name: AllowedAction(
            rel="send-signal", hint=f"signal_type={name}", href=f"{BASE}/{workflow_id}/signal",
            operation_id="sendDurableSignal"),
    )


async def create_workflow(request: Request) -> Response:
    svc, who = services(request), principal(request, allow_api_key=True)
    body = await read_model(request, CreateDurableWorkflow)
    require_known_type(svc, body.workflow_type, field="workflow_type", operation_id="createDurableWorkflow")
    started = await start_run(svc, who, StartRequest(body.workflow_type, body.input, api=API_NAME),
                              key=idempotency_key(request), request=body.model_dump(mode="json"))
    workflow = await read.durable_after_write(svc, who, started.workflow_id, workflow_type=body.workflow_type,
                                              input=body.input)
    return json_response(workflow, 201 if started.created else 200, {"Location": f"{BASE}/{started.workflow_id}"})


async def get_workflow(request: Request) -> Response:
    svc, who = services(request), principal(request, allow_api_key=True)
    return json_response(await read.durable_workflow(svc, who, uuid_param(request, "workflow_id")))


async def list_workflows(request: Request) -> Response:
    svc, who = services(request), principal(request, allow_api_key=True)
    return json_response(await lists.durable(
        svc, who, status=request.query_params.get("status"),
        workflow_type=request.query_params.get("workflow_type"),
        limit=int_param(request, "limit", 20, 1, 200), offset=int_param(request, "offset", 0, 0, 10_000)))


async def signal_workflow(request: Request) -> Response:
    svc, who = services(request), principal(request, allow_api_key=True)
    workflow_id = uuid_param(request, "workflow_id")
    body = await read_model(request, SendSignal)
    preference = return_preference(request)
    event_id = await messages.signal(
        svc, who, workflow_id, None, body.signal_type, body.payload, key=idempotency_key(request),
        receipt=preference == "representation", links=_links(workflow_id), what="payload",
        scope="durable-signal")
    # The `SignalAccepted` shape, encoded directly (a hot route).
    answer = {"status": "accepted", "workflow_id": workflow_id, "signal_type": body.signal_type, "event_id": event_id}
    return fast_json_response(answer, 202, headers=preference_applied(preference))


async def list_events(request: Request) -> Response:
    svc, who = services(request), principal(request, allow_api_key=True)
    body = await read.durable_events(
        svc, who, uuid_param(request, "workflow_id"), limit=int_param(request, "limit", 100, 1, 1000),
        offset=int_param(request, "offset", 0, 0, 10_000_000))
    return Response(body, media_type="application/json")  # a `WorkflowEventList`, encoded by the service


async def cancel_workflow(request: Request) -> Response:
    svc, who = services(request), principal(request, allow_api_key=True)
    workflow_id = uuid_param(request, "workflow_id")
    await messages.stop(svc, who, workflow_id, None, terminate=False, reason=None, links=_links(workflow_id),
                        key=idempotency_key(request))
    return json_response(await read.durable_after_write(svc, who, workflow_id), 202)


_ID = Param("workflow_id", "path", {"type": "string", "format": "uuid"}, "Workflow ID", required=True)
_TAGS = ("durable",)


def _page_params(default: int, high: int) -> tuple[Param, Param]:
    return (
        Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": high, "default": default}),
        Param("offset", "query", {"type": "integer", "minimum": 0, "default": 0}),
    )


ROUTES = [
    ApiRoute(BASE, create_workflow, method="POST", operation=Operation(
        "createDurableWorkflow", "Start a durable workflow", _TAGS, body=CreateDurableWorkflow,
        responses={201: DurableWorkflow, 200: DurableWorkflow}, params=(IDEMPOTENCY_KEY,),
        errors=(400, 401, 409, 413, 422, 429, 503))),
    ApiRoute(BASE, list_workflows, method="GET", operation=Operation(
        "listDurableWorkflows", "List durable workflows", _TAGS, responses={200: DurableWorkflowList},
        params=(*_page_params(20, 200),
                Param("status", "query", {"type": "string", "enum": sorted(set(DURABLE_STATUS.values()))}),
                Param("workflow_type", "query", {"type": "string"})),
        errors=(400, 401, 503))),
    ApiRoute(BASE + "/{workflow_id}", get_workflow, method="GET", operation=Operation(
        "getDurableWorkflow", "Get a durable workflow", _TAGS, responses={200: DurableWorkflow},
        params=(_ID,), errors=(400, 401, 404, 503))),
    ApiRoute(BASE + "/{workflow_id}/signal", signal_workflow, method="POST", operation=Operation(
        "sendDurableSignal", "Send signal to workflow", _TAGS, body=SendSignal,
        responses={202: SignalAccepted}, params=(_ID, IDEMPOTENCY_KEY, PREFER), errors=(400, 401, 404, 409, 413, 422, 503))),
    ApiRoute(BASE + "/{workflow_id}/events", list_events, method="GET", operation=Operation(
        "listDurableWorkflowEvents", "Get workflow events", _TAGS, responses={200: WorkflowEventList},
        params=(_ID, *_page_params(100, 1000)), errors=(400, 401, 404, 503))),
    ApiRoute(BASE + "/{workflow_id}/cancel", cancel_workflow, method="POST", operation=Operation(
        "cancelDurableWorkflow", "Request cancellation of a durable workflow", _TAGS,
        responses={202: DurableWorkflow}, params=(_ID, IDEMPOTENCY_KEY), errors=(400, 401, 404, 409, 503))),
]
