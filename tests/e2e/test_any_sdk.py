"""A team's own workflows behind the gateway, as another SDK writes them: catalog entries on
their own task queue, input and signal payloads checked against the catalog's schemas, handler
metadata answered as `json/plain` (by a Python worker whose converter writes what the TypeScript
SDK writes; a real TypeScript-SDK worker is tests/e2e/test_typescript_example.py), payloads in an
encoding the gateway cannot decode, and a run with a cancelled activity read with its history."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client
from temporalio.common import RawValue, SearchAttributePair, TypedSearchAttributes
from temporalio.converter import (
    BinaryNullPayloadConverter,
    CompositePayloadConverter,
    DataConverter,
    EncodingPayloadConverter,
)
from temporalio.exceptions import ActivityError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from signalway import search_attributes as sa
from signalway.localstack import free_port
from tests.helpers.gateway import Gateway, launch_gateway
from tests.helpers.http import DURABLE, WORKFLOWS, assert_problem, run_path
from tests.helpers.polling import eventually
from tests.helpers.stack import Stack

TASK_QUEUE = f"team-{uuid.uuid4().hex[:8]}"
OLD_SDK_QUEUE = f"old-sdk-{uuid.uuid4().hex[:8]}"


class PlainJson(EncodingPayloadConverter):
    """Every value, protobuf messages too, as `json/plain`: what the TypeScript SDK answers the
    metadata query with (a plain object of the message's shape, camelCase keys)."""

    @property
    def encoding(self) -> str:
        return "json/plain"

    def to_payload(self, value: Any) -> Payload | None:
        if isinstance(value, Message):
            value = MessageToDict(value)
        return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(value).encode())

    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        return json.loads(payload.data)


class PlainJsonConverter(CompositePayloadConverter):
    def __init__(self) -> None:
        super().__init__(BinaryNullPayloadConverter(), PlainJson())


class NoMetadata(PlainJson):
    """An SDK without the metadata query: asking for it fails on the worker."""

    def to_payload(self, value: Any) -> Payload | None:
        if isinstance(value, Message):
            raise RuntimeError("unknown queryType __temporal_workflow_metadata")
        return super().to_payload(value)


class NoMetadataConverter(CompositePayloadConverter):
    def __init__(self) -> None:
        super().__init__(BinaryNullPayloadConverter(), NoMetadata())


@workflow.defn(name="PlainJsonSdkWorkflow")
class PlainJsonSdkWorkflow:
    def __init__(self) -> None:
        self.approved_by: str | None = None

    @workflow.run
    async def run(self, order: dict[str, Any]) -> dict[str, Any]:
        await workflow.wait_condition(lambda: self.approved_by is not None)
        return {"order_id": order["order_id"], "approved_by": self.approved_by}

    @workflow.signal
    def approve(self, body: dict[str, Any]) -> None:
        self.approved_by = body["by"]

    @workflow.query
    def status(self) -> str:
        return "approved" if self.approved_by else "waiting"


@workflow.defn(name="OldSdkWorkflow")
class OldSdkWorkflow(PlainJsonSdkWorkflow):
    @workflow.run
    async def run(self, order: dict[str, Any]) -> dict[str, Any]:
        return await super().run(order)


@activity.defn(name="waitUntilCancelled")
async def wait_until_cancelled() -> None:
    while True:
        activity.heartbeat()
        await asyncio.sleep(0.2)


@workflow.defn(name="CancelsItsActivity")
class CancelsItsActivity:
    def __init__(self) -> None:
        self.stop = False

    @workflow.run
    async def run(self) -> str:
        handle = workflow.start_activity(
            wait_until_cancelled, start_to_close_timeout=timedelta(minutes=5), heartbeat_timeout=timedelta(seconds=5),
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED)
        await workflow.wait_condition(lambda: self.stop)
        handle.cancel()
        try:
            await handle
        except ActivityError:
            pass
        return "stopped"

    @workflow.signal
    def halt(self) -> None:
        self.stop = True


CATALOG = {
    "include_examples": True,
    "PlainJsonSdkWorkflow": {
        "task_queue": TASK_QUEUE,
        "input_schema": {"type": "object", "required": ["order_id"], "additionalProperties": False,
                         "properties": {"order_id": {"type": "string", "minLength": 1}}},
        "signals": {"approve": {"type": "object", "required": ["by"], "properties": {"by": {"type": "string"}}}},
        "queries": ["status"],
    },
    "CancelsItsActivity": {"task_queue": TASK_QUEUE},
    "OldSdkWorkflow": {"task_queue": OLD_SDK_QUEUE},
}


@dataclass(frozen=True)
class Team:
    gateway: Gateway
    client: Client  # the team's own client: json/plain payloads


