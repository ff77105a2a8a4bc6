"""A team's own workflows behind Signalway: a package outside the repository, literally named
`workflows`, installed beside Signalway's wheel in the team's own virtual environment, with its own
worker process on its own task queue through `SignalwayPlugin`, driven over both surfaces (durable
and runs) and by a run the team started with its own client."""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from temporalio.client import Client

import signalway
from signalway.localstack import ManagedProcess, free_port
from signalway.workflow import search_attributes
from tests.helpers.gateway import WEBHOOK_SECRET, Gateway, launch_gateway
from tests.helpers.http import DURABLE, create, execute, run_path, wait_run, wait_status
from tests.helpers.installed import Venv, installed_venv
from tests.helpers.polling import eventually
from tests.helpers.receiver import Receiver, serve_receiver
from tests.helpers.stack import Stack

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
TASK_QUEUE = "team-orders"
EVENTS = "/v1/events"
CATALOG = {"TeamOrder": {
    "task_queue": TASK_QUEUE,
    "input_schema": {"type": "object", "required": ["order_id", "webhook_url"], "additionalProperties": False,
                     "properties": {"order_id": {"type": "string", "minLength": 1},
                                    "webhook_url": {"type": "string"}}},
    "signals": {"note": {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}},
    "queries": ["state"],
    "description": "A team's order: approval by webhook, then payment by event.",
}}


@pytest.fixture(scope="module")
def team_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The team's project: its package `workflows` (installed into its venv) and its worker script."""
    root = tmp_path_factory.mktemp("team-project")
    (root / "workflows").mkdir()
    shutil.copy(HERE / "team" / "team_workflows.py", root / "workflows" / "__init__.py")
    (root / "run").mkdir()  # the worker script away from the source, so the installed package is used
    shutil.copy(HERE / "team" / "team_worker.py", root / "run" / "team_worker.py")
    (root / "pyproject.toml").write_text(
        '[project]\nname = "team-orders"\nversion = "1.0"\n'
        '[build-system]\nrequires = ["setuptools>=77"]\nbuild-backend = "setuptools.build_meta"\n'
        '[tool.setuptools]\npackages = ["workflows"]\n')
    return root


@pytest.fixture(scope="module")
def team_venv(tmp_path_factory: pytest.TempPathFactory, signalway_wheel: Path, team_dir: Path) -> Venv:
    """The team's own virtual environment: Signalway from its wheel (no `local` extra: a worker
    needs no dev server), then the team's package `workflows` installed beside it."""
    venv = installed_venv(tmp_path_factory.mktemp("team-venv") / "venv", signalway_wheel, extras="")
    venv.pip_install(str(team_dir))
    return venv


@pytest.fixture(scope="module")
def team_gateway(stack: Stack, rsa_key: rsa.RSAPrivateKey) -> Iterator[Gateway]:
    gateway = launch_gateway(stack, free_port(), rsa_key, name="team-gateway",
                             SIGNALWAY_WORKFLOWS=json.dumps(CATALOG))
    yield gateway
    gateway.process.stop()


@pytest.fixture(scope="module")
def team_worker(stack: Stack, team_dir: Path, team_venv: Venv, team_gateway: Gateway) -> Iterator[ManagedProcess]:
    env = {"TEAM_TEMPORAL_ADDRESS": stack.temporal_address, "TEAM_TASK_QUEUE": TASK_QUEUE,
           # The plugin's settings, as `signalway worker` reads them.
           "SIGNALWAY_REDIS_URL": stack.redis_url, "SIGNALWAY_PUBLIC_URL": team_gateway.url,
           "SIGNALWAY_RESUME_SECRET": "team-resume-secret-" + uuid.uuid4().hex,
           "SIGNALWAY_WEBHOOK_SECRET": WEBHOOK_SECRET, "SIGNALWAY_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32",
           # Its sys.path: the team's folder (the script's), and the installed packages; not the repository.
           "PYTHONPATH": ""}
    process = ManagedProcess("team-worker", [str(team_venv.python), str(team_dir / "run" / "team_worker.py")], env=env,
                             cwd=team_dir / "run", log_path=stack.data_dir / "team-worker.log")

    def polling() -> str | None:
        if not process.running():
            raise AssertionError(f"the team's worker exited:\n{process.tail(40)}")
        text = process.log_path.read_text()[process.log_offset:]
        return text if "team worker polling" in text else None

    try:
        asyncio.run(eventually(_sync(polling), within=60, what="the team's worker to poll"))
        yield process
    finally:
        process.stop()


def _sync(probe: Any) -> Any:
    async def run() -> Any:
        return probe()
    return run


@pytest.fixture
async def team_http(team_gateway: Gateway, team_worker: ManagedProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=team_gateway.url, timeout=30, headers=team_gateway.headers()) as client:
        yield client


def test_the_teams_worker_runs_its_own_workflows_package(team_worker: ManagedProcess, team_venv: Venv) -> None:
    line = next(ln for ln in team_worker.log_path.read_text().splitlines() if "team worker polling" in ln)
    # Its `workflows` is the team's, installed in its own venv beside Signalway's wheel.
    origin = line.split("workflows from ", 1)[1].split(";", 1)[0]
    assert origin.startswith(str(team_venv.path)) and origin.endswith("site-packages/workflows/__init__.py"), line
    assert f"'{ROOT}'" not in line.split("sys.path", 1)[1]  # not the repository's `workflows`


async def _resume_url(receiver: Receiver) -> str:
    payload, _, _ = await receiver.next_payload()
    assert payload["step"] == "approve" and payload["variables"] == {"approved": "boolean"}
    return str(payload["resume_workflow_url"])


