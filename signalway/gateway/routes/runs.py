"""Workflow runs surface (`/api/v1/workflows/...`): Bearer JWT only, times in epoch seconds."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from signalway.gateway.deps import principal, services
from signalway.gateway.errors import AllowedAction, BadRequest
from signalway.gateway.routes._params import (
    API_VERSION,
    IDEMPOTENCY_KEY,
    PREFER,
    RUN,
    RUN_ID,
    RUNS_BASE,
    WORKFLOW_ID,
    api_wire,
    fast_json_response,
    idempotency_key,
    json_response,
    preference_applied,
    return_preference,
    run_ids,
)
from signalway.gateway.routing import (
    ApiRoute,
    Operation,
    Param,
    bool_param,
    read_json,
    read_optional_model,
)
from signalway.gateway.runs_schemas import (
    ActionBody,
    ActionDone,
    ExecuteWorkflow,
    ListRuns,
    Signalled,
    StartedRun,
    StartedRuns,
)
from signalway.gateway.runs_wire import (
    ClientListRuns,
    ListRunsAnyWire,
    RunDetailsAnyWire,
    RunListAnyWire,
    Wire,
)
from signalway.gateway.services import lists, messages, read
from signalway.gateway.services.start import StartRequest, require_known_type, start_run

API_NAME = "runs"
_OPERATIONS = {"signal": "signalRun", "query": "queryRun", "update": "updateRun"}


def _links(workflow_id: str, run_id: str) -> messages.Links:
    path = f"{RUNS_BASE}/runs/{workflow_id}/{run_id}"
    return messages.Links(
        run_href=path, run_operation="getRunDetails",
        handler_action=lambda word, name: AllowedAction(
            rel=f"send-{word}", hint=name, operation_id=_OPERATIONS[word], href=f"{path}/{word}/{name}"),
    )


async def execute(request: Request) -> Response:
    svc, who = services(request), principal(request)
    api_wire(request)  # the same answer in both wires; a malformed version is a 400
    workflow_type = request.path_params["workflow_type"]
    require_known_type(svc, workflow_type, field="workflow type", operation_id="executeWorkflow",
                       href=f"{RUNS_BASE}/execute/{{name}}")
    body = await read_optional_model(request, ExecuteWorkflow)
    start = StartRequest(
        workflow_type, body.vars, api=API_NAME, visibility=body.visibility, interaction=body.interaction,
        attributes={"document_id": body.document_id or (body.objectIds[0] if body.objectIds else None),
                    "event_name": body.event_name, "rule_id": body.rule_id, "rule_name": body.rule_name},
        memo={"objectIds": body.objectIds} if body.objectIds else None,
    )
    started = await start_run(svc, who, start, key=idempotency_key(request),
                              request=body.model_dump(mode="json"))
    return json_response([StartedRun(run_id=started.run_id, workflow_id=started.workflow_id)])


async def _list(request: Request, *, conversations: bool) -> Response:
    svc, who = services(request), principal(request)
    wire = api_wire(request)
    body = await read_optional_model(request, ClientListRuns if wire is Wire.CLIENT else ListRuns)
    return json_response(await lists.runs(svc, who, body, conversations=conversations, wire=wire))


async def list_runs(request: Request) -> Response:
    return await _list(request, conversations=False)


async def list_conversations(request: Request) -> Response:
    return await _list(request, conversations=True)


def _history_format(request: Request, wire: Wire) -> None:
    """The clients' `history_format`: Signalway has the `events` one only."""
    if wire is Wire.CLIENT:
        bool_param(request, "hydrate_payloads", True)  # payloads are always decoded
        if request.query_params.get("history_format", "events") != "events":
            raise BadRequest("history_format must be events: Signalway does not render tasks or agent histories.")


async def get_run(request: Request) -> Response:
    svc, who = services(request), principal(request)
    wire = api_wire(request)
    workflow_id, run_id = run_ids(request)
    include_history = bool_param(request, "include_history", True)
    _history_format(request, wire)
    return JSONResponse(await read.run_details(svc, who, workflow_id, run_id, include_history=include_history,
                                               wire=wire))


async def _stop(request: Request, *, terminate: bool) -> Response:
    svc, who = services(request), principal(request)
    api_wire(request)  # the same answer in both wires; a malformed version is a 400
    workflow_id, run_id = run_ids(request)
    body = await read_optional_model(request, ActionBody)
    await messages.stop(svc, who, workflow_id, run_id, terminate=terminate, reason=body.reason,
                        links=_links(workflow_id, run_id), key=idempotency_key(request))
    return json_response(ActionDone(message=f"Workflow {run_id} {'terminated' if terminate else 'cancelled'}"))


async def cancel_run(request: Request) -> Response:
    return await _stop(request, terminate=False)


async def terminate_run(request: Request) -> Response:
    return await _stop(request, terminate=True)


async def signal_run(request: Request) -> Response:
    svc, who = services(request), principal(request)
    api_wire(request)  # the same answer in both wires; a malformed version is a 400
    workflow_id, run_id = run_ids(request)
    name = request.path_params["signal_name"]
    payload = await read_json(request, required=False)
    preference = return_preference(request)
    event_id = await messages.signal(svc, who, workflow_id, run_id, name, payload, key=idempotency_key(request),
                                     receipt=preference == "representation",
                                     links=_links(workflow_id, run_id), what="signal payload", scope="signal")
    # The `Signalled` shape, encoded directly: this is the hottest route of the gateway.
    body = {"status": "success", "message": f"Workflow {run_id} signalled with {name}", "event_id": event_id}
    return fast_json_response(body, headers=preference_applied(preference))


