"""Workers as separate processes: several share one task queue, and one leaving loses nothing."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from temporalio.api.enums.v1 import EventType, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from signalway.localstack import ManagedProcess, free_port
from signalway.updates import updates_key
from tests.helpers.gateway import Gateway, gateway_env
from tests.helpers.http import execute, wait_ready, wait_run
from tests.helpers.polling import eventually
from tests.helpers.stack import Stack

_QUEUE: list[str] = []


def _worker(stack: Stack, queue: str, name: str, tmp_path: Any) -> ManagedProcess:
    env = {"SIGNALWAY_TEMPORAL_ADDRESS": stack.temporal_address, "SIGNALWAY_REDIS_URL": stack.redis_url,
           "SIGNALWAY_TASK_QUEUE": queue, "SIGNALWAY_SHUTDOWN_GRACE_SECONDS": "1"}
    return ManagedProcess(name, [sys.executable, "-m", "signalway.worker"], env=env, log_path=tmp_path / f"{name}.log")


@pytest.fixture
def fleet(stack: Stack, gateway: Gateway, tmp_path: Any) -> Iterator[tuple[str, list[ManagedProcess]]]:
    """A gateway and two workers on a task queue of their own."""
    queue = f"fleet-{uuid.uuid4().hex[:8]}"
    _QUEUE[:] = [queue]
    workers = [_worker(stack, queue, f"worker-{i}", tmp_path) for i in range(2)]
    port = free_port()
    env = gateway_env(stack, port, gateway.secret, "", SIGNALWAY_TASK_QUEUE=queue)
    del env["SIGNALWAY_JWT_PUBLIC_KEY"]
    process = ManagedProcess("fleet-gateway", [sys.executable, "-m", "signalway", "gateway"], env=env,
                             log_path=tmp_path / "gateway.log")
    try:
        wait_ready(f"http://127.0.0.1:{port}", process)
        yield f"http://127.0.0.1:{port}", workers
    finally:
        process.stop()
        for worker in workers:
            worker.stop()


async def _both_polling(client: Client, workers: list[ManagedProcess]) -> None:
    """Wait until every worker polls the activity queue: one that starts late gets no work."""
    pids = {str(w.popen.pid) for w in workers}

    async def polling() -> bool:
        found: set[str] = set()
        for kind in (TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW):
            response = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
                namespace=client.namespace, task_queue=TaskQueue(name=_QUEUE[0]), task_queue_type=kind))
            found |= {p.identity.split("@", 1)[0] for p in response.pollers}
        return pids <= found

    await eventually(polling, what="both workers to poll")


async def _activity_workers(client: Client, workflow_id: str) -> set[str]:
    identities = set()
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            identities.add(event.activity_task_started_event_attributes.identity)
    return identities


async def test_two_workers_share_the_queue_and_a_stopped_one_loses_nothing(
        fleet: tuple[str, list[ManagedProcess]], gateway: Gateway, client: Client, redis: Any) -> None:
    url, workers = fleet
    await _both_polling(client, workers)
    async with httpx.AsyncClient(base_url=url, headers=gateway.headers(), timeout=60) as http:
        # Both workers take work: many short runs land on both.
        runs = await asyncio.gather(*[execute(http, "StandardContentIngestion", {"documentId": f"d{i}", "parts": 1})
                                      for i in range(16)])
        for wid, rid in runs:
            await wait_run(http, wid, rid, "COMPLETED")
        identities = set().union(*[await _activity_workers(client, wid) for wid, _ in runs])
        pids = {str(w.popen.pid) for w in workers}
        assert {i.split("@", 1)[0] for i in identities} == pids

        # A long activity; the worker running it is stopped half-way.
        wid, rid = await execute(http, "StandardContentIngestion",
                                 {"documentId": "long", "parts": 6, "part_delay_secs": 1.5})

        async def running_on() -> str | None:
            # ACTIVITY_TASK_STARTED is written only when an attempt ends: ask the pending activity.
            pending = (await client.get_workflow_handle(wid).describe()).raw_description.pending_activities
            if pending and pending[0].last_worker_identity and await redis.zcard(updates_key(rid)) >= 2:
                return str(pending[0].last_worker_identity)
            return None

        first = await eventually(running_on, what="the long activity to be half-way")
        victim = next(w for w in workers if str(w.popen.pid) == first.split("@", 1)[0])
        survivor = next(w for w in workers if w is not victim)
        victim.popen.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(victim.popen.wait, 30) == 0

        run = await wait_run(http, wid, rid, "COMPLETED")
        assert run["result"] == {"success": True}
        assert str(survivor.popen.pid) in {i.split("@", 1)[0] for i in await _activity_workers(client, wid)}
        parts = [json.loads(m)["details"]["current"] for m in await redis.zrange(updates_key(rid), 0, -1)]
        # Every part was processed; the retry resumed from the last heartbeat, so at most the part
        # in flight when the worker stopped is reported twice.
        assert set(parts) == {1, 2, 3, 4, 5, 6} and len(parts) <= 7


async def test_gateway_workers_share_one_port_and_stop_cleanly(stack: Stack, gateway: Gateway, tmp_path: Any) -> None:
    """`signalway gateway --workers 2`: two processes answer on one port; SIGTERM stops them all, exit 0."""
    port = free_port()
    env = gateway_env(stack, port, gateway.secret, "")
    del env["SIGNALWAY_JWT_PUBLIC_KEY"]
    process = ManagedProcess("two-gateways", [sys.executable, "-m", "signalway", "gateway", "--workers", "2"],
                             env=env, log_path=tmp_path / "gateways.log")
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, process)
        children = (await asyncio.to_thread(_children, process.popen.pid))
        assert len(children) == 2, children
        async with httpx.AsyncClient(base_url=url, headers=gateway.headers(), timeout=30) as http:
            wid, rid = await execute(http, "ConversationWorkflow", {})
            answers = await asyncio.gather(*[
                http.post(f"/api/v1/workflows/runs/{wid}/{rid}/signal/UserInput", json={"message": f"m{i}"})
                for i in range(6)])
            assert {a.status_code for a in answers} == {200}
            await http.post(f"/api/v1/workflows/runs/{wid}/{rid}/actions/terminate")
        process.popen.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(process.popen.wait, 30) == 0
    finally:
        process.stop()


def _children(pid: int) -> list[int]:
    """The gateway processes uvicorn spawned (not multiprocessing's resource tracker)."""
    from pathlib import Path

    children = [int(child) for task in Path(f"/proc/{pid}/task").glob("*")
                for child in (task / "children").read_text().split()]
    return [child for child in children if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()]