def _resume(url: str, variables: dict[str, Any]) -> dict[str, Any]:
    with signalway.Client() as client:
        return client.resume_workflow(url, variables)


async def _trigger_waits(http: httpx.AsyncClient, key: str) -> dict[str, Any]:
    async def waiting() -> dict[str, Any] | None:
        response = await http.get(f"{EVENTS}/{key}")
        return response.json() if response.status_code == 200 and response.json()["status"] == "waiting" else None

    return await eventually(waiting, what=f"the trigger {key} to wait")


async def test_durable_surface_start_signal_resume_event_and_read(team_http: httpx.AsyncClient) -> None:
    order = f"d-{uuid.uuid4().hex[:8]}"
    async with serve_receiver() as receiver:
        wf = await create(team_http, "TeamOrder", {"order_id": order, "webhook_url": receiver.url})
        url = await _resume_url(receiver)
    sent = await team_http.post(f"{DURABLE}/{wf['id']}/signal", json={"signal_type": "note",
                                                                       "payload": {"text": "gift wrap"}})
    assert sent.status_code == 202, sent.text
    misspelt = await team_http.post(f"{DURABLE}/{wf['id']}/signal", json={"signal_type": "note_", "payload": {}})
    assert misspelt.status_code == 422 and "note" in misspelt.text
    answer = await asyncio.to_thread(_resume, url, {"approved": True})
    assert answer["status"] == "success"
    trigger = await _trigger_waits(team_http, f"team:{order}:paid")
    assert trigger["project_id"] == "alpha" and trigger["source_type"] == "workflow_step"
    assert (await team_http.post(f"{EVENTS}/team:{order}:paid/send", json={"amount": 5})).status_code == 200

    done = await wait_status(team_http, wf["id"], "completed")
    assert done["result"] == {"approved": True, "paid": {"amount": 5}, "notes": ["gift wrap"]}
    events = (await team_http.get(f"{DURABLE}/{wf['id']}/events", params={"limit": 1000})).json()["data"]
    signals = [e["event_data"]["signal_name"] for e in events if e["event_type"] == "workflow_execution_signaled"]
    assert signals == ["note", "signalway_resume", "signalway_trigger"]
    activities = [e["event_data"]["activity_type"]["name"] for e in events
                  if e["event_type"] == "activity_task_scheduled"]
    assert activities == ["publishUpdate", "openResumeStep", "deliverWebhook", "registerTrigger", "publishUpdate"]


async def test_runs_surface_start_signal_query_resume_cancel_and_history(team_http: httpx.AsyncClient) -> None:
    order = f"r-{uuid.uuid4().hex[:8]}"
    async with serve_receiver() as receiver:
        wid, rid = await execute(team_http, "TeamOrder", {"order_id": order, "webhook_url": receiver.url})
        url = await _resume_url(receiver)
    assert (await team_http.post(f"{run_path(wid, rid)}/signal/note", json={"text": "leave at door"})).status_code \
        in (200, 202)
    await asyncio.to_thread(_resume, url, {"approved": False})
    key = f"team:{order}:paid"
    await _trigger_waits(team_http, key)

    async def waiting_for_payment() -> dict[str, Any] | None:
        response = await team_http.get(f"{run_path(wid, rid)}/query/state")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        state = body.get("result", body)
        return state if state["state"] == "waiting for payment" else None

    state = await eventually(waiting_for_payment, what="the run to wait for its payment")
    assert state["notes"] == ["leave at door"]
    updates = (await team_http.get(f"{run_path(wid, rid)}/updates", params={"since": 0})).json()["messages"]
    assert [(m["type"], m["message"]) for m in updates] == [("PROGRESS", "order received")]

    cancelled = await team_http.post(f"{run_path(wid, rid)}/actions/cancel")
    assert cancelled.status_code in (200, 202), cancelled.text
    run = await wait_run(team_http, wid, rid, "CANCELED")
    scheduled = [e for e in run["history"] if e["event_type"] == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"]
    assert len(scheduled) == 5  # publish, open, deliver, register, then settle (cancelled)

    async def trigger_canceled() -> bool:
        return (await team_http.get(f"{EVENTS}/{key}")).json()["status"] == "canceled"

    await eventually(trigger_canceled, what="the trigger to be cancelled with its run")


async def test_a_run_started_with_the_teams_own_client_is_served(
        team_http: httpx.AsyncClient, stack: Stack) -> None:
    client = await Client.connect(stack.temporal_address)
    order = f"c-{uuid.uuid4().hex[:8]}"
    workflow_id = str(uuid.uuid4())  # the durable surface addresses runs by a UUID
    async with serve_receiver() as receiver:
        handle = await client.start_workflow("TeamOrder", {"order_id": order, "webhook_url": receiver.url}, id=workflow_id,
                                    task_queue=TASK_QUEUE,
                                    search_attributes=search_attributes(project="alpha", user="alice"))
        url = await _resume_url(receiver)
    await asyncio.to_thread(_resume, url, {"approved": True})
    trigger = await _trigger_waits(team_http, f"team:{order}:paid")  # filed under the run's project
    assert trigger["project_id"] == "alpha" and trigger["workflow_run_id"] == handle.first_execution_run_id
    response = await team_http.get(f"{DURABLE}/{workflow_id}")
    assert response.status_code == 200, response.text
    details = response.json()
    assert details["workflow_type"] == "TeamOrder" and details["status"] == "running"
    assert (await team_http.post(f"{DURABLE}/{workflow_id}/cancel")).status_code == 202
    await wait_status(team_http, workflow_id, "cancelled")
