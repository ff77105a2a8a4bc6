"""The TypeScript example (examples/typescript) behind Signalway, against real processes.

Its worker (`node lib/worker.js`, the official Temporal TypeScript SDK pinned in its lock file,
installed by scripts/ensure-ts-example) polls a task queue of its own; Signalway's own worker
(the session's) serves the step activities on `signalway`; a gateway whose workflow catalog
lists the TypeScript type with its queue starts it. The workflow publishes progress, waits on a
resume URL and on an event trigger, and answers a signal and a query: driven here through the
durable surface and through the runs surface, the way a team's client would.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from signalway.localstack import ManagedProcess, free_port
from tests.helpers.gateway import Gateway, launch_gateway
from tests.helpers.http import (
    DURABLE,
    WORKFLOWS,
    assert_problem,
    execute,
    run_path,
    wait_run,
    wait_status,
)
from tests.helpers.polling import eventually
from tests.helpers.receiver import Receiver, serve_receiver
from tests.helpers.stack import Stack

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "typescript"
INSTALL = EXAMPLE.parents[1] / "scripts" / "ensure-ts-example"
TYPE = "typescriptReview"
EVENTS = "/v1/events"


def catalog(task_queue: str) -> dict[str, Any]:
    """The gateway's workflow catalog: the TypeScript type on its worker's queue, nothing else."""
    text = {"type": "string", "minLength": 1}
    return {TYPE: {
        "task_queue": task_queue,
        "description": "The TypeScript example: a review by resume URL, then an event",
        "input_schema": {"type": "object", "required": ["subject", "webhook_url", "event_key"],
                         "properties": {"subject": text, "webhook_url": text, "event_key": text,
                                        "timeout_secs": {"type": "number", "exclusiveMinimum": 0}},
                         "additionalProperties": False},
        "signals": {"note": {"type": "object", "required": ["text"], "properties": {"text": text},
                             "additionalProperties": False}},
        "queries": ["status"],
    }}


@pytest.fixture(scope="module")
def node() -> str:
    """Node.js and the example's pinned SDK, as scripts/ensure-ts-example installs them: missing is
    a failure, never a skip."""
    binary = shutil.which("node")
    assert binary, "node is not on PATH: run `make install` (scripts/ensure-ts-example)"
    assert (EXAMPLE / "node_modules" / "@temporalio" / "worker").is_dir(), (
        "the TypeScript example is not installed: run `make install` (scripts/ensure-ts-example)")
    return binary


def example_env(stack: Stack, queue: str) -> dict[str, str]:
    return {"TEMPORAL_ADDRESS": stack.temporal_address, "TEMPORAL_NAMESPACE": "default", "TASK_QUEUE": queue}


@pytest.fixture(scope="module")
async def ts_queue(node: str, stack: Stack, client: Client) -> AsyncIterator[str]:
    """The example's worker, compiled from the sources as they are, polling a queue of its own."""
    # Compiles lib/ again when a source is newer (installed packages are the fixture `node`'s check).
    compiled = await asyncio.to_thread(subprocess.run, ["bash", str(INSTALL)], capture_output=True, text=True,
                                       timeout=300)
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    queue = "typescript-example-" + uuid.uuid4().hex[:8]
    process = ManagedProcess("ts-worker", [node, "lib/worker.js"], cwd=EXAMPLE, env=example_env(stack, queue),
                             log_path=stack.data_dir / "ts-worker.log")

    async def polling() -> bool:
        assert process.running(), f"the TypeScript worker exited:\n{process.tail(40)}"
        described = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
            namespace="default", task_queue=TaskQueue(name=queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW))
        return bool(described.pollers)

    try:
        # It bundles its workflow code (webpack) before it polls: seconds, more on a busy machine.
        await eventually(polling, within=180, what="the TypeScript worker to poll its queue")
        yield queue
    finally:
        process.stop()


@pytest.fixture(scope="module")
def ts_gateway(stack: Stack, ts_queue: str, gateway: Gateway, rsa_key: rsa.RSAPrivateKey) -> Iterator[Gateway]:
    """A gateway with the TypeScript type in its catalog. (The session's `gateway` is where the
    session worker's resume URLs point: any gateway on the same Temporal and Redis resumes.)"""
    launched = launch_gateway(stack, free_port(), rsa_key, name="ts-gateway",
                              SIGNALWAY_WORKFLOWS=json.dumps(catalog(ts_queue)))
    yield launched
    launched.process.stop()


@pytest.fixture
async def ts_http(ts_gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=ts_gateway.url, timeout=30, headers=ts_gateway.headers()) as client:
        yield client


def review_input(receiver: Receiver) -> dict[str, str]:
    key = f"ts-review:{uuid.uuid4().hex[:10]}:shipped"
    return {"subject": "invoice 42", "webhook_url": receiver.url, "event_key": key}