@pytest.fixture(scope="module")
def team_gateway(stack: Stack, rsa_key: rsa.RSAPrivateKey) -> Iterator[Gateway]:
    gateway = launch_gateway(stack, free_port(), rsa_key, name="team-gateway",
                             SIGNALWAY_WORKFLOWS=json.dumps(CATALOG), SIGNALWAY_QUERY_TIMEOUT_SECONDS="3",
                             SIGNALWAY_UNATTRIBUTED_RUNS_PROJECT="outside")
    yield gateway
    gateway.process.stop()


@pytest.fixture(scope="module")
async def team(stack: Stack, team_gateway: Gateway) -> AsyncIterator[Team]:
    client = await Client.connect(stack.temporal_address,
                                  data_converter=DataConverter(payload_converter_class=PlainJsonConverter))
    old = await Client.connect(stack.temporal_address,
                               data_converter=DataConverter(payload_converter_class=NoMetadataConverter))
    async with Worker(client, task_queue=TASK_QUEUE, workflows=[PlainJsonSdkWorkflow, CancelsItsActivity],
                      activities=[wait_until_cancelled], workflow_runner=UnsandboxedWorkflowRunner()), \
            Worker(old, task_queue=OLD_SDK_QUEUE, workflows=[OldSdkWorkflow],
                   workflow_runner=UnsandboxedWorkflowRunner()):
        yield Team(team_gateway, client)


@pytest.fixture
async def api(team: Team) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=team.gateway.url, timeout=30, headers=team.gateway.headers()) as http:
        yield http


async def test_a_team_type_is_checked_against_its_schema_and_started_on_its_own_queue(
        api: httpx.AsyncClient, team: Team) -> None:
    missing = assert_problem(await api.post(DURABLE, json={"workflow_type": "PlainJsonSdkWorkflow", "input": {}}),
                             422, "invalid_request")
    assert missing["errors"][0]["loc"] == ["order_id"] and "order_id" in missing["detail"]
    extra = await api.post(f"{WORKFLOWS}/execute/PlainJsonSdkWorkflow", json={"vars": {"order_id": "o", "x": 1}})
    assert assert_problem(extra, 422, "invalid_request")["errors"][0]["loc"] == ["x"]
    created = await api.post(DURABLE, json={"workflow_type": "PlainJsonSdkWorkflow", "input": {"order_id": "o-1"}})
    assert created.status_code == 201, created.text
    desc = await team.client.get_workflow_handle(created.json()["id"]).describe()
    assert desc.task_queue == TASK_QUEUE
    # The shipped examples are still there (include_examples), on Signalway's own queue.
    unknown = assert_problem(await api.post(DURABLE, json={"workflow_type": "Nope", "input": {}}),
                             422, "unknown_workflow_type")
    assert {"ApprovalWorkflow", "PlainJsonSdkWorkflow", "CancelsItsActivity"} <= {
        a["hint"] for a in unknown["allowed_actions"]}
    await api.post(f"{DURABLE}/{created.json()['id']}/terminate", json={})


async def test_a_run_answering_json_plain_metadata_is_signalled_and_queried(api: httpx.AsyncClient,
                                                                             team: Team) -> None:
    response = await api.post(f"{WORKFLOWS}/execute/PlainJsonSdkWorkflow", json={"vars": {"order_id": "o-2"}})
    assert response.status_code == 200, response.text
    [started] = response.json()
    wid, rid = started["workflow_id"], started["run_id"]
    # What the run answers really is json/plain, as from the TypeScript SDK.
    raw = await team.client.get_workflow_handle(wid).query("__temporal_workflow_metadata", result_type=RawValue)
    assert raw.payload.metadata["encoding"] == b"json/plain"
    assert "signalDefinitions" in json.loads(raw.payload.data)["definition"]

    misspelt = assert_problem(await api.post(f"{run_path(wid, rid)}/signal/aprove", json={"by": "me"}),
                              422, "unknown_signal")
    assert "approve" in misspelt["detail"]
    bad = assert_problem(await api.post(f"{run_path(wid, rid)}/signal/approve", json={"who": "me"}),
                         422, "invalid_request")
    assert bad["errors"][0]["loc"] == ["by"]
    assert (await api.get(f"{run_path(wid, rid)}/query/status")).json() == "waiting"
    waits = await api.get(f"{run_path(wid, rid)}/waits")
    assert waits.status_code == 200 and waits.json()["signals"] == ["approve"], waits.text
    signalled = await api.post(f"{run_path(wid, rid)}/signal/approve", json={"by": "me"})
    assert signalled.status_code < 300, signalled.text

    async def completed() -> dict[str, Any] | None:
        run: dict[str, Any] = (await api.get(run_path(wid, rid))).json()
        return run if run["status"] == "COMPLETED" else None

    run = await eventually(completed, what="the json/plain run to complete")
    assert run["result"] == {"order_id": "o-2", "approved_by": "me"}


