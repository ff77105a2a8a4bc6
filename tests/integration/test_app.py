"""`signalway/gateway/app.py`: the real app in-process (TestClient, lifespan and all) in front of the
session's Temporal and Redis, with an in-process worker on the app's task queue."""

from __future__ import annotations

import uuid

import httpx
from starlette.applications import Starlette

from signalway.gateway.app import create_app
from signalway.gateway.routing import ApiRoute
from signalway.localstack import free_port
from signalway.tokens import SUPERADMIN
from tests.helpers.http import (
    DURABLE,
    WORKFLOWS,
    assert_problem,
    execute,
    run_path,
    wait_run,
    wait_status,
)
from tests.helpers.in_process import bearer, serve, settings_for
from tests.helpers.stack import Stack
from tests.helpers.worker import RunningWorker


async def test_create_answers_201_with_the_location_and_a_keyed_retry_200(http: httpx.AsyncClient) -> None:
    request = {"workflow_type": "ApprovalWorkflow", "input": {"subject": "in-process"}}
    key = {"Idempotency-Key": str(uuid.uuid4())}
    created = await http.post(DURABLE, json=request, headers=key)
    assert created.status_code == 201, created.text
    body = created.json()
    assert created.headers["location"] == f"{DURABLE}/{body['id']}"
    assert (body["workflow_type"], body["status"], body["input"]) == ("ApprovalWorkflow", "running", request["input"])

    retried = await http.post(DURABLE, json=request, headers=key)
    assert retried.status_code == 200 and retried.json()["id"] == body["id"]
    assert retried.headers["location"] == created.headers["location"]


async def test_execute_answers_the_started_run_in_a_list(http: httpx.AsyncClient) -> None:
    response = await http.post(f"{WORKFLOWS}/execute/ApprovalWorkflow", json={"vars": {"subject": "x"}})
    assert response.status_code == 200, response.text
    [started] = response.json()
    assert set(started) == {"run_id", "workflow_id"}
    run = (await http.get(run_path(started["workflow_id"], started["run_id"]))).json()
    assert (run["run_id"], run["type"], run["status"]) == (started["run_id"], "ApprovalWorkflow", "RUNNING")


async def test_durable_signal_is_accepted_with_202_and_the_worker_acts_on_it(http: httpx.AsyncClient) -> None:
    created = (await http.post(DURABLE, json={"workflow_type": "ApprovalWorkflow",
                                              "input": {"subject": "sign"}})).json()
    response = await http.post(f"{DURABLE}/{created['id']}/signal",
                               json={"signal_type": "approve", "payload": {"approver": "carol"}})
    assert response.status_code == 202, response.text
    receipt = response.json()
    assert (receipt["status"], receipt["workflow_id"], receipt["signal_type"]) == ("accepted", created["id"], "approve")
    assert receipt["event_id"] is None  # a receipt only on request (Prefer: return=representation)
    done = await wait_status(http, created["id"], "completed")
    assert done["result"]["approved"] is True and done["result"]["approver"] == "carol"