async def progress(http: httpx.AsyncClient, wid: str, rid: str, message: str) -> list[dict[str, Any]]:
    """The run's progress updates (GET …/updates), once one of them says `message`."""
    async def probe() -> list[dict[str, Any]] | None:
        messages: list[dict[str, Any]] = (await http.get(f"{run_path(wid, rid)}/updates")).json()["messages"]
        return messages if any(m["message"] == message for m in messages) else None

    return await eventually(probe, within=30, what=f"the update {message!r}")


async def status(http: httpx.AsyncClient, wid: str, rid: str, stage: str) -> dict[str, Any]:
    """The run's answer to its `status` query, once it reports `stage`."""
    async def probe() -> dict[str, Any] | None:
        response = await http.get(f"{run_path(wid, rid)}/query/status")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body if body["stage"] == stage else None

    return await eventually(probe, within=30, what=f"the run to report stage {stage!r}")


async def resume(http: httpx.AsyncClient, receiver: Receiver, wid: str, rid: str) -> None:
    """Answer the run's resume URL as the webhook's receiver would."""
    delivery, _, _ = await receiver.next_payload()
    assert (delivery["workflow_id"], delivery["run_id"], delivery["step"]) == (wid, rid, "review")
    assert delivery["variables"] == {"decision": "string"}
    async with httpx.AsyncClient(timeout=30) as anyone:  # the URL is the credential
        resumed = await anyone.post(delivery["resume_workflow_url"], json={"variables": {"decision": "approved"}})
    assert resumed.status_code == 200, resumed.text
    await progress(http, wid, rid, "Reviewed: approved")


