"""`python -m signalway.worker` as a real process: it drains in-flight activities on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from signalway_examples.content_ingestion import IngestionInput, StandardContentIngestion
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from signalway.localstack import ManagedProcess
from signalway.steps.contract import RESUME_SIGNAL, TRIGGER_SIGNAL
from signalway.updates import updates_key
from signalway.workflow import search_attributes
from tests.helpers.gateway import WEBHOOK_SECRET
from tests.helpers.polling import eventually
from tests.helpers.stack import Stack

TEAM = Path(__file__).resolve().parents[1] / "e2e" / "team"
SIGNALWAY = Path(sys.executable).parent / "signalway"  # the installed console script


async def test_sigterm_lets_the_running_activity_finish(client: Client, redis: aioredis.Redis, stack: Stack) -> None:
    task_queue = str(uuid.uuid4())
    process = ManagedProcess(
        "drain-worker", [sys.executable, "-m", "signalway.worker"], log_path=stack.data_dir / "drain-worker.log",
        env={"SIGNALWAY_TEMPORAL_ADDRESS": stack.temporal_address, "SIGNALWAY_REDIS_URL": stack.redis_url,
             "SIGNALWAY_TASK_QUEUE": task_queue, "SIGNALWAY_SHUTDOWN_GRACE_SECONDS": "20"},
    )
    try:
        handle = await client.start_workflow(
            StandardContentIngestion.run, IngestionInput(documentId="drain", parts=3, part_delay_secs=0.7),
            id=str(uuid.uuid4()), task_queue=task_queue,
        )
        key = updates_key(handle.result_run_id)
        await eventually(lambda: redis.zcard(key), what="the activity to start reporting")
        process.popen.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(process.popen.wait, 30)
        assert code == 0
        # The activity ran to its end during the drain and Temporal recorded its completion.
        parts = [json.loads(m)["details"]["current"] for m in await redis.zrange(key, 0, -1)]
        assert parts == [1, 2, 3]
        types = [e.event_type async for e in handle.fetch_history_events()]
        assert EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED in types
        assert "worker draining" in process.tail(50)
    finally:
        process.stop()


def _team_project(root: Path) -> Path:
    (root / "workflows").mkdir()
    shutil.copy(TEAM / "team_workflows.py", root / "workflows" / "__init__.py")
    return root


async def test_signalway_worker_runs_a_teams_workflows_on_its_task_queue(
        client: Client, redis: aioredis.Redis, stack: Stack, tmp_path: Path) -> None:
    """`signalway worker --workflows workflows:WORKFLOWS --task-queue q` in the team's folder: its
    own package named `workflows`, not the examples."""
    team = _team_project(tmp_path)
    task_queue = f"team-{uuid.uuid4().hex[:8]}"
    process = ManagedProcess(
        "team-cli-worker", [str(SIGNALWAY), "worker", "--workflows", "workflows:WORKFLOWS", "--task-queue", task_queue],
        log_path=stack.data_dir / "team-cli-worker.log", cwd=team,
        env={"SIGNALWAY_TEMPORAL_ADDRESS": stack.temporal_address, "SIGNALWAY_REDIS_URL": stack.redis_url,
             "SIGNALWAY_RESUME_SECRET": "s" * 32, "SIGNALWAY_WEBHOOK_SECRET": WEBHOOK_SECRET,
             "SIGNALWAY_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32", "PYTHONPATH": ""},
    )
    try:
        order = uuid.uuid4().hex[:8]
        handle = await client.start_workflow(
            "TeamOrder", {"order_id": order, "webhook_url": "http://127.0.0.1:9/hook"}, id=str(uuid.uuid4()),
            task_queue=task_queue, search_attributes=search_attributes(project="alpha"), result_type=dict)
        await handle.signal("note", {"text": "by the CLI worker"})
        await handle.signal(RESUME_SIGNAL, {"step": "approve", "action": "resume", "variables": {"approved": True}})

        async def waiting() -> bool:
            return (await handle.query("state"))["state"] == "waiting for payment"

        await eventually(waiting, what="the team's run to wait for its event")
        await handle.signal(TRIGGER_SIGNAL, {"event_key": f"team:{order}:paid", "action": "received", "payload": 1})
        assert await handle.result() == {"approved": True, "paid": 1, "notes": ["by the CLI worker"]}
        assert await redis.zcard(updates_key(handle.result_run_id)) == 2
        assert f"worker polling task queue '{task_queue}'" in process.tail(50)
    finally:
        process.stop()


@pytest.mark.parametrize(("spec", "says"), [
    ("workflows", "expected module:attribute"),
    ("nowhere:WORKFLOWS", "cannot import 'nowhere'"),
    ("workflows:MISSING", "has no attribute 'MISSING'"),
    ("workflows:note_a_class", "not a @workflow.defn class"),
])
def test_a_bad_workflows_argument_is_a_configuration_error(tmp_path: Path, spec: str, says: str) -> None:
    team = _team_project(tmp_path)
    init = team / "workflows" / "__init__.py"
    init.write_text(init.read_text() + "\nnote_a_class = 'TeamOrder'\n")
    done = subprocess.run([str(SIGNALWAY), "worker", "--workflows", spec], cwd=team, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": ""})
    assert done.returncode == 2
    assert says in done.stderr and "Traceback" not in done.stderr