async def test_run_signal_answers_200_with_a_receipt_only_on_request(http: httpx.AsyncClient) -> None:
    wid, rid = await execute(http, "ConversationWorkflow", {})
    response = await http.post(f"{run_path(wid, rid)}/signal/UserInput", json={"message": "hello"},
                               headers={"Prefer": "return=representation"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["message"]) == ("success", f"Workflow {rid} signalled with UserInput")
    assert isinstance(body["event_id"], int)
    assert response.headers["preference-applied"] == "return=representation"

    plain = await http.post(f"{run_path(wid, rid)}/signal/UserInput", json={"message": "bye"})
    assert plain.status_code == 200 and plain.json()["event_id"] is None
    assert "preference-applied" not in plain.headers
    assert (await wait_run(http, wid, rid, "COMPLETED"))["result"] == {"turns": 2}


async def test_a_private_run_is_hidden_from_another_user_and_shown_to_a_superadmin(http: httpx.AsyncClient) -> None:
    wid, rid = await execute(http, "ApprovalWorkflow", {"subject": "mine"}, visibility="private")
    path = run_path(wid, rid)
    assert (await http.get(path)).status_code == 200
    assert_problem(await http.get(path, headers=bearer("bob")), 404, "workflow_not_found")
    assert_problem(await http.post(f"{path}/signal/approve", json={"approver": "bob"}, headers=bearer("bob")),
                   404, "workflow_not_found")
    admin = await http.get(path, headers=bearer("root", SUPERADMIN))
    assert admin.status_code == 200 and admin.json()["run_id"] == rid
    assert (await http.get(path)).json()["status"] == "RUNNING"  # bob's signal never arrived


async def test_openapi_lists_every_api_route(app: Starlette, http: httpx.AsyncClient) -> None:
    response = await http.get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    routes = [route for route in app.routes if isinstance(route, ApiRoute)]
    assert routes
    for route in routes:
        operation = paths.get(route.path_format, {}).get(route.method.lower())
        assert operation is not None, f"{route.method} {route.path_format} is not documented"
        assert operation["operationId"] == route.operation.operation_id


async def test_the_index_card_for_the_web_ui_shows_only_when_set_and_says_what_it_is(
        stack: Stack, worker: RunningWorker) -> None:
    ui = "http://127.0.0.1:8233"
    app = create_app(settings_for(stack, worker.task_queue, temporal_ui_url=ui))
    async with serve(app) as http:
        page = (await http.get("/", headers={"Accept": "text/html"})).text
        assert f'href="{ui}"' in page
        assert "Temporal Web UI<span>Each run&#x27;s history, inputs and results, in Temporal&#x27;s own UI.</span>" in page
        assert "is set" not in page  # it is set: the page does not say "when it is set"
        assert (await http.get("/", headers={"Accept": "application/json"})).json()["links"]["temporal_ui"] == ui
    async with serve(create_app(settings_for(stack, worker.task_queue))) as http:
        assert "Temporal Web UI" not in (await http.get("/", headers={"Accept": "text/html"})).text


async def test_readyz_is_200_when_temporal_and_redis_answer(http: httpx.AsyncClient) -> None:
    response = await http.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"temporal": "ok", "redis": "ok"}}


async def test_redis_down_is_a_503_problem_with_retry_advice(stack: Stack, http: httpx.AsyncClient) -> None:
    wid, rid = await execute(http, "ApprovalWorkflow", {"subject": "redis down"})
    down = create_app(settings_for(stack, "unused", redis_url=f"redis://127.0.0.1:{free_port()}/0",
                                   retry_after_seconds=7))
    async with serve(down, headers=bearer(), timeout=30) as stranded:
        for response in (
            await stranded.get("/v1/events"),  # a Redis-backed store: the app's one handler maps it
            await stranded.get(f"{run_path(wid, rid)}/updates"),
            # Idempotency claims go through the Redis adapter, which raises the 503 itself.
            await stranded.post(f"{run_path(wid, rid)}/signal/approve", json={"approver": "x"},
                                headers={"Idempotency-Key": str(uuid.uuid4())}),
        ):
            body = assert_problem(response, 503, "backend_unavailable")
            assert body["retry_after_seconds"] == 7
            assert response.headers["retry-after"] == "7"
        ready = await stranded.get("/readyz")
        assert ready.status_code == 503 and ready.headers["retry-after"] == "7"
        assert ready.json()["checks"]["temporal"] == "ok"
        assert ready.json()["checks"]["redis"].startswith("unavailable")
    # Temporal never heard of the refused signal.
    assert (await http.get(run_path(wid, rid))).json()["status"] == "RUNNING"


async def test_metrics_count_backend_calls_and_untraced_answers_carry_no_trace_id(http: httpx.AsyncClient) -> None:
    # This process installed no tracer: no span, no X-Trace-ID, and /metrics still times calls.
    workflow_id, run_id = await execute(http, "ConversationWorkflow", {})
    answer = await http.post(f"{run_path(workflow_id, run_id)}/signal/UserInput", json={"message": "hi"})
    assert answer.status_code == 200, answer.text
    assert "x-request-id" in answer.headers and "x-trace-id" not in answer.headers
    text = (await http.get("/metrics")).text
    for series in ('signalway_temporal_call_duration_seconds_count{operation="StartWorkflow"}',
                   'signalway_temporal_call_duration_seconds_count{operation="SignalWorkflow"}',
                   "signalway_redis_command_duration_seconds_count{command=",
                   "signalway_http_requests_in_flight 1.0",  # the /metrics request itself
                   "signalway_sse_streams_open 0.0"):
        assert series in text, series