async def waiting_trigger(http: httpx.AsyncClient, event_key: str, rid: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        response = await http.get(f"{EVENTS}/{event_key}")
        body: dict[str, Any] = response.json()
        return body if response.status_code == 200 and body["status"] == "waiting" else None

    trigger = await eventually(probe, within=30, what=f"a trigger waiting for {event_key}")
    # Filed under the run's project (its SignalwayProject), where the caller's events API finds it.
    assert (trigger["project_id"], trigger["source_type"]) == ("alpha", "workflow_step")
    assert trigger["workflow_run_id"] == rid
    return trigger


async def resume_and_send(http: httpx.AsyncClient, receiver: Receiver, wid: str, rid: str,
                          event_key: str) -> None:
    """Answer the run's resume URL, then send the event it waits for."""
    await resume(http, receiver, wid, rid)
    await waiting_trigger(http, event_key, rid)
    sent = await http.post(f"{EVENTS}/{event_key}/send", json={"carrier": "dhl"})
    assert sent.status_code == 200 and sent.json()["status"] == "received", sent.text


def expected_result(notes: list[str]) -> dict[str, Any]:
    # `summary` comes from the team's own activity, on the TypeScript worker's queue.
    return {"stage": "done", "decision": "approved", "notes": notes, "event": {"carrier": "dhl"},
            "summary": f"invoice 42: approved ({'; '.join(notes)})"}


async def test_the_durable_surface_drives_a_typescript_run_through_both_waits(ts_http: httpx.AsyncClient) -> None:
    async with serve_receiver() as receiver:
        body = review_input(receiver)
        refused = await ts_http.post(DURABLE, json={"workflow_type": TYPE, "input": {**body, "event_key": ""}})
        assert "event_key" in assert_problem(refused, 422, "invalid_request")["detail"]

        created = await ts_http.post(DURABLE, json={"workflow_type": TYPE, "input": body})
        assert created.status_code == 201, created.text
        wid = created.json()["id"]
        [run] = (await ts_http.post(f"{WORKFLOWS}/runs", json={"query": f"WorkflowId = '{wid}'"})).json()["runs"]
        rid = run["run_id"]
        started = await progress(ts_http, wid, rid, "Review of invoice 42 started")
        assert started[0]["type"] == "PROGRESS" and started[0]["details"] == {"stage": "reviewing"}

        noted = await ts_http.post(f"{DURABLE}/{wid}/signal", json={"signal_type": "note", "payload": {"text": "ok"}})
        assert noted.status_code == 202, noted.text
        assert (await status(ts_http, wid, rid, "reviewing"))["notes"] == ["ok"]
        misspelt = await ts_http.post(f"{DURABLE}/{wid}/signal", json={"signal_type": "nte", "payload": {"text": "x"}})
        hints = [a["hint"] for a in assert_problem(misspelt, 422, "unknown_signal")["allowed_actions"]]
        assert "signal_type=note" in hints, hints

        await resume_and_send(ts_http, receiver, wid, rid, body["event_key"])
    done = await wait_status(ts_http, wid, "completed")
    assert done["result"] == expected_result(["ok"])
    events = (await ts_http.get(f"{DURABLE}/{wid}/events", params={"limit": 1000})).json()["data"]
    signals = [e["event_data"]["signal_name"] for e in events if e["event_type"] == "workflow_execution_signaled"]
    assert signals == ["note", "signalway_resume", "signalway_trigger"]


async def test_the_runs_surface_drives_a_typescript_run_through_both_waits(ts_http: httpx.AsyncClient) -> None:
    async with serve_receiver() as receiver:
        body = review_input(receiver)
        wid, rid = await execute(ts_http, TYPE, body)
        await progress(ts_http, wid, rid, "Review of invoice 42 started")
        signal = f"{run_path(wid, rid)}/signal"
        assert (await ts_http.post(f"{signal}/note", json={"text": "first"})).status_code == 200
        misspelt = assert_problem(await ts_http.post(f"{signal}/Note", json={"text": "x"}), 422, "unknown_signal")
        assert "note" in [a["hint"] for a in misspelt["allowed_actions"]], misspelt
        unknown = assert_problem(await ts_http.get(f"{run_path(wid, rid)}/query/stat"), 422, "unknown_query")
        assert "status" in [a["hint"] for a in unknown["allowed_actions"]], unknown
        assert (await status(ts_http, wid, rid, "reviewing"))["notes"] == ["first"]

        waits = (await ts_http.get(f"{run_path(wid, rid)}/waits")).json()
        assert waits["signals"] == ["note"], waits
        assert [(s["step"], s["variables"]) for s in waits["resume_urls"]] == [("review", {"decision": "string"})]
        # An operator moves the step's deadline: the run takes the `extend` and keeps waiting.
        extended = await ts_http.post(f"{run_path(wid, rid)}/resume-urls/review/extend", json={"seconds": 600})
        assert extended.status_code == 200 and extended.json()["deadline"] > waits["resume_urls"][0]["deadline"]

        await resume_and_send(ts_http, receiver, wid, rid, body["event_key"])
    run = await wait_run(ts_http, wid, rid, "COMPLETED")
    assert run["result"] == expected_result(["first"])
    assert [m["message"] for m in (await ts_http.get(f"{run_path(wid, rid)}/updates")).json()["messages"]] == [
        "Review of invoice 42 started", "Reviewed: approved", f"Event {body['event_key']} received"]


async def test_a_run_the_team_starts_with_its_own_client_is_served_by_its_search_attributes(
        node: str, stack: Stack, ts_queue: str, ts_gateway: Gateway, ts_http: httpx.AsyncClient) -> None:
    async with serve_receiver() as receiver:
        body = review_input(receiver)
        started = await asyncio.create_subprocess_exec(
            node, "lib/start.js", "alpha", json.dumps(body), cwd=EXAMPLE,
            env={**os.environ, **example_env(stack, ts_queue)},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(started.communicate(), timeout=60)
        assert started.returncode == 0, err.decode(errors="replace")
        ids = json.loads(out)
        wid, rid = ids["workflow_id"], ids["run_id"]
        await receiver.next_payload()  # its resume step is open: the run is under way

    run = (await ts_http.get(run_path(wid, rid), params={"include_history": "false"})).json()
    assert (run["type"], run["status"], run["input"]) == (TYPE, "RUNNING", body)
    assert (await status(ts_http, wid, rid, "reviewing"))["notes"] == []
    listed = await ts_http.post(f"{WORKFLOWS}/runs", json={"query": f"WorkflowId = '{wid}'"})
    assert [r["run_id"] for r in listed.json()["runs"]] == [rid]
    # Its project is the one it carries: another project's caller finds nothing.
    other = ts_gateway.headers(project="beta")
    assert_problem(await ts_http.get(run_path(wid, rid), headers=other), 404, "workflow_not_found")
    assert (await ts_http.post(f"{run_path(wid, rid)}/actions/terminate")).status_code == 200


async def test_the_waits_end_when_their_time_is_up_and_when_the_run_is_cancelled(ts_http: httpx.AsyncClient) -> None:
    async with serve_receiver() as receiver:
        # Nobody answers, nothing is sent: each wait ends at its deadline (the workflow goes on).
        timed: dict[str, Any] = {**review_input(receiver), "timeout_secs": 2}
        wid, rid = await execute(ts_http, TYPE, timed)
        run = await wait_run(ts_http, wid, rid, "COMPLETED", params={"include_history": "false"})
        assert (run["result"]["decision"], run["result"]["event"]) == ("no answer", None)
        assert (await ts_http.get(f"{EVENTS}/{timed['event_key']}")).json()["status"] == "timed_out"
        [step] = (await ts_http.get(f"{run_path(wid, rid)}/resume-urls")).json()["data"]
        assert (step["step"], step["state"]) == ("review", "expired")

    async with serve_receiver() as receiver:
        # Cancelled while it waits for its event: the trigger is cancelled with it.
        body = review_input(receiver)
        wid, rid = await execute(ts_http, TYPE, body)
        await resume(ts_http, receiver, wid, rid)
        await waiting_trigger(ts_http, body["event_key"], rid)
        assert (await ts_http.post(f"{run_path(wid, rid)}/actions/cancel")).status_code == 200
        await wait_run(ts_http, wid, rid, "CANCELED", params={"include_history": "false"})
        trigger = (await ts_http.get(f"{EVENTS}/{body['event_key']}")).json()
        assert (trigger["status"], trigger["error"]) == ("canceled", "workflow canceled")