async def test_a_run_with_a_cancelled_activity_is_read_with_its_history(api: httpx.AsyncClient,
                                                                         team: Team) -> None:
    response = await api.post(f"{WORKFLOWS}/execute/CancelsItsActivity", json={"vars": None})
    assert response.status_code == 200, response.text
    [started] = response.json()
    wid, rid = started["workflow_id"], started["run_id"]
    handle = team.client.get_workflow_handle(wid, run_id=rid)

    async def activity_running() -> bool | None:
        pending = (await handle.describe()).raw_description.pending_activities
        return True if pending and pending[0].state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED else None

    await eventually(activity_running, what="the activity to start")
    assert (await api.post(f"{run_path(wid, rid)}/signal/halt")).status_code < 300
    assert await handle.result() == "stopped"
    run = await api.get(run_path(wid, rid))
    assert run.status_code == 200, run.text
    [cancelled] = [e for e in run.json()["history"] if e["event_type"] == "EVENT_TYPE_ACTIVITY_TASK_CANCELED"]
    assert cancelled["activity"]["name"] == "waitUntilCancelled"
    events = await api.get(f"{DURABLE}/{wid}/events", params={"limit": 1000})
    assert events.status_code == 200, events.text
    assert "activity_task_canceled" in {e["event_type"] for e in events.json()["data"]}


async def test_payloads_the_gateway_cannot_decode_are_shown_as_they_are(api: httpx.AsyncClient,
                                                                         team: Team) -> None:
    # A run started elsewhere, its input encrypted by a codec the gateway lacks; nobody polls.
    sealed = Payload(metadata={"encoding": b"binary/encrypted", "encryption-key-id": b"k1"}, data=b"\x00\x01sealed")
    handle = await team.client.start_workflow(
        "SealedWorkflow", RawValue(sealed), id=str(uuid.uuid4()), task_queue=f"nobody-{uuid.uuid4()}",
        search_attributes=TypedSearchAttributes([SearchAttributePair(sa.PROJECT, "alpha"),
                                                 SearchAttributePair(sa.VISIBILITY, "project")]))
    shown = {"encoding": "binary/encrypted", "data_base64": base64.b64encode(b"\x00\x01sealed").decode(),
             "metadata": {"encryption-key-id": "k1"}}
    run = await api.get(run_path(handle.id, handle.result_run_id or ""))
    assert run.status_code == 200, run.text
    assert run.json()["history"][0]["input"] == [shown]
    durable = await api.get(f"{DURABLE}/{handle.id}/events", params={"limit": 10})
    assert durable.status_code == 200, durable.text
    assert durable.json()["data"][0]["event_data"]["input"] == shown
    await handle.terminate("done")


async def test_runs_started_without_signalways_attributes_belong_to_the_operators_project(
        team: Team, gateway: Gateway) -> None:
    # Started by the team's own client: no SignalwayProject, no SignalwayVisibility.
    handle = await team.client.start_workflow("PlainJsonSdkWorkflow", {"order_id": "elsewhere"},
                                              id=str(uuid.uuid4()), task_queue=TASK_QUEUE)
    rid = handle.result_run_id or ""
    path = run_path(handle.id, rid)
    outside = team.gateway.headers(project="outside", user="ops")
    async with httpx.AsyncClient(base_url=team.gateway.url, timeout=30) as api:
        assert (await api.get(path, headers=outside)).status_code == 200
        # Served to that project only: the access rules decide as for any of its runs.
        assert_problem(await api.get(path, headers=team.gateway.headers(project="alpha")), 404, "workflow_not_found")

        async def listed() -> bool | None:
            body = (await api.get(DURABLE, headers=outside, params={"limit": 100})).json()
            return True if handle.id in {w["id"] for w in body["data"]} else None

        await eventually(listed, what="the run in the project's list")
        assert (await api.post(f"{path}/signal/approve", json={"by": "ops"}, headers=outside)).status_code < 300
    assert (await handle.result())["approved_by"] == "ops"
    # Off (the default): nobody is served such a run.
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as api:
        assert_problem(await api.get(path, headers=gateway.headers(project="outside")), 404, "workflow_not_found")


async def test_a_run_whose_sdk_does_not_describe_its_handlers_is_served_unchecked(
        api: httpx.AsyncClient, team: Team) -> None:
    response = await api.post(f"{WORKFLOWS}/execute/OldSdkWorkflow", json={"vars": {"order_id": "old-1"}})
    assert response.status_code == 200, response.text
    [started] = response.json()
    wid, rid = started["workflow_id"], started["run_id"]
    waits = await api.get(f"{run_path(wid, rid)}/waits")
    assert waits.status_code == 200, waits.text
    assert waits.json()["signals"] == [] and "does not describe its handlers" in waits.json()["signals_unknown"]
    # Any name is sent as given: Temporal records it and the run's SDK deals with it.
    assert (await api.post(f"{run_path(wid, rid)}/signal/whatever", json={})).status_code < 300
    assert (await api.get(f"{run_path(wid, rid)}/query/status")).json() == "waiting"
    assert (await api.post(f"{run_path(wid, rid)}/signal/approve", json={"by": "old"})).status_code < 300
    result = await team.client.get_workflow_handle(wid).result()
    assert result == {"order_id": "old-1", "approved_by": "old"}
