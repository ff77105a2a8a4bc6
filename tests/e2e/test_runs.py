"""The workflow runs surface (seed 001) over HTTP, against real processes."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx

from signalway.gateway.runs_schemas import HistoryEntry
from tests.helpers.gateway import API_KEY, Gateway
from tests.helpers.http import WORKFLOWS, assert_problem, execute, listed, run_path, wait_run
from tests.helpers.polling import eventually

RUNS = f"{WORKFLOWS}/runs"


def tag() -> str:
    return uuid.uuid4().hex[:12]


async def test_details_carry_every_field_of_the_seed(http: httpx.AsyncClient) -> None:
    before = int(time.time())
    wid, rid = await execute(http, "StandardContentIngestion", {"documentId": "doc-7", "parts": 2})
    run = await wait_run(http, wid, rid, "COMPLETED")

    assert (run["run_id"], run["workflow_id"], run["type"]) == (rid, wid, "StandardContentIngestion")
    assert before - 1 <= run["started_at"] <= run["closed_at"] <= int(time.time()) + 1
    assert run["execution_duration"] == run["closed_at"] - run["started_at"]
    assert run["input"]["documentId"] == "doc-7"
    assert run["result"] == {"success": True}
    assert run["memo"] == {} and run["pendingActivities"] == [] and run["error"] is None

    history = run["history"]
    assert [e["event_id"] for e in history] == list(range(1, len(history) + 1))
    first, last = history[0], history[-1]
    assert first["event_type"] == "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"
    assert isinstance(first["task_id"], str) and first["attempt"] == 0 and "activity" not in first
    assert last["event_type"] == "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED" and last["result"] == [{"success": True}]
    assert all(isinstance(e["event_time"], int) and e["event_type"].startswith("EVENT_TYPE_") for e in history)
    for entry in history:  # what is served is what /openapi.json documents
        assert HistoryEntry.model_validate(entry).model_dump(mode="json") == entry

    by_type = {e["event_type"]: e for e in history}
    scheduled = by_type["EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"]["activity"]
    started = by_type["EVENT_TYPE_ACTIVITY_TASK_STARTED"]
    completed = by_type["EVENT_TYPE_ACTIVITY_TASK_COMPLETED"]
    assert scheduled["name"] == "processDocument" and scheduled["id"]
    assert scheduled["input"][0]["document_id"] == "doc-7"
    assert scheduled["scheduledEventId"] == str(by_type["EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"]["event_id"])
    assert scheduled["startedEventId"] == str(started["event_id"]) and started["attempt"] == 1
    assert completed["activity"]["startedEventId"] == scheduled["startedEventId"]
    assert completed["result"] == [{"parts_processed": 2}]

    lean = (await http.get(run_path(wid, rid), params={"include_history": "false"})).json()
    assert "history" not in lean
    assert lean["result"] == {"success": True} and lean["input"]["documentId"] == "doc-7"
    assert_problem(await http.get(run_path(wid, rid), params={"include_history": "maybe"}), 400, "invalid_request")


async def test_running_activity_is_listed_as_pending(http: httpx.AsyncClient) -> None:
    wid, rid = await execute(http, "StandardContentIngestion", {"documentId": "slow", "parts": 4,
                                                                "part_delay_secs": 1})

    async def pending() -> list[dict[str, Any]]:
        run = (await http.get(run_path(wid, rid), params={"include_history": "false"})).json()
        return run["pendingActivities"]  # type: ignore[no-any-return]

    [activity] = await eventually(pending, what="a pending activity")
    assert activity["activityType"] == "processDocument"
    assert activity["state"].startswith("PENDING_ACTIVITY_STATE_") and activity["attempt"] >= 1
    await http.post(f"{run_path(wid, rid)}/actions/terminate")


async def test_terminate_records_the_reason_and_closed_runs_refuse_actions(http: httpx.AsyncClient) -> None:
    wid, rid = await execute(http, "ApprovalWorkflow", {"subject": "stop me"})
    response = await http.post(f"{run_path(wid, rid)}/actions/terminate", json={"reason": "operator says no"})
    assert response.status_code == 200
    assert response.json() == {"message": f"Workflow {rid} terminated"}

    run = await wait_run(http, wid, rid, "TERMINATED")
    assert run["error"] == {"message": "operator says no", "type": "Terminated"}
    terminated = run["history"][-1]
    assert terminated["event_type"] == "EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED"
    assert terminated["reason"] == "operator says no"

    for action in ("cancel", "terminate"):
        assert_problem(await http.post(f"{run_path(wid, rid)}/actions/{action}"), 409, "workflow_closed")
    assert_problem(await http.post(f"{run_path(wid, rid)}/signal/approve", json={"approver": "x"}),
                   409, "workflow_closed")


async def test_cancel_accepts_an_empty_body_and_records_the_reason(http: httpx.AsyncClient) -> None:
    wid, rid = await execute(http, "ApprovalWorkflow", {"subject": "cancel me"})
    bare = await http.post(f"{run_path(wid, rid)}/actions/cancel", headers={"Content-Type": ""})
    assert bare.status_code == 200 and bare.json() == {"message": f"Workflow {rid} cancelled"}
    run = await wait_run(http, wid, rid, "CANCELED")
    requested = [e for e in run["history"] if e["event_type"] == "EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED"]
    assert requested and "user:alice" in requested[0]["reason"]

    wid, rid = await execute(http, "ApprovalWorkflow", {"subject": "cancel with reason"})
    response = await http.post(f"{run_path(wid, rid)}/actions/cancel", json={"reason": "User requested cancellation"})
    assert response.json() == {"message": f"Workflow {rid} cancelled"}
    run = await wait_run(http, wid, rid, "CANCELED")
    assert any(e.get("reason") == "User requested cancellation" for e in run["history"])
    assert_problem(await http.post(f"{RUNS}/{wid}/{rid}/actions/pause"), 404, "route_not_found")


async def test_signal_answers_with_the_event_that_recorded_it(http: httpx.AsyncClient) -> None:
    wid, rid = await execute(http, "ConversationWorkflow", {})
    response = await http.post(f"{run_path(wid, rid)}/signal/UserInput",
                               json={"message": "User response to query", "data": {"approved": True}},
                               headers={"Prefer": "return=representation"})
    assert response.status_code == 200
    assert response.headers["preference-applied"] == "return=representation"
    body = response.json()
    assert body["status"] == "success"
    assert body["message"] == f"Workflow {rid} signalled with UserInput"
    assert isinstance(body["event_id"], int)

    async def turns() -> int:
        return (await http.get(f"{run_path(wid, rid)}/query/get_turns")).json()  # type: ignore[no-any-return]

    assert await eventually(turns, what="the turn to be counted") == 1
    run = (await http.get(run_path(wid, rid))).json()
    [signaled] = [e for e in run["history"] if e["event_type"] == "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED"]
    assert signaled["event_id"] == body["event_id"]
    assert signaled["signal"] == {"name": "UserInput", "input": [{"message": "User response to query",
                                                                   "data": {"approved": True}}]}

    unknown = assert_problem(await http.post(f"{run_path(wid, rid)}/signal/Nope", json={"message": "x"}),
                             422, "unknown_signal")
    assert [a["hint"] for a in unknown["allowed_actions"]] == ["UserInput"]
    assert unknown["allowed_actions"][0]["href"] == f"{run_path(wid, rid)}/signal/UserInput"
    # UserInput needs a message: no body is a validation error, not a silent no-op.
    assert_problem(await http.post(f"{run_path(wid, rid)}/signal/UserInput"), 422, "invalid_request")
    # Without `Prefer: return=representation` (RFC 7240) there is no receipt lookup, one Temporal read.
    plain = await http.post(f"{run_path(wid, rid)}/signal/UserInput", json={"message": "quick"})
    assert plain.status_code == 200 and plain.json()["event_id"] is None
    assert "preference-applied" not in plain.headers
    minimal = await http.post(f"{run_path(wid, rid)}/signal/UserInput", json={"message": "quicker"},
                              headers={"Prefer": "return=minimal"})
    assert minimal.status_code == 200 and minimal.json()["event_id"] is None
    assert minimal.headers["preference-applied"] == "return=minimal"
    bye = await http.post(f"{run_path(wid, rid)}/signal/UserInput", json={"message": "bye"})
    assert bye.status_code == 200
    assert (await wait_run(http, wid, rid, "COMPLETED"))["result"] == {"turns": 4}


async def test_query_answers_and_unknown_query_is_422(http: httpx.AsyncClient) -> None:
    wid, rid = await execute(http, "ApprovalWorkflow", {"subject": "q", "timeout_secs": 600})
    state = await http.get(f"{run_path(wid, rid)}/query/get_state")
    assert state.status_code == 200
    assert state.json()["subject"] == "q" and state.json()["state"] == "pending"
    problem = assert_problem(await http.get(f"{run_path(wid, rid)}/query/get_secrets"), 422, "unknown_query")
    assert [a["hint"] for a in problem["allowed_actions"]] == ["get_state"]
    await http.post(f"{run_path(wid, rid)}/actions/terminate")


async def test_update_extends_the_deadline_and_a_validator_rejection_is_422(http: httpx.AsyncClient) -> None:
    wid, rid = await execute(http, "ApprovalWorkflow", {"subject": "u", "timeout_secs": 600})
    before = (await http.get(f"{run_path(wid, rid)}/query/get_state")).json()["deadline"]
    response = await http.post(f"{run_path(wid, rid)}/update/extend_deadline", json={"seconds": 3600})
    assert response.status_code == 200, response.text
    after = response.json()
    assert after["state"] == "pending" and after["deadline"] > before
    assert (await http.get(f"{run_path(wid, rid)}/query/get_state")).json()["deadline"] == after["deadline"]
    run = (await http.get(run_path(wid, rid))).json()
    assert any(e["event_type"] == "EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED" for e in run["history"])

    assert_problem(await http.post(f"{run_path(wid, rid)}/update/extend_deadline", json={"seconds": -5}),
                   422, "invalid_request")
    unknown = assert_problem(await http.post(f"{run_path(wid, rid)}/update/shorten"), 422, "unknown_update")
    assert [a["hint"] for a in unknown["allowed_actions"]] == ["extend_deadline"]

    no_deadline_wid, no_deadline_rid = await execute(http, "ApprovalWorkflow", {"subject": "forever"})
    rejected = assert_problem(
        await http.post(f"{run_path(no_deadline_wid, no_deadline_rid)}/update/extend_deadline", json={"seconds": 5}),
        422, "update_rejected")
    assert "no deadline" in rejected["detail"]
    for w, r in ((wid, rid), (no_deadline_wid, no_deadline_rid)):
        await http.post(f"{run_path(w, r)}/actions/terminate")


async def test_idempotent_execute_starts_once(http: httpx.AsyncClient) -> None:
    key = {"Idempotency-Key": f"exec-{tag()}"}
    body = {"vars": {"subject": "once"}, "document_id": "d-once"}
    first = await http.post(f"{WORKFLOWS}/execute/ApprovalWorkflow", json=body, headers=key)
    again = await http.post(f"{WORKFLOWS}/execute/ApprovalWorkflow", json=body, headers=key)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    other = await http.post(f"{WORKFLOWS}/execute/ApprovalWorkflow", json={**body, "vars": {"subject": "twice"}},
                            headers=key)
    assert_problem(other, 409, "idempotency_conflict")
    [started] = first.json()
    await http.post(f"{run_path(started['workflow_id'], started['run_id'])}/actions/terminate")


async def test_idempotent_signal_is_delivered_once(http: httpx.AsyncClient) -> None:
    wid, rid = await execute(http, "ConversationWorkflow", {})
    key = {"Idempotency-Key": f"sig-{tag()}"}
    answers = await asyncio.gather(*[
        http.post(f"{run_path(wid, rid)}/signal/UserInput", json={"message": "only once"},
                  headers={**key, "Prefer": "return=representation"})
        for _ in range(5)
    ])
    assert {a.status_code for a in answers} == {200}
    assert len({a.json()["event_id"] for a in answers}) == 1
    conflict = await http.post(f"{run_path(wid, rid)}/signal/UserInput", json={"message": "else"}, headers=key)
    assert_problem(conflict, 409, "idempotency_conflict")

    async def one_turn() -> bool:
        return (await http.get(f"{run_path(wid, rid)}/query/get_turns")).json() == 1

    await eventually(one_turn, what="the single turn")
    await asyncio.sleep(0.5)
    run = (await http.get(run_path(wid, rid))).json()
    assert len([e for e in run["history"] if e["event_type"] == "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED"]) == 1
    await http.post(f"{run_path(wid, rid)}/actions/terminate")


async def test_list_filters_narrow_to_the_matching_runs(http: httpx.AsyncClient) -> None:
    t = tag()
    a = await execute(http, "ApprovalWorkflow", {"subject": "a"}, document_id=f"doc-{t}", rule_id=f"rule-{t}",
                      event_name="create", rule_name=f"Rule {t}")
    b = await execute(http, "StandardContentIngestion", {"documentId": f"doc-{t}"}, objectIds=[f"doc-{t}"],
                      event_name="update")
    await wait_run(http, *b, "COMPLETED")

    async def both_listed() -> list[dict[str, Any]] | None:
        runs = await listed(http, RUNS, {"document_id": f"doc-{t}"})
        return runs if len(runs) == 2 else None

    runs = await eventually(both_listed, what="both runs listed")
    assert {r["run_id"] for r in runs} == {a[1], b[1]}
    item = next(r for r in runs if r["run_id"] == a[1])
    assert item["initiated_by"] == "user:alice" and item["visibility"] == "project"
    assert item["vertesia_workflow_type"] == item["type"] == "ApprovalWorkflow"
    assert item["status"] == "RUNNING" and item["closed_at"] is None and isinstance(item["started_at"], int)

    async def ids(**filters: Any) -> set[str]:
        return {r["run_id"] for r in await listed(http, RUNS, {"document_id": f"doc-{t}", **filters})}

    assert await ids(event_name="create", rule_id=f"rule-{t}") == {a[1]}
    assert await ids(type="StandardContentIngestion") == {b[1]}
    assert await ids(status="completed") == await ids(status="COMPLETED") == {b[1]}
    assert await ids(status="Running") == {a[1]}
    assert await ids(initiated_by="user:alice") == {a[1], b[1]}
    assert await ids(initiated_by="user:nobody") == set()
    assert await ids(search_term=f"Rule {t}") == {a[1]}
    assert await ids(search_term=b[1]) == {b[1]}
    assert await ids(search_term="StandardContentIngestion") == {b[1]}
    assert await ids(start="2020-01-01", end="2999-12-31T00:00:00Z") == {a[1], b[1]}
    assert await ids(start="2999-01-01T00:00:00+02:00") == set()
    assert await ids(query="WorkflowType = 'ApprovalWorkflow' OR WorkflowType = 'Nope'") == {a[1]}
    await http.post(f"{run_path(*a)}/actions/terminate")


async def test_pages_are_linked_by_an_opaque_token(http: httpx.AsyncClient) -> None:
    t = tag()
    started = [await execute(http, "ApprovalWorkflow", {"subject": str(i)}, document_id=f"page-{t}")
               for i in range(3)]

    async def all_listed() -> bool:
        return len(await listed(http, RUNS, {"document_id": f"page-{t}"})) == 3

    await eventually(all_listed, what="three runs listed")
    first = (await http.post(RUNS, json={"document_id": f"page-{t}", "page_size": 2})).json()
    assert len(first["runs"]) == 2 and first["has_more"] is True and first["next_page_token"]
    second = (await http.post(RUNS, json={"document_id": f"page-{t}", "page_size": 2,
                                           "next_page_token": first["next_page_token"]})).json()
    assert len(second["runs"]) == 1 and second["has_more"] is False and second["next_page_token"] is None
    assert {r["run_id"] for r in first["runs"] + second["runs"]} == {rid for _, rid in started}

    assert_problem(await http.post(RUNS, json={"next_page_token": "%%%not-base64%%%"}), 400, "invalid_request")
    foreign = await http.post(RUNS, json={"document_id": "other", "next_page_token": first["next_page_token"]})
    assert "filters" in assert_problem(foreign, 400, "invalid_request")["detail"]
    for size in (0, 1001, "ten"):
        assert_problem(await http.post(RUNS, json={"page_size": size}), 422, "invalid_request")
    default = (await http.post(RUNS)).json()
    assert len(default["runs"]) <= 50
    for wid, rid in started:
        await http.post(f"{run_path(wid, rid)}/actions/terminate")


INJECTIONS = [
    "WorkflowType = 'ApprovalWorkflow') OR (SignalwayProject = 'beta'",
    "WorkflowType = 'ApprovalWorkflow' OR SignalwayProject = 'beta'",
    "SignalwayProject = 'beta'",
    "signalwayproject = 'beta'",
    "WorkflowType = 'x' OR 1 = 1",
    "WorkflowType = 'x\\' OR SignalwayProject = \\'beta'",
    "WorkflowType = 'x'' OR ''1''=''1'",
    "SignalwayDocumentId = 'secret-{t}' OR SignalwayVisibility = 'private'",
    "(SignalwayDocumentId = 'secret-{t}')) OR ((WorkflowType = 'ApprovalWorkflow'",
    "SignalwayDocumentId = 'secret-{t}' -- AND SignalwayProject = 'alpha'",
    "SignalwayDocumentId = 'secret-{t}' ORDER BY StartTime",
    "SignalwayDocumentId STARTS_WITH 'secret'",
    "SignalwayDocumentId IS NOT NULL",
    "`SignalwayProject` = 'beta'",
]


async def test_query_injection_never_reaches_another_projects_runs(http: httpx.AsyncClient, gateway: Gateway) -> None:
    t = tag()
    beta = {"headers": gateway.headers(project="beta", user="bertha")}
    secret = await execute(http, "ApprovalWorkflow", {"subject": "beta's"}, document_id=f"secret-{t}", **beta)

    async def beta_sees_it() -> bool:
        return any(r["run_id"] == secret[1] for r in await listed(http, RUNS, {"document_id": f"secret-{t}"}, **beta))

    await eventually(beta_sees_it, what="beta to list its own run")
    refused = 0
    for shape in INJECTIONS:
        query = shape.replace("{t}", t)
        response = await http.post(RUNS, json={"query": query, "page_size": 1000})
        if response.status_code == 400:
            assert response.json()["code"] == "invalid_query", response.text
            refused += 1
            continue
        assert response.status_code == 200, (query, response.text)
        assert secret[1] not in {r["run_id"] for r in response.json()["runs"]}, query
        conversations = await http.post(f"{WORKFLOWS}/conversations", json={"query": query})
        assert conversations.status_code in (200, 400)
        if conversations.status_code == 200:
            assert secret[1] not in {r["run_id"] for r in conversations.json()["runs"]}, query
    assert refused >= 10
    for field in ("document_id", "rule_id", "search_term", "type", "initiated_by"):
        crafted = await http.post(RUNS, json={field: "x' OR SignalwayProject = 'beta"})
        assert_problem(crafted, 400, "invalid_request")
    bad = assert_problem(await http.post(RUNS, json={"query": "Bogus = 'x'"}), 400, "invalid_query")
    assert "Bogus" in bad["detail"]
    await http.post(f"{run_path(*secret)}/actions/terminate", **beta)


async def test_conversations_follow_visibility_for_three_users(http: httpx.AsyncClient, gateway: Gateway) -> None:
    alice = {"headers": gateway.headers(user="alice")}
    bob = {"headers": gateway.headers(user="bob")}
    carol = {"headers": {"Authorization": "Bearer " + gateway.token(user="carol",
                                                                    permissions=("workflow_superadmin",))}}
    t = tag()
    shared = await execute(http, "ConversationWorkflow", {}, document_id=f"conv-{t}", **alice)
    private = await execute(http, "ConversationWorkflow", {}, document_id=f"conv-{t}", visibility="private",
                            interaction="helper", **alice)
    bobs = await execute(http, "ConversationWorkflow", {}, document_id=f"conv-{t}", visibility="private", **bob)
    not_a_conversation = await execute(http, "ApprovalWorkflow", {"subject": "x"}, document_id=f"conv-{t}", **alice)

    async def seen(who: dict[str, Any], path: str = f"{WORKFLOWS}/conversations") -> set[str]:
        return {r["run_id"] for r in await listed(http, path, {"document_id": f"conv-{t}"}, **who)}

    everything = {shared[1], private[1], bobs[1]}
    await eventually(lambda: _equals(seen(carol), everything), what="carol to see every conversation")
    await eventually(lambda: _equals(seen(alice), {shared[1], private[1]}), what="alice's view")
    await eventually(lambda: _equals(seen(bob), {shared[1], bobs[1]}), what="bob's view")
    by_id = {r["run_id"]: r for r in await listed(http, f"{WORKFLOWS}/conversations",
                                                  {"document_id": f"conv-{t}"}, **carol)}
    assert by_id[private[1]]["interaction_name"] == "helper" and by_id[private[1]]["visibility"] == "private"
    assert by_id[shared[1]]["interaction_name"] == "default"
    # The runs list keeps the same privacy, and includes non-conversations.
    assert await seen(bob, RUNS) == {shared[1], bobs[1], not_a_conversation[1]}
    assert_problem(await http.get(run_path(*private), **bob), 404, "workflow_not_found")
    assert_problem(await http.post(f"{run_path(*private)}/signal/UserInput", json={"message": "hi"}, **bob),
                   404, "workflow_not_found")
    assert (await http.get(run_path(*private), **carol)).status_code == 200
    beta = {"headers": gateway.headers(project="beta", user="carol")}
    assert await seen(beta) == set()
    for run in (shared, private, bobs, not_a_conversation):
        await http.post(f"{run_path(*run)}/actions/terminate", **carol)


async def _equals(values: Any, expected: set[str]) -> bool:
    return await values == expected


async def test_bad_input_is_a_clear_problem(http: httpx.AsyncClient, gateway: Gateway) -> None:
    unknown = assert_problem(await http.post(f"{WORKFLOWS}/execute/NoSuchWorkflow", json={"vars": {}}),
                             422, "unknown_workflow_type")
    assert {a["hint"] for a in unknown["allowed_actions"]} >= {"ApprovalWorkflow", "ConversationWorkflow"}
    assert_problem(await http.post(f"{WORKFLOWS}/execute/ApprovalWorkflow", json={"vars": {"subject": 5}}),
                   422, "invalid_request")
    assert_problem(await http.post(f"{WORKFLOWS}/execute/ApprovalWorkflow", content=b"{nope",
                                   headers={"Content-Type": "application/json"}), 400, "invalid_request")
    assert_problem(await http.post(f"{WORKFLOWS}/execute/ApprovalWorkflow",
                                   json={"vars": {"subject": "x" * 70_000}}), 413, "payload_too_large")
    assert_problem(await http.post(f"{WORKFLOWS}/execute/ApprovalWorkflow", json={"vars": {"subject": "x"},
                                   "visibility": "everyone"}), 422, "invalid_request")

    wid, rid = await execute(http, "ApprovalWorkflow", {"subject": "mine"})
    other_wid, other_rid = await execute(http, "ApprovalWorkflow", {"subject": "other"})
    assert_problem(await http.get(run_path(wid, other_rid)), 404, "workflow_not_found")
    assert_problem(await http.get(run_path("no-such-workflow", rid)), 404, "workflow_not_found")
    assert_problem(await http.get(run_path(wid, "not-a-uuid")), 400, "invalid_request")
    intruder = {"headers": gateway.headers(project="beta", user="mallory")}
    for response in (
        await http.get(run_path(wid, rid), **intruder),
        await http.post(f"{run_path(wid, rid)}/actions/cancel", **intruder),
        await http.post(f"{run_path(wid, rid)}/actions/terminate", **intruder),
        await http.post(f"{run_path(wid, rid)}/signal/approve", json={"approver": "m"}, **intruder),
        await http.get(f"{run_path(wid, rid)}/query/get_state", **intruder),
        await http.post(f"{run_path(wid, rid)}/update/extend_deadline", json={"seconds": 1}, **intruder),
    ):
        assert_problem(response, 404, "workflow_not_found")
    assert (await http.get(run_path(wid, rid))).json()["status"] == "RUNNING"
    # The runs surface is Bearer only: an API key is not a credential here.
    assert_problem(await http.post(RUNS, headers={"Authorization": API_KEY}), 401, "unauthorized")
    for w, r in ((wid, rid), (other_wid, other_rid)):
        await http.post(f"{run_path(w, r)}/actions/terminate")


async def test_query_with_no_worker_polling_is_503_with_retry_advice(http: httpx.AsyncClient, client) -> None:  # type: ignore[no-untyped-def]
    from temporalio.common import SearchAttributePair, TypedSearchAttributes

    from signalway import search_attributes as sa

    attrs = TypedSearchAttributes([SearchAttributePair(sa.PROJECT, "alpha")])
    handle = await client.start_workflow("ApprovalWorkflow", {"subject": "nobody home"}, id=str(uuid.uuid4()),
                                         task_queue=f"nobody-polls-{uuid.uuid4()}", search_attributes=attrs)
    path = run_path(handle.id, handle.result_run_id)
    for response in (await http.get(f"{path}/query/get_state"),
                     await http.post(f"{path}/update/extend_deadline", json={"seconds": 1})):
        problem = assert_problem(response, 503, "backend_unavailable")
        assert problem["retry_after_seconds"] > 0 and "worker" in problem["detail"]
        assert response.headers["retry-after"] == str(problem["retry_after_seconds"])
    # A signal is still taken: Temporal keeps it until a worker returns.
    signal = await http.post(f"{path}/signal/approve", json={"approver": "later"},
                             headers={"Prefer": "return=representation"})
    assert signal.status_code == 200 and isinstance(signal.json()["event_id"], int)
    await handle.terminate("test done")
