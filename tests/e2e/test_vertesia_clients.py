"""The published Vertesia clients, unchanged and at their default API version, against real processes.

PyPI `vertesia-client` (pinned in pyproject.toml's dev extra) runs in-process; npm
`@vertesia/client` (pinned in tests/clients/node, installed by scripts/ensure-node-clients) runs
as `node drive.mjs`, which prints what it saw. Both send `x-api-version: 20260803` and are
answered in the client wire (gateway.runs_wire); without the header the answers stay seed 001's.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from vertesia_client import Client
from vertesia_client.openapi.models import (
    AgentMessageDetails,
    AgentMessageType,
    ExecuteWorkflowPayload,
    ListWorkflowRunsPayload,
    ListWorkflowRunsResponse,
    PostAgentRunUpdatePayload,
    WorkflowHistoryOneOf,
)

from signalway.gateway.runs_schemas import RunDetails, RunList
from signalway.gateway.runs_wire import (
    CLIENT_API_VERSION,
    MESSAGE_TYPES,
    ClientRunDetails,
    ClientRunList,
    CompactMessages,
)
from signalway.localstack import free_port
from tests.helpers.gateway import Gateway, launch_gateway
from tests.helpers.http import WORKFLOWS, assert_problem, run_path
from tests.helpers.polling import until
from tests.helpers.stack import Stack

NODE_DIR = Path(__file__).resolve().parents[1] / "clients" / "node"
CLIENT = {"x-api-version": CLIENT_API_VERSION}

SYSTEM, UPDATE, COMPLETE, TERMINATED, ANSWER, QUESTION = 0, 3, 4, 11, 7, 8


def rfc3339(value: Any) -> datetime:
    """A time of the client wire: a string in RFC 3339 UTC."""
    assert isinstance(value, str) and value.endswith("Z"), value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def sse_data(text: str) -> list[dict[str, Any]]:
    """The JSON of each `data:` line of a whole SSE body."""
    return [json.loads(line[5:].strip()) for line in text.splitlines() if line.startswith("data:")]


# -- the npm client ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def node() -> str:
    """Node.js and the pinned npm client, as scripts/ensure-node-clients installs them: missing
    is a failure, never a skip."""
    binary = shutil.which("node")
    assert binary, "node is not on PATH: run `make install` (scripts/ensure-node-clients)"
    assert (NODE_DIR / "node_modules" / "@vertesia" / "client").is_dir(), (
        "@vertesia/client is not installed: run `make install` (scripts/ensure-node-clients)")
    return binary


async def run_node(node: str, script: str, gateway: Gateway, *, within: float) -> dict[str, Any]:
    """`node <script> <gateway url> <token>` in tests/clients/node; what it printed, as JSON."""
    process = await asyncio.create_subprocess_exec(
        node, script, gateway.url, gateway.token(), cwd=NODE_DIR,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), timeout=within)
    assert process.returncode == 0, err.decode(errors="replace")[-4000:]
    seen: dict[str, Any] = json.loads(out)
    return seen


async def test_the_npm_client_drives_a_conversation_through_every_operation(node: str, gateway: Gateway) -> None:
    seen = await run_node(node, "drive.mjs", gateway, within=120)
    wid, rid = seen["ids"]["workflow_id"], seen["ids"]["run_id"]

    assert seen["execute"] == [{"run_id": rid, "workflow_id": wid}]
    assert seen["signal"]["status"] == "success" and seen["signal"]["message"].endswith("signalled with UserInput")
    assert seen["query"] == 1
    # The updates come back as the client's AgentMessage: numeric types, the gateway's stamps.
    assert [(m["type"], m["message"]) for m in seen["answered"]] == [(ANSWER, "echo: hello from node")]
    assert seen["post"] == {"success": True}
    # The stream: the backlog by GET, then (posted once the backlog was in) SSE, ended by COMPLETE.
    assert [(m["type"], m["message"]) for m in seen["streamed"]] == [
        (ANSWER, "echo: hello from node"), (ANSWER, "posted by node"), (COMPLETE, "done")]
    assert seen["stream_result"] is None
    posted = seen["streamed"][1]
    assert posted["workstream_id"] == "research" and posted["workflow_run_id"] == rid
    assert posted["details"] == {"tool": "node-test", "tool_status": "completed"}
    stamps = [m["timestamp"] for m in seen["retrieved"]]
    assert stamps == sorted(set(stamps)) and seen["retrieved"] == seen["streamed"]
    assert [m["message"] for m in seen["retrieved_since"]] == ["posted by node", "done"]

    for answer in (seen["search"], seen["conversations"]):
        [run] = answer["runs"]
        assert (run["run_id"], run["workflow_id"], run["status"]) == (rid, wid, "RUNNING")
        assert rfc3339(run["started_at"]) and run["closed_at"] is None
        assert run["interaction_name"] == "default" and answer["has_more"] is False
    [by_document] = seen["list_runs"]["runs"]
    assert (by_document["run_id"], by_document["document_id"]) == (rid, seen["ids"]["document_id"])

    details = seen["details"]
    assert (details["run_id"], details["status"], details["input"]) == (rid, "RUNNING", {"turns": 0})
    history = details["history"]
    assert history["type"] == "events"
    events = history["events"]
    assert [e["event_id"] for e in events] == list(range(1, len(events) + 1))
    assert all(rfc3339(e["event_time"]) for e in events)
    [signalled] = [e for e in events if e["event_type"] == "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED"]
    assert signalled["signal"] == {"direction": "receiving", "signalName": "UserInput",
                                   "input": [{"message": "hello from node"}]}

    assert seen["cancel"] == {"message": f"Workflow {rid} cancelled"}
    cancelled = seen["after_cancel"]
    assert cancelled["status"] == "CANCELED" and "history" not in cancelled
    assert rfc3339(cancelled["closed_at"]) >= rfc3339(cancelled["started_at"])
    assert cancelled["error"] == {"message": "workflow cancelled", "type": "Canceled"}


async def test_the_numeric_types_and_their_stored_names_are_the_npm_clients_own(node: str) -> None:
    script = (
        "import { AgentMessageType, normalizeMessageType } from '@vertesia/common';"
        "const codes = Object.values(AgentMessageType).filter((v) => typeof v === 'number');"
        "console.log(JSON.stringify(codes.map((c) => [c, AgentMessageType[c],"
        " normalizeMessageType(AgentMessageType[c].toLowerCase())])));"
    )
    process = await asyncio.create_subprocess_exec(node, "--input-type=module", "-e", script, cwd=NODE_DIR,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode(errors="replace")
    table = json.loads(out)
    assert [(code, name.lower()) for code, name, _ in table] == list(enumerate(MESSAGE_TYPES))
    # The client's legacy parser (what it applies to the seed 001 frames of its SSE stream) reads
    # every stored name back as its code, but RESTARTING, which it does not know (UPDATE).
    assert [read for _, _, read in table] == [*range(14), UPDATE]


# -- the Python client ---------------------------------------------------------------------------


@pytest.fixture
def python_client(gateway: Gateway) -> Iterator[Client]:
    yield Client(server_url=gateway.url, store_url=gateway.url, token=gateway.token())


def conversation(client: Client) -> tuple[str, str]:
    [started] = client.workflow_runs.execute_workflow("ConversationWorkflow", ExecuteWorkflowPayload(vars={}))
    return started.workflow_id, started.run_id


def test_the_python_client_executes_signals_and_queries(python_client: Client) -> None:
    runs = python_client.workflow_runs
    wid, rid = conversation(python_client)
    answer = runs.signal_workflow_run(wid, rid, "UserInput", {"message": "hello from python"})
    assert (answer.status, answer.message) == ("success", f"Workflow {rid} signalled with UserInput")
    assert until(lambda: runs.query_workflow_run(wid, rid, "get_turns") == 1, what="the turn to count")
    runs.apply_workflow_run_action(wid, rid, "terminate")


def test_the_python_client_posts_reads_and_streams_updates(python_client: Client) -> None:
    runs = python_client.workflow_runs
    wid, rid = conversation(python_client)
    runs.signal_workflow_run(wid, rid, "UserInput", {"message": "hi"})
    [echo] = until(lambda: runs.get_workflow_run_updates(wid, rid).messages, what="the workflow's answer")
    assert (echo.t, echo.m, echo.w, echo.d) == (AgentMessageType.NUMBER_7, "echo: hi", None, None)

    posted = runs.post_workflow_run_update(rid, PostAgentRunUpdatePayload(
        type=AgentMessageType.NUMBER_8, message="which colour?", timestamp=time.time() * 1000,
        workflow_run_id=rid, workstream_id="design", details=AgentMessageDetails(tool="ask", tool_iteration=2)))
    assert posted.success is True
    messages = runs.get_workflow_run_updates(wid, rid, since=0).messages
    assert [(m.t, m.m) for m in messages] == [(ANSWER, "echo: hi"), (QUESTION, "which colour?")]
    question = messages[1]
    assert question.w == "design" and question.d is not None and (question.d.tool, question.d.tool_iteration) == (
        "ask", 2)
    assert question.ts is not None and echo.ts is not None and question.ts > echo.ts
    assert [m.m for m in runs.get_workflow_run_updates(wid, rid, since=echo.ts).messages] == ["which colour?"]

    # The stream answers its whole body once the run closes: backlog, a live update, the end.
    streamed: dict[str, str] = {}
    reader = threading.Thread(target=lambda: streamed.update(
        body=runs.stream_workflow_run_updates(wid, rid, since=0)))
    reader.start()
    time.sleep(0.5)
    runs.post_workflow_run_update(rid, PostAgentRunUpdatePayload(type=AgentMessageType.NUMBER_0, message="live"))
    time.sleep(0.5)
    runs.apply_workflow_run_action(wid, rid, "cancel")
    reader.join(30)
    assert not reader.is_alive(), "the stream did not end when the run closed"
    frames = sse_data(streamed["body"])
    assert [(f["t"], f.get("m")) for f in frames] == [
        (ANSWER, "echo: hi"), (QUESTION, "which colour?"), (SYSTEM, "live"), (TERMINATED, "Workflow run CANCELED")]
    assert frames[-1]["d"] == {"stream_end": "WORKFLOW_CLOSED", "status": "CANCELED"}


def test_the_python_client_lists_runs_and_conversations(python_client: Client) -> None:
    runs = python_client.workflow_runs
    wid, rid = conversation(python_client)
    listed = runs.list_workflow_runs(ListWorkflowRunsPayload(search_term=rid, page_size=10))
    [run] = listed.runs
    assert (run.run_id, run.workflow_id, run.type, run.status.actual_instance) == (
        rid, wid, "ConversationWorkflow", "RUNNING")
    assert rfc3339(run.started_at) and run.closed_at is None and listed.has_more is False
    assert [r.run_id for r in runs.list_workflow_runs(
        ListWorkflowRunsPayload(search_term=rid, interaction="default")).runs] == [rid]
    assert runs.list_workflow_runs(ListWorkflowRunsPayload(search_term=rid, interaction="other")).runs == []

    # The Python client has no conversations method: its own API client calls the route.
    api = runs.api_client
    call = api.param_serialize(
        method="POST", resource_path="/workflows/conversations", body={"search_term": rid},
        header_params={"Content-Type": "application/json", "Accept": "application/json", **CLIENT},
        auth_settings=["bearerAuth"])
    response = api.call_api(*call)
    response.read()
    conversations = api.response_deserialize(response, {"200": "ListWorkflowRunsResponse"}).data
    assert isinstance(conversations, ListWorkflowRunsResponse)
    assert [(r.run_id, r.interaction_name) for r in conversations.runs] == [(rid, "default")]
    runs.apply_workflow_run_action(wid, rid, "terminate")


def test_the_python_client_reads_details_with_history_and_cancels(python_client: Client) -> None:
    runs = python_client.workflow_runs
    wid, rid = conversation(python_client)
    runs.signal_workflow_run(wid, rid, "UserInput", {"message": "history please"})
    until(lambda: runs.query_workflow_run(wid, rid, "get_turns") == 1, what="the turn to count")

    details = runs.get_workflow_run(wid, rid, include_history=True, history_format="events")
    assert (details.run_id, details.workflow_id, details.status.actual_instance) == (rid, wid, "RUNNING")
    assert details.input == {"turns": 0} and details.pending_activities == []
    assert details.history is not None
    history = details.history.actual_instance
    assert isinstance(history, WorkflowHistoryOneOf) and history.type == "events"
    assert all(rfc3339(e.event_time) for e in history.events)
    [signalled] = [e for e in history.events if e.event_type == "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED"]
    assert signalled.signal is not None
    assert (signalled.signal.direction, signalled.signal.signal_name) == ("receiving", "UserInput")
    assert signalled.signal.input == [{"message": "history please"}]

    assert runs.apply_workflow_run_action(wid, rid, "cancel").message == f"Workflow {rid} cancelled"
    closed = until(lambda: (d := runs.get_workflow_run(wid, rid, include_history=False)).status.actual_instance
                   == "CANCELED" and d, what="the run to be cancelled")
    assert closed.history is None and closed.closed_at is not None
    assert rfc3339(closed.closed_at) >= rfc3339(closed.started_at)


# -- the two wires, side by side -----------------------------------------------------------------


@pytest.fixture
def plain(gateway: Gateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, headers=gateway.headers(), timeout=30) as client:
        yield client


def a_conversation(plain: httpx.Client, message: str) -> tuple[str, str]:
    started = plain.post(f"{WORKFLOWS}/execute/ConversationWorkflow", json={"vars": {}})
    assert started.status_code == 200, started.text
    wid, rid = started.json()[0]["workflow_id"], started.json()[0]["run_id"]
    assert plain.post(f"{run_path(wid, rid)}/signal/UserInput", json={"message": message}).status_code == 200
    until(lambda: plain.get(f"{run_path(wid, rid)}/updates").json()["messages"], what="the answer")
    return wid, rid


def test_without_the_header_the_answers_are_seed_001s(plain: httpx.Client) -> None:
    wid, rid = a_conversation(plain, "seed")
    posted = plain.post(f"{WORKFLOWS}/runs/{rid}/updates", headers=CLIENT,
                        json={"type": QUESTION, "message": "numeric", "timestamp": 1, "details": {"k": 1}})
    assert posted.status_code == 201, posted.text
    refused = plain.post(f"{WORKFLOWS}/runs/{rid}/updates", json={"type": QUESTION})
    assert_problem(refused, 422, "invalid_request")

    messages = plain.get(f"{run_path(wid, rid)}/updates").json()["messages"]
    assert [set(m) for m in messages] == [
        {"id", "timestamp", "workflow_run_id", "type", "message", "details", "workstream_id"}] * 2
    assert [(m["type"], m["message"], m["details"]) for m in messages] == [
        ("ANSWER", "echo: seed", None), ("question", "numeric", {"k": 1})]
    assert messages[1]["timestamp"] > 1_700_000_000_000  # the gateway's stamp, not the client's
    compacted = plain.get(f"{run_path(wid, rid)}/updates", headers=CLIENT).json()
    assert CompactMessages.model_validate(compacted).model_dump(exclude_none=True) == compacted
    assert [(m["t"], m["m"], m.get("d")) for m in compacted["messages"]] == [
        (ANSWER, "echo: seed", None), (QUESTION, "numeric", {"k": 1})]

    listed = plain.post(f"{WORKFLOWS}/runs", json={"search_term": rid}).json()
    assert RunList.model_validate(listed).model_dump(mode="json") == listed
    [run] = listed["runs"]
    assert isinstance(run["started_at"], int) and run["closed_at"] is None and listed["next_page_token"] is None
    client_listed = plain.post(f"{WORKFLOWS}/runs", json={"search_term": rid}, headers=CLIENT).json()
    assert ClientRunList.model_validate(client_listed).model_dump(mode="json") == client_listed
    assert int(rfc3339(client_listed["runs"][0]["started_at"]).timestamp()) == run["started_at"]
    assert "next_page_token" not in client_listed and "document_id" not in client_listed["runs"][0]

    details = plain.get(run_path(wid, rid)).json()
    assert RunDetails.model_validate(details).model_dump(mode="json", exclude={"history"}) == {
        k: v for k, v in details.items() if k != "history"}
    assert isinstance(details["started_at"], int) and isinstance(details["history"], list)
    assert all(isinstance(e["event_time"], int) for e in details["history"])
    [signalled] = [e for e in details["history"] if e["event_type"] == "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED"]
    assert signalled["signal"] == {"name": "UserInput", "input": [{"message": "seed"}]}
    client_details = plain.get(run_path(wid, rid), headers=CLIENT).json()
    assert ClientRunDetails.model_validate(client_details).model_dump(mode="json") == client_details
    assert [e["event_id"] for e in client_details["history"]["events"]] == [e["event_id"] for e in details["history"]]

    plain.post(f"{run_path(wid, rid)}/actions/cancel")
    with plain.stream("GET", f"{run_path(wid, rid)}/stream") as seed_stream:
        seed_frames = sse_data(seed_stream.read().decode())
    assert [(f["type"], f["message"]) for f in seed_frames] == [
        ("ANSWER", "echo: seed"), ("question", "numeric"), ("WORKFLOW_CLOSED", "Workflow run CANCELED")]
    with plain.stream("GET", f"{run_path(wid, rid)}/stream", headers=CLIENT) as client_stream:
        client_frames = sse_data(client_stream.read().decode())
    assert [(f["t"], f["m"]) for f in client_frames] == [
        (ANSWER, "echo: seed"), (QUESTION, "numeric"), (TERMINATED, "Workflow run CANCELED")]


@pytest.fixture(scope="module")
def known_run(gateway: Gateway) -> Iterator[tuple[str, str]]:
    with httpx.Client(base_url=gateway.url, headers=gateway.headers(), timeout=30) as client:
        wid, rid = a_conversation(client, "versions")
        yield wid, rid
        client.post(f"{run_path(wid, rid)}/actions/terminate")


@pytest.mark.parametrize(("version", "answer"), [
    ("20260803", "client"), ("19990101", "client"), ("20991231", "client"),
    (None, "seed"), ("garbage", 400), ("2026-08-03", 400), ("20261301", 400), ("20260230", 400), ("", 400),
    ("202608030", 400),
])
def test_x_api_version_is_a_date_or_a_400(plain: httpx.Client, known_run: tuple[str, str], version: str | None,
                                          answer: str | int) -> None:
    headers = {} if version is None else {"x-api-version": version}
    response = plain.get(run_path(*known_run), params={"include_history": "false"}, headers=headers)
    if answer == 400:
        body = assert_problem(response, 400, "invalid_request")
        assert "x-api-version" in body["detail"]
    else:
        assert response.status_code == 200, response.text
        started = response.json()["started_at"]
        assert isinstance(started, str if answer == "client" else int)


def test_a_malformed_version_is_a_400_on_every_runs_operation(plain: httpx.Client) -> None:
    wid, rid = a_conversation(plain, "garbage")
    bad = {"x-api-version": "v2"}
    for method, path in [("POST", f"{WORKFLOWS}/execute/ConversationWorkflow"), ("POST", f"{WORKFLOWS}/runs"),
                         ("POST", f"{WORKFLOWS}/conversations"), ("GET", run_path(wid, rid)),
                         ("POST", f"{run_path(wid, rid)}/signal/UserInput"),
                         ("GET", f"{run_path(wid, rid)}/query/get_turns"),
                         ("POST", f"{run_path(wid, rid)}/update/anything"),
                         ("GET", f"{run_path(wid, rid)}/updates"), ("GET", f"{run_path(wid, rid)}/stream"),
                         ("POST", f"{WORKFLOWS}/runs/{rid}/updates"),
                         ("POST", f"{run_path(wid, rid)}/actions/cancel"),
                         ("POST", f"{run_path(wid, rid)}/actions/terminate")]:
        response = plain.request(method, path, headers=bad, json={"message": "x"} if method == "POST" else None)
        assert_problem(response, 400, "invalid_request")
    assert plain.get(f"{run_path(wid, rid)}/query/get_turns").json() == 1  # nothing acted on the run
    plain.post(f"{run_path(wid, rid)}/actions/terminate")


def test_the_client_wire_refuses_what_it_cannot_honour_with_4xx(plain: httpx.Client) -> None:
    wid, rid = a_conversation(plain, "refusals")
    post = f"{WORKFLOWS}/runs/{rid}/updates"
    for body in ({"type": 15}, {"type": -1}, {"type": True}, {"type": 3.5}, {"type": ""}, {"details": "text"},
                 {"details": [1]}, {"workflow_run_id": "00000000-0000-0000-0000-000000000000"}, {"colour": "red"},
                 {"timestamp": -1}, {"timestamp": "now"}, {"message": 7}):
        assert_problem(plain.post(post, json=body, headers=CLIENT), 422, "invalid_request")
    assert plain.post(post, json={"workflow_run_id": rid.upper(), "type": "PROGRESS"}, headers=CLIENT).status_code == 201
    for body in ({"has_reported_errors": True}, {"activity_state": "idle"}, {"interactive": True}):
        assert_problem(plain.post(f"{WORKFLOWS}/runs", json=body, headers=CLIENT), 400, "invalid_request")
    assert_problem(plain.post(f"{WORKFLOWS}/runs", json={"page_size": 2.5}, headers=CLIENT), 422, "invalid_request")
    assert_problem(plain.get(run_path(wid, rid), params={"history_format": "tasks"}, headers=CLIENT),
                   400, "invalid_request")
    assert_problem(plain.get(run_path(wid, rid), params={"hydrate_payloads": "maybe"}, headers=CLIENT),
                   400, "invalid_request")
    # The npm client's listRuns sends its filters in camelCase.
    listed = plain.post(f"{WORKFLOWS}/runs", json={"documentId": "no-such-document"}, headers=CLIENT)
    assert listed.status_code == 200 and listed.json()["runs"] == []
    messages = plain.get(f"{run_path(wid, rid)}/updates", headers=CLIENT).json()["messages"]
    # A name is taken as seed 001 takes it (the clients read PROGRESS as UPDATE); no message, no `m`.
    assert [(m["t"], m.get("m")) for m in messages] == [(ANSWER, "echo: refusals"), (UPDATE, None)]
    plain.post(f"{run_path(wid, rid)}/actions/terminate")


def test_openapi_documents_the_version_header_and_both_wires(plain: httpx.Client) -> None:
    doc = plain.get("/openapi.json").json()
    documented = set()
    for methods in doc["paths"].values():
        for op in methods.values():
            for parameter in op.get("parameters", []):
                if parameter["name"] == "x-api-version":
                    assert parameter["in"] == "header" and parameter["schema"]["pattern"] == "^[0-9]{8}$"
                    documented.add(op["operationId"])
    assert documented == {"executeWorkflow", "listRuns", "listConversations", "getRunDetails", "cancelRun",
                          "terminateRun", "signalRun", "queryRun", "updateRun", "getRunUpdates",
                          "streamRunUpdates", "postRunUpdate"}
    schemas = doc["components"]["schemas"]
    for name, wires in (("RunDetailsAnyWire", {"RunDetails", "ClientRunDetails"}),
                        ("RunListAnyWire", {"RunList", "ClientRunList"}),
                        ("ListRunsAnyWire", {"ListRuns", "ClientListRuns"}),
                        ("UpdateMessagesAnyWire", {"UpdateMessages", "CompactMessages"}),
                        ("PostUpdateAnyWire", {"PostUpdate", "ClientPostUpdate"})):
        assert {ref["$ref"].rsplit("/", 1)[1] for ref in schemas[name]["anyOf"]} == wires


# -- a gateway whose runs API defaults to the client wire ------------------------------------------


@pytest.fixture(scope="module")
def client_wire_gateway(stack: Stack, gateway: Gateway, rsa_key: rsa.RSAPrivateKey) -> Iterator[Gateway]:
    """SIGNALWAY_RUNS_DEFAULT_API_VERSION set: a request without x-api-version (the npm client's
    EventSource) is answered in the client wire too (the session's worker runs the runs)."""
    launched = launch_gateway(stack, free_port(), rsa_key, name="client-wire-gateway",
                              SIGNALWAY_RUNS_DEFAULT_API_VERSION=CLIENT_API_VERSION)
    yield launched
    launched.process.stop()


async def test_the_npm_clients_stream_ends_when_the_run_completes(node: str, client_wire_gateway: Gateway) -> None:
    seen = await run_node(node, "stream_to_close.mjs", client_wire_gateway, within=90)
    # The workflow's own answers keep their type (ANSWER, published in capitals by the worker),
    # and the run's close is the client wire's COMPLETE, which ends streamMessages by itself.
    kinds = [(m["type"], m["message"]) for m in seen["streamed"]]
    assert kinds[:2] == [(ANSWER, "echo: hello"), (ANSWER, "echo: bye")], kinds
    assert kinds[-1][0] == COMPLETE and seen["result"] is None


def test_the_default_version_applies_only_without_the_header(client_wire_gateway: Gateway,
                                                            known_run: tuple[str, str]) -> None:
    wid, rid = known_run
    with httpx.Client(base_url=client_wire_gateway.url, headers=client_wire_gateway.headers(), timeout=30) as http:
        headerless = http.get(f"{run_path(wid, rid)}/updates")
        assert headerless.status_code == 200, headerless.text
        messages = CompactMessages.model_validate(headerless.json()).messages
        assert messages and all(m.t == ANSWER for m in messages)  # the client wire: numeric types
        bad = http.get(f"{run_path(wid, rid)}/updates", headers={"x-api-version": "v2"})
        assert_problem(bad, 400, "invalid_request")
