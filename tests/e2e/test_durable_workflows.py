"""The durable workflows surface (seeds 000 and 002) over HTTP, against real processes."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import datetime

import httpx

from tests.helpers.http import DURABLE, assert_problem, create, execute, run_path, wait_status
from tests.helpers.polling import eventually

# The durable surface's one time format: UTC, `Z`, milliseconds (signalway/times.py).
RFC3339_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


async def test_create_returns_the_running_workflow_with_rfc3339_times(http: httpx.AsyncClient) -> None:
    response = await http.post(DURABLE, json={"workflow_type": "ApprovalWorkflow", "input": {"subject": "ship"}})
    assert response.status_code == 201
    body = response.json()
    uuid.UUID(body["id"])
    assert response.headers["location"] == f"{DURABLE}/{body['id']}"
    assert body["workflow_type"] == "ApprovalWorkflow"
    assert body["status"] == "running"
    assert body["input"] == {"subject": "ship"}
    assert body["result"] is None and body["completed_at"] is None
    assert RFC3339_Z.match(body["created_at"]) and RFC3339_Z.match(body["started_at"])


async def test_signal_drives_workflow_to_completion_with_receipt(http: httpx.AsyncClient) -> None:
    wf = await create(http, "ApprovalWorkflow", {"subject": "deploy"})
    response = await http.post(f"{DURABLE}/{wf['id']}/signal",
                               json={"signal_type": "approve", "payload": {"approver": "carol"}},
                               headers={"Prefer": "return=representation"})
    assert response.status_code == 202
    assert response.headers["preference-applied"] == "return=representation"
    receipt = response.json()
    assert receipt["status"] == "accepted" and receipt["signal_type"] == "approve"
    assert isinstance(receipt["event_id"], int)

    done = await wait_status(http, wf["id"], "completed")
    assert done["result"]["approved"] is True and done["result"]["approver"] == "carol"
    assert RFC3339_Z.match(done["completed_at"])

    events = (await http.get(f"{DURABLE}/{wf['id']}/events", params={"limit": 1000})).json()
    signaled = [e for e in events["data"] if e["event_type"] == "workflow_execution_signaled"]
    assert [e["id"] for e in signaled] == [receipt["event_id"]]
    assert signaled[0]["event_data"]["signal_name"] == "approve"
    assert signaled[0]["event_data"]["input"] == {"approver": "carol"}


async def test_workflow_id_is_accepted_in_any_case(http: httpx.AsyncClient) -> None:
    wf = await create(http, "ApprovalWorkflow", {"subject": "case"})
    upper = wf["id"].upper()
    got = await http.get(f"{DURABLE}/{upper}")
    assert got.status_code == 200 and got.json()["id"] == wf["id"]
    sent = await http.post(f"{DURABLE}/{upper}/signal", json={"signal_type": "reject", "payload": {"reason": "no"}})
    assert sent.status_code == 202
    done = await wait_status(http, wf["id"], "completed")
    assert done["result"] == {"approved": False, "approver": None, "reason": "no",
                              "user_response": None, "timed_out": False}


async def test_unknown_signal_lists_the_signals_the_workflow_accepts(http: httpx.AsyncClient) -> None:
    wf = await create(http, "ApprovalWorkflow", {"subject": "x"})
    response = await http.post(f"{DURABLE}/{wf['id']}/signal", json={"signal_type": "user_response_received"})
    problem = assert_problem(response, 422, "unknown_signal")
    hints = {a["hint"] for a in problem["allowed_actions"]}
    assert hints == {"signal_type=approve", "signal_type=reject"}
    assert all(a["rel"] == "send-signal" and a["href"].endswith("/signal") for a in problem["allowed_actions"])
    # Nothing was buffered: the history holds no signal.
    events = (await http.get(f"{DURABLE}/{wf['id']}/events")).json()
    assert not [e for e in events["data"] if e["event_type"] == "workflow_execution_signaled"]


async def test_signal_payload_is_validated_before_it_reaches_the_workflow(http: httpx.AsyncClient) -> None:
    wf = await create(http, "ApprovalWorkflow", {"subject": "x"})
    response = await http.post(f"{DURABLE}/{wf['id']}/signal",
                               json={"signal_type": "approve", "payload": {"approvr": "typo"}})
    problem = assert_problem(response, 422, "invalid_request")
    assert "payload" in problem["detail"]
    assert (await http.get(f"{DURABLE}/{wf['id']}")).json()["status"] == "running"


async def test_signal_to_closed_workflow_is_409(http: httpx.AsyncClient) -> None:
    wf = await create(http, "StandardContentIngestion", {"documentId": "doc-1", "parts": 1})
    await wait_status(http, wf["id"], "completed")
    response = await http.post(f"{DURABLE}/{wf['id']}/signal", json={"signal_type": "anything"})
    problem = assert_problem(response, 409, "workflow_closed")
    assert problem["allowed_actions"][0]["rel"] == "get-existing"


async def test_unknown_workflow_is_404_and_bad_uuid_400(http: httpx.AsyncClient) -> None:
    missing = str(uuid.uuid4())
    assert_problem(await http.get(f"{DURABLE}/{missing}"), 404, "workflow_not_found")
    assert_problem(await http.post(f"{DURABLE}/{missing}/signal", json={"signal_type": "approve"}),
                   404, "workflow_not_found")
    assert_problem(await http.get(f"{DURABLE}/{missing}/events"), 404, "workflow_not_found")
    assert_problem(await http.post(f"{DURABLE}/{missing}/cancel"), 404, "workflow_not_found")
    assert_problem(await http.get(f"{DURABLE}/not-a-uuid"), 400, "invalid_request")


async def test_signal_with_same_idempotency_key_is_delivered_once(http: httpx.AsyncClient) -> None:
    wf = await create(http, "ConversationWorkflow", {})
    headers = {"Idempotency-Key": str(uuid.uuid4()), "Prefer": "return=representation"}
    body = {"signal_type": "UserInput", "payload": {"message": "hello"}}
    first = await http.post(f"{DURABLE}/{wf['id']}/signal", json=body, headers=headers)
    second = await http.post(f"{DURABLE}/{wf['id']}/signal", json=body, headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.json()["event_id"] == second.json()["event_id"]
    events = (await http.get(f"{DURABLE}/{wf['id']}/events", params={"limit": 1000})).json()
    assert len([e for e in events["data"] if e["event_type"] == "workflow_execution_signaled"]) == 1


async def test_conversation_ends_on_bye_with_turn_count(http: httpx.AsyncClient) -> None:
    wf = await create(http, "ConversationWorkflow", {})
    for message in ("hi", "bye"):
        response = await http.post(f"{DURABLE}/{wf['id']}/signal",
                                   json={"signal_type": "UserInput", "payload": {"message": message}})
        assert response.status_code == 202
    done = await wait_status(http, wf["id"], "completed")
    assert done["result"] == {"turns": 2}


async def test_events_are_paged_with_total(http: httpx.AsyncClient) -> None:
    wf = await create(http, "StandardContentIngestion", {"documentId": "doc-2", "parts": 2})
    await wait_status(http, wf["id"], "completed")
    everything = (await http.get(f"{DURABLE}/{wf['id']}/events", params={"limit": 1000})).json()
    total = everything["total"]
    assert total == len(everything["data"]) >= 11
    ids = [e["id"] for e in everything["data"]]
    assert ids == list(range(1, total + 1))
    first = everything["data"][0]
    assert first["event_type"] == "workflow_execution_started"
    assert first["event_data"]["input"] == [{"documentId": "doc-2", "parts": 2, "part_delay_secs": 0.0}] or \
        first["event_data"]["input"] == {"documentId": "doc-2", "parts": 2, "part_delay_secs": 0.0}
    assert everything["data"][-1]["event_type"] == "workflow_execution_completed"
    assert all(e["workflow_id"] == wf["id"] and RFC3339_Z.match(e["created_at"]) for e in everything["data"])
    assert all(isinstance(e["sequence_num"], int) for e in everything["data"])

    page = (await http.get(f"{DURABLE}/{wf['id']}/events", params={"limit": 3, "offset": 4})).json()
    assert [e["id"] for e in page["data"]] == [5, 6, 7]
    assert page["total"] == total
    beyond = (await http.get(f"{DURABLE}/{wf['id']}/events", params={"offset": total})).json()
    assert beyond == {"data": [], "total": total}
    assert_problem(await http.get(f"{DURABLE}/{wf['id']}/events", params={"limit": 0}), 400, "invalid_request")
    assert_problem(await http.get(f"{DURABLE}/{wf['id']}/events", params={"limit": "ten"}), 400, "invalid_request")


async def test_list_pages_filters_and_counts(http: httpx.AsyncClient, as_project: Callable[[str], dict[str, str]]) -> None:
    project = {"headers": as_project(f"list-{uuid.uuid4().hex[:8]}")}
    created = [await create(http, "ApprovalWorkflow", {"subject": f"s{i}"}, **project) for i in range(3)]
    await http.post(f"{DURABLE}/{created[0]['id']}/signal",
                    json={"signal_type": "approve", "payload": {"approver": "z"}}, **project)
    await wait_status(http, created[0]["id"], "completed", **project)

    async def listed() -> dict[str, object] | None:
        body = (await http.get(DURABLE, params={"limit": 10}, **project)).json()
        statuses = {w["id"]: w["status"] for w in body["data"]}
        ok = body["total"] == 3 and statuses.get(created[0]["id"]) == "completed"
        return body if ok else None

    body = await eventually(listed, what="three workflows listed")
    assert {w["id"] for w in body["data"]} == {w["id"] for w in created}
    first_page = (await http.get(DURABLE, params={"limit": 2}, **project)).json()
    second_page = (await http.get(DURABLE, params={"limit": 2, "offset": 2}, **project)).json()
    assert first_page["total"] == second_page["total"] == 3
    assert len(first_page["data"]) == 2 and len(second_page["data"]) == 1
    assert {w["id"] for w in first_page["data"] + second_page["data"]} == {w["id"] for w in created}

    running = (await http.get(DURABLE, params={"status": "running"}, **project)).json()
    assert running["total"] == 2 and all(w["status"] == "running" for w in running["data"])
    assert (await http.get(DURABLE, params={"workflow_type": "OrderFulfillmentWorkflow"}, **project)).json() == \
        {"data": [], "total": 0}
    assert_problem(await http.get(DURABLE, params={"status": "sleeping"}, **project), 400, "invalid_request")


async def test_list_shows_results_and_runs_started_on_any_surface(
        http: httpx.AsyncClient, as_project: Callable[[str], dict[str, str]]) -> None:
    headers = as_project(f"list-{uuid.uuid4().hex[:8]}")
    durable = await create(http, "ApprovalWorkflow", {"subject": "durable"}, headers=headers)
    await http.post(f"{DURABLE}/{durable['id']}/signal", headers=headers,
                    json={"signal_type": "approve", "payload": {"approver": "dana"}})
    # Started through the runs API's /execute: the durable API's GET by id finds it, so must its list.
    wid, rid = await execute(http, "ApprovalWorkflow", {"subject": "executed"}, headers=headers)
    await http.post(f"{run_path(wid, rid)}/signal/reject", json={"reason": "no"}, headers=headers)
    running = await create(http, "ConversationWorkflow", {}, headers=headers)
    details = {w: await wait_status(http, w, status, headers=headers)
               for w, status in ((durable["id"], "completed"), (wid, "completed"), (running["id"], "running"))}

    async def all_listed() -> dict[str, dict[str, object]] | None:
        body = (await http.get(DURABLE, params={"limit": 10}, headers=headers)).json()
        found = {w["id"]: w for w in body["data"]}
        done = body["total"] == 3 and all(found.get(w, {}).get("status") == d["status"] for w, d in details.items())
        return found if done else None

    listed = await eventually(all_listed, what="the three runs listed as they are")
    for workflow_id, detail in details.items():
        assert listed[workflow_id] == detail  # a listed run reads exactly as it does alone
    assert listed[durable["id"]]["result"] == {"approved": True, "approver": "dana", "reason": None,
                                               "user_response": None, "timed_out": False}
    assert listed[wid]["result"]["approved"] is False and listed[wid]["input"]["subject"] == "executed"
    assert listed[running["id"]]["result"] is None


async def test_cancel_requests_graceful_cancellation(http: httpx.AsyncClient) -> None:
    order = await create(http, "OrderFulfillmentWorkflow", {"order_id": "o-1", "timeout_secs": 600})
    response = await http.post(f"{DURABLE}/{order['id']}/cancel")
    assert response.status_code == 202
    assert response.json()["id"] == order["id"]
    # The order workflow handles cancellation as a business outcome.
    done = await wait_status(http, order["id"], "completed")
    assert done["result"]["status"] == "canceled"
    assert_problem(await http.post(f"{DURABLE}/{order['id']}/cancel"), 409, "workflow_closed")

    approval = await create(http, "ApprovalWorkflow", {"subject": "to cancel"})
    assert (await http.post(f"{DURABLE}/{approval['id']}/cancel")).status_code == 202
    await wait_status(http, approval["id"], "cancelled")


async def test_create_with_idempotency_key_starts_once(http: httpx.AsyncClient) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = {"workflow_type": "ApprovalWorkflow", "input": {"subject": "once"}}
    first = await http.post(DURABLE, json=body, headers=key)
    again = await http.post(DURABLE, json=body, headers=key)
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    other = await http.post(DURABLE, json={**body, "input": {"subject": "twice"}}, headers=key)
    assert_problem(other, 409, "idempotency_conflict")


async def test_create_refuses_bad_input_without_starting_anything(
    http: httpx.AsyncClient, as_project: Callable[[str], dict[str, str]]
) -> None:
    project = {"headers": as_project(f"bad-{uuid.uuid4().hex[:8]}")}
    unknown = await http.post(DURABLE, json={"workflow_type": "Nope", "input": {}}, **project)
    problem = assert_problem(unknown, 422, "unknown_workflow_type")
    assert {a["hint"] for a in problem["allowed_actions"]} >= {"ApprovalWorkflow", "ConversationWorkflow"}

    invalid = await http.post(DURABLE, json={"workflow_type": "ApprovalWorkflow", "input": {"subject": ""}}, **project)
    problem = assert_problem(invalid, 422, "invalid_request")
    assert problem["errors"][0]["loc"] == ["subject"]

    wrong_type = await http.post(DURABLE, json={"workflow_type": 42}, **project)
    assert_problem(wrong_type, 422, "invalid_request")
    extra = await http.post(DURABLE, json={"workflow_type": "ApprovalWorkflow", "inputs": {}}, **project)
    assert_problem(extra, 422, "invalid_request")
    malformed = await http.post(DURABLE, content=b'{"workflow_type": ', headers={
        **project["headers"], "Content-Type": "application/json"})
    assert_problem(malformed, 400, "invalid_request")
    not_object = await http.post(DURABLE, json=[1, 2], **project)
    assert_problem(not_object, 422, "invalid_request")
    empty = await http.post(DURABLE, **project)
    assert_problem(empty, 400, "invalid_request")
    assert (await http.get(DURABLE, **project)).json()["total"] == 0


async def test_oversize_bodies_are_413_with_or_without_content_length(http: httpx.AsyncClient) -> None:
    big = b'{"workflow_type": "ApprovalWorkflow", "input": {"subject": "' + b"x" * 70_000 + b'"}}'
    response = await http.post(DURABLE, content=big, headers={"Content-Type": "application/json"})
    assert_problem(response, 413, "payload_too_large")

    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(10):
            yield b"x" * 10_000

    streamed = await http.post(DURABLE, content=chunks(), headers={"Content-Type": "application/json"})
    assert "content-length" not in streamed.request.headers
    assert_problem(streamed, 413, "payload_too_large")


async def test_created_at_is_a_real_timestamp(http: httpx.AsyncClient) -> None:
    before = datetime.now().astimezone()
    wf = await create(http, "ApprovalWorkflow", {"subject": "time"})
    created = datetime.fromisoformat(wf["created_at"].replace("Z", "+00:00"))
    assert abs((created - before).total_seconds()) < 60


async def test_signal_is_accepted_durably_while_no_worker_polls(http: httpx.AsyncClient, client) -> None:  # type: ignore[no-untyped-def]
    """A run whose workers are away: known types still take their signals, others get 503."""
    from temporalio.common import SearchAttributePair, TypedSearchAttributes

    from signalway import search_attributes as sa

    attrs = TypedSearchAttributes([SearchAttributePair(sa.PROJECT, "alpha")])
    idle_queue = f"nobody-polls-{uuid.uuid4()}"
    known = await client.start_workflow("ApprovalWorkflow", {"subject": "later"}, id=str(uuid.uuid4()),
                                        task_queue=idle_queue, search_attributes=attrs)
    sent = await http.post(f"{DURABLE}/{known.id}/signal", json={"signal_type": "approve",
                                                                 "payload": {"approver": "q"}},
                           headers={"Prefer": "return=representation"})
    assert sent.status_code == 202 and isinstance(sent.json()["event_id"], int)
    refused = await http.post(f"{DURABLE}/{known.id}/signal", json={"signal_type": "approvee"})
    assert {a["hint"] for a in assert_problem(refused, 422, "unknown_signal")["allowed_actions"]} == {
        "signal_type=approve", "signal_type=reject"}

    foreign = await client.start_workflow("SomeoneElsesWorkflow", id=str(uuid.uuid4()), task_queue=idle_queue,
                                          search_attributes=attrs)
    response = await http.post(f"{DURABLE}/{foreign.id}/signal", json={"signal_type": "go"})
    problem = assert_problem(response, 503, "backend_unavailable")
    assert problem["retry_after_seconds"] > 0 and "worker" in problem["detail"]
    for handle in (known, foreign):
        await handle.terminate("test done")


async def test_the_started_event_shows_memo_and_search_attributes_decoded_without_bookkeeping(
        http: httpx.AsyncClient) -> None:
    wf = await create(http, "ApprovalWorkflow", {"subject": "memo check"})
    started = (await http.get(f"{DURABLE}/{wf['id']}/events", params={"limit": 1})).json()["data"][0]
    assert started["event_type"] == "workflow_execution_started"
    data = started["event_data"]
    # Signalway's own memo entries (request fingerprint, input copy) are bookkeeping: left out.
    assert "memo" not in data and "signalway_" not in str(data)
    attributes = data["search_attributes"]
    assert attributes["SignalwayVisibility"] == "project" and isinstance(attributes["SignalwayProject"], str)
    # A memo a user gave (objectIds on the runs API) reads as its value, not a base64 payload.
    wid, _ = await execute(http, "ApprovalWorkflow", {"subject": "with objects"}, objectIds=["doc-1", "doc-2"])
    started = (await http.get(f"{DURABLE}/{wid}/events", params={"limit": 1})).json()["data"][0]
    assert started["event_data"]["memo"] == {"objectIds": ["doc-1", "doc-2"]}
    for run in (wf["id"], wid):
        await http.post(f"{DURABLE}/{run}/cancel")