async def query_run(request: Request) -> Response:
    svc, who = services(request), principal(request)
    api_wire(request)  # the same answer in both wires; a malformed version is a 400
    workflow_id, run_id = run_ids(request)
    name = request.path_params["query_name"]
    return json_response(await messages.query(svc, who, workflow_id, run_id, name, _links(workflow_id, run_id)))


async def update_run(request: Request) -> Response:
    svc, who = services(request), principal(request)
    api_wire(request)  # the same answer in both wires; a malformed version is a 400
    workflow_id, run_id = run_ids(request)
    name = request.path_params["update_name"]
    payload = await read_json(request, required=False)
    return json_response(await messages.update(svc, who, workflow_id, run_id, name, payload,
                                               key=idempotency_key(request), links=_links(workflow_id, run_id)))


_TAGS = ("runs",)
_BEARER = ("bearer",)


def _name(name: str) -> Param:
    return Param(name, "path", {"type": "string", "minLength": 1}, required=True)


ROUTES = [
    ApiRoute(RUNS_BASE + "/execute/{workflow_type}", execute, method="POST", operation=Operation(
        "executeWorkflow", "Start a workflow run", _TAGS, schemes=_BEARER, body=ExecuteWorkflow, body_required=False,
        responses={200: StartedRuns}, errors=(400, 401, 409, 413, 422, 429, 503),
        params=(Param("workflow_type", "path", {"type": "string"}, "Registered workflow type.", required=True),
                IDEMPOTENCY_KEY, API_VERSION))),
    ApiRoute(RUNS_BASE + "/runs", list_runs, method="POST", operation=Operation(
        "listRuns", "List workflow runs", _TAGS, schemes=_BEARER, body=ListRunsAnyWire, body_required=False,
        responses={200: RunListAnyWire}, params=(API_VERSION,), errors=(400, 401, 413, 422, 503))),
    ApiRoute(RUNS_BASE + "/conversations", list_conversations, method="POST", operation=Operation(
        "listConversations", "List conversations", _TAGS, schemes=_BEARER, body=ListRunsAnyWire,
        body_required=False, responses={200: RunListAnyWire}, params=(API_VERSION,),
        errors=(400, 401, 413, 422, 503))),
    ApiRoute(RUN, get_run, method="GET", operation=Operation(
        "getRunDetails", "Get run details", _TAGS, schemes=_BEARER, responses={200: RunDetailsAnyWire},
        errors=(400, 401, 404, 503),
        params=(WORKFLOW_ID, RUN_ID, Param("include_history", "query", {"type": "boolean", "default": True},
                                           "Include the run's history."),
                Param("history_format", "query", {"type": "string", "enum": ["events"], "default": "events"},
                      "With x-api-version: the history's form (`events` only)."),
                Param("hydrate_payloads", "query", {"type": "boolean", "default": True},
                      "With x-api-version: accepted; payloads are always decoded."),
                API_VERSION))),
    ApiRoute(RUN + "/actions/cancel", cancel_run, method="POST", operation=Operation(
        "cancelRun", "Cancel a run (its cleanup code runs)", _TAGS, schemes=_BEARER, body=ActionBody,
        body_required=False, responses={200: ActionDone}, params=(WORKFLOW_ID, RUN_ID, IDEMPOTENCY_KEY, API_VERSION),
        errors=(400, 401, 404, 409, 413, 422, 503))),
    ApiRoute(RUN + "/actions/terminate", terminate_run, method="POST", operation=Operation(
        "terminateRun", "Terminate a run (no cleanup)", _TAGS, schemes=_BEARER, body=ActionBody,
        body_required=False, responses={200: ActionDone}, params=(WORKFLOW_ID, RUN_ID, IDEMPOTENCY_KEY, API_VERSION),
        errors=(400, 401, 404, 409, 413, 422, 503))),
    ApiRoute(RUN + "/signal/{signal_name}", signal_run, method="POST", operation=Operation(
        "signalRun", "Signal a run", _TAGS, schemes=_BEARER, body_required=False, responses={200: Signalled},
        params=(WORKFLOW_ID, RUN_ID, _name("signal_name"), IDEMPOTENCY_KEY, PREFER, API_VERSION),
        errors=(400, 401, 404, 409, 413, 422, 429, 503))),
    ApiRoute(RUN + "/query/{query_name}", query_run, method="GET", operation=Operation(
        "queryRun", "Query a run", _TAGS, schemes=_BEARER, responses={200: None},
        params=(WORKFLOW_ID, RUN_ID, _name("query_name"), API_VERSION), errors=(400, 401, 404, 409, 422, 503))),
    ApiRoute(RUN + "/update/{update_name}", update_run, method="POST", operation=Operation(
        "updateRun", "Run a Temporal Update on a run", _TAGS, schemes=_BEARER, body_required=False,
        responses={200: None}, params=(WORKFLOW_ID, RUN_ID, _name("update_name"), IDEMPOTENCY_KEY, API_VERSION),
        errors=(400, 401, 404, 409, 413, 422, 429, 503))),
]
