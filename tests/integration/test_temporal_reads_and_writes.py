"""What the gateway asks of Temporal: a durable signal sends without a describe before it,
and a closed run's history is read once; with every promise of the signal kept (closed →
409, unknown name → 422, a private run hidden, a continued-as-new run signalled in its new
run). The calls are counted from the gateway's own /metrics."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from temporalio import workflow
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from signalway import search_attributes as sa
from signalway.tokens import SUPERADMIN, mint
from tests.helpers.http import (
    DURABLE,
    assert_problem,
    create,
    execute,
    run_path,
    wait_run,
    wait_status,
)
from tests.helpers.in_process import PROJECT, SECRET, bearer
from tests.helpers.polling import eventually


@workflow.defn(name="RollingNotes")
class RollingNotes:
    """Keeps the notes it is signalled; `roll` continues it as new, `done` ends it."""

    def __init__(self) -> None:
        self._notes: list[str] = []
        self._next: str | None = None

    @workflow.run
    async def run(self, notes: list[str]) -> list[str]:
        self._notes = list(notes) + self._notes
        await workflow.wait_condition(lambda: self._next is not None)
        if self._next == "roll":
            workflow.continue_as_new(self._notes)
        return self._notes

    @workflow.signal
    def note(self, body: dict[str, Any]) -> None:
        text = str(body["text"])
        self._notes.append(text)
        if text in ("roll", "done"):
            self._next = text


@pytest.fixture
async def rolling(client: Client) -> AsyncIterator[str]:
    """A worker for RollingNotes on a task queue of its own."""
    queue = f"rolling-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=[RollingNotes],
                      workflow_runner=UnsandboxedWorkflowRunner()):
        yield queue


@dataclass
class Calls:
    """Temporal calls the gateway made, by operation, from its /metrics."""

    counts: dict[str, float]

    def __sub__(self, other: Calls) -> dict[str, float]:
        return {k: v - other.counts.get(k, 0.0) for k, v in self.counts.items() if v != other.counts.get(k, 0.0)}


async def calls(http: httpx.AsyncClient) -> Calls:
    text = (await http.get("/metrics")).text
    found = re.findall(r'signalway_temporal_call_duration_seconds_count\{[^}]*operation="(\w+)"[^}]*\} ([0-9.e+]+)',
                       text)
    counts: dict[str, float] = {}
    for operation, value in found:
        counts[operation] = counts.get(operation, 0.0) + float(value)
    return Calls(counts)


async def test_a_durable_signal_describes_its_workflow_once_and_each_signal_is_one_call(
        http: httpx.AsyncClient) -> None:
    wf = await create(http, "ConversationWorkflow", {})
    first = await http.post(f"{DURABLE}/{wf['id']}/signal", json={"signal_type": "UserInput",
                                                                  "payload": {"message": "one"}})
    assert first.status_code == 202, first.text
    before = await calls(http)
    for n in range(5):
        sent = await http.post(f"{DURABLE}/{wf['id']}/signal", json={"signal_type": "UserInput",
                                                                     "payload": {"message": f"m{n}"}})
        assert sent.status_code == 202, sent.text
    assert await calls(http) - before == {"SignalWorkflow": 5}
    # The messages all reached the run, in order.
    await http.post(f"{DURABLE}/{wf['id']}/signal", json={"signal_type": "UserInput", "payload": {"message": "bye"}})
    assert (await wait_status(http, wf["id"], "completed"))["result"] == {"turns": 7}


async def test_remembered_workflows_keep_every_promise_of_the_signal(http: httpx.AsyncClient) -> None:
    # A private run whose facts the owner's signal made the gateway remember stays hidden.
    wid, rid = await execute(http, "ApprovalWorkflow", {"subject": "mine"}, visibility="private")
    ignored = await http.post(f"{DURABLE}/{wid}/signal", json={"signal_type": "nope"})
    assert_problem(ignored, 422, "unknown_signal")
    for _ in range(2):
        assert_problem(await http.post(f"{DURABLE}/{wid}/signal", json={"signal_type": "approve",
                                                                        "payload": {"approver": "bob"}},
                                       headers=bearer("bob")), 404, "workflow_not_found")
    # An unknown name on a remembered workflow: still 422, naming what it takes.
    unknown = assert_problem(await http.post(f"{DURABLE}/{wid}/signal", json={"signal_type": "aprove"}),
                             422, "unknown_signal")
    assert {a["hint"] for a in unknown["allowed_actions"]} == {"signal_type=approve", "signal_type=reject"}
    # The owner's signal, with its receipt.
    receipt = await http.post(f"{DURABLE}/{wid}/signal", json={"signal_type": "approve",
                                                               "payload": {"approver": "alice"}},
                              headers={"Prefer": "return=representation"})
    assert receipt.status_code == 202 and isinstance(receipt.json()["event_id"], int)
    run = await wait_run(http, wid, rid, "COMPLETED")
    assert run["result"]["approver"] == "alice"  # bob's signals never arrived
    # Closed: the signal itself finds out (409), for a known name and an unknown one alike.
    for name in ("approve", "whatever"):
        closed = assert_problem(await http.post(f"{DURABLE}/{wid}/signal", json={
            "signal_type": name, "payload": {"approver": "late"}}), 409, "workflow_closed")
        assert closed["allowed_actions"][0]["rel"] == "get-existing"
    admin = await http.post(f"{DURABLE}/{wid}/signal", json={"signal_type": "approve", "payload": {"approver": "x"}},
                            headers=bearer("root", SUPERADMIN))
    assert_problem(admin, 409, "workflow_closed")


async def test_a_workflow_that_continued_as_new_gets_durable_signals_in_its_new_run(
        http: httpx.AsyncClient, client: Client, rolling: str) -> None:
    attrs = TypedSearchAttributes([SearchAttributePair(sa.PROJECT, PROJECT),
                                   SearchAttributePair(sa.VISIBILITY, "project")])
    handle = await client.start_workflow("RollingNotes", [], id=str(uuid.uuid4()), task_queue=rolling,
                                         search_attributes=attrs)
    first_run = handle.result_run_id

    async def note(text: str) -> httpx.Response:
        return await http.post(f"{DURABLE}/{handle.id}/signal", json={"signal_type": "note",
                                                                      "payload": {"text": text}})

    assert (await note("a")).status_code == 202
    assert (await note("roll")).status_code == 202

    async def rolled() -> str | None:
        latest = (await client.get_workflow_handle(handle.id).describe()).run_id
        return latest if latest != first_run else None

    await eventually(rolled, what="the run to continue as new")
    for text in ("b", "done"):
        sent = await note(text)
        assert sent.status_code == 202, sent.text
    done = await wait_status(http, handle.id, "completed")
    assert done["result"] == ["a", "roll", "b", "done"]  # the new run got what was sent after the roll
    assert_problem(await note("late"), 409, "workflow_closed")
    assert_problem(await http.post(f"{DURABLE}/{uuid.uuid4()}/signal", json={"signal_type": "note"}),
                   404, "workflow_not_found")


async def test_a_closed_runs_history_is_read_from_temporal_once(http: httpx.AsyncClient) -> None:
    wf = await create(http, "StandardContentIngestion", {"documentId": "doc-c", "parts": 2})
    done = await wait_status(http, wf["id"], "completed")
    everything = await http.get(f"{DURABLE}/{wf['id']}/events", params={"limit": 1000})
    assert everything.status_code == 200
    events = everything.json()
    assert events["total"] == len(events["data"]) > 5
    assert [e["id"] for e in events["data"]] == list(range(1, events["total"] + 1))
    before = await calls(http)
    again = await http.get(f"{DURABLE}/{wf['id']}/events", params={"limit": 1000})
    page = await http.get(f"{DURABLE}/{wf['id']}/events", params={"limit": 3, "offset": 2})
    view = await http.get(f"{DURABLE}/{wf['id']}")
    assert again.json() == events
    assert page.json() == {"data": events["data"][2:5], "total": events["total"]}
    assert view.json() == done
    assert await calls(http) - before == {}  # not even a describe: the closed run is served from memory
    # Another user of the project sees the same; a caller of another project does not.
    other = await http.get(f"{DURABLE}/{wf['id']}/events", headers=bearer("bob"))
    assert other.status_code == 200 and other.json()["total"] == events["total"]
    stranger = {"Authorization": f"Bearer {mint(SECRET, project='elsewhere', user='eve')}"}
    for path in (f"{DURABLE}/{wf['id']}/events", f"{DURABLE}/{wf['id']}"):
        assert_problem(await http.get(path, headers=stranger), 404, "workflow_not_found")


async def test_a_closed_private_runs_details_are_kept_and_still_hidden(http: httpx.AsyncClient) -> None:
    wid, rid = await execute(http, "ApprovalWorkflow", {"subject": "closing"}, visibility="private")
    await http.post(f"{run_path(wid, rid)}/signal/approve", json={"approver": "carol"})
    first = await wait_run(http, wid, rid, "COMPLETED")
    before = await calls(http)
    again = (await http.get(run_path(wid, rid))).json()
    assert again == first
    assert await calls(http) - before == {}
    assert_problem(await http.get(run_path(wid, rid), headers=bearer("bob")), 404, "workflow_not_found")
    admin = await http.get(run_path(wid, rid), headers=bearer("root", SUPERADMIN))
    assert admin.status_code == 200 and admin.json() == first
