"""`signalway dev` as a user runs it: it supervises Temporal, Redis, the worker and the gateway.

Each test starts the real command on free ports in a temp dir and reads its children's pids
from `status.json` in the data dir.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from signalway.devstack import STATUS_FILE, dev_token, env_lines
from signalway.localstack import LocalCluster, free_port
from tests.helpers.http import execute, run_path, wait_run
from tests.helpers.polling import eventually


@dataclass
class Dev:
    """A running `signalway dev` and everything it has printed so far."""

    process: subprocess.Popen[str]
    data_dir: Path
    url: str
    lines: list[str] = field(default_factory=list)
    seen_pids: set[int] = field(default_factory=set)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = json.loads((self.data_dir / STATUS_FILE).read_text())
        self.seen_pids.update(s["pid"] for s in status["services"].values() if s["pid"])
        return status

    def pid(self, name: str) -> int | None:
        pid: int | None = self.status()["services"][name]["pid"]
        return pid

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {dev_token((self.data_dir / 'dev-secret').read_text().strip())}"}


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@contextmanager
def signalway_dev(tmp_path: Path, *, port_flag: bool = True, flags: tuple[str, ...] = (), **env: str) -> Iterator[Dev]:
    port = free_port()
    data_dir = tmp_path / "data"
    argv = [sys.executable, "-m", "signalway", "dev", "--data-dir", str(data_dir),
            "--temporal-port", str(free_port()), "--ui-port", str(free_port()), "--redis-port", str(free_port())]
    argv += flags
    if port_flag:
        argv += ["--port", str(port)]
    else:
        env["SIGNALWAY_PORT"] = str(port)
    # From another directory than the checkout, the way an installed `signalway` is run.
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               cwd=tmp_path, env={**os.environ, **env})
    dev = Dev(process=process, data_dir=data_dir, url=f"http://127.0.0.1:{port}")

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            dev.lines.append(line.rstrip("\n"))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield dev
    finally:
        if process.poll() is None:
            process.kill()  # a failed test: SIGKILL, so its children go by their parent-death signal
        process.wait(30)
        reader.join(5)
        assert process.stdout is not None
        process.stdout.close()


async def gateway_ready(dev: Dev, *, within: float) -> None:
    async def ready() -> bool:
        assert dev.process.poll() is None, dev.output
        try:
            async with httpx.AsyncClient(timeout=2) as http:
                return (await http.get(f"{dev.url}/readyz")).status_code == 200
        except httpx.HTTPError:
            return False

    await eventually(ready, within=within, what=f"the gateway's /readyz\n{dev.output}")


async def kill_and_recover(dev: Dev, name: str) -> None:
    """SIGKILL one child; back once the supervisor reports a new one up and the gateway is ready."""
    old = dev.pid(name)
    assert old is not None
    os.kill(old, signal.SIGKILL)

    async def restarted() -> bool:
        service = dev.status()["services"][name]
        return bool(service["state"] == "up" and service["pid"] not in (None, old))

    await eventually(restarted, within=20, what=f"{name} to be restarted\n{dev.output}")
    await gateway_ready(dev, within=20)
    assert f"{name} exited with -9; restarting in 0.5 s" in dev.output


async def test_dev_restarts_killed_children_and_keeps_their_state(tmp_path: Path) -> None:
    # The gateway's port comes from SIGNALWAY_PORT alone: no --port flag.
    with signalway_dev(tmp_path, port_flag=False) as dev:
        await gateway_ready(dev, within=45)

        async def banner() -> bool:
            return "Signalway is running" in dev.output

        await eventually(banner, what=f"the banner\n{dev.output}")
        start_lines = dev.output.split("Signalway is running")[0]
        for line in ("temporal ready on", "redis ready on", "worker ready on task queue",
                     f"gateway ready on {dev.url}"):
            assert line in start_lines, dev.output

        async with httpx.AsyncClient(base_url=dev.url, headers=dev.headers(), timeout=10) as http:
            wid, rid = await execute(http, "ConversationWorkflow", {})
            updates = f"/api/v1/workflows/runs/{wid}/{rid}/updates"

            async def answers() -> list[str]:
                return [m["message"] for m in (await http.get(updates)).json()["messages"]]

            assert (await http.post(f"{run_path(wid, rid)}/signal/UserInput", json={"message": "hi"})).status_code == 200
            await eventually(answers, what="the first answer")

            # Redis: its AOF brings back the update written before the kill; the worker's
            # Redis client reconnects and writes the next one.
            await kill_and_recover(dev, "redis")
            assert await answers() == ["echo: hi"]
            assert (await http.post(f"{run_path(wid, rid)}/signal/UserInput", json={"message": "again"})).status_code == 200

            async def two_answers() -> bool:
                return await answers() == ["echo: hi", "echo: again"]

            await eventually(two_answers, what="the answer written after Redis came back")

            # Temporal: the run started before is still there (its SQLite file).
            await kill_and_recover(dev, "temporal")
            assert (await http.get(run_path(wid, rid))).json()["status"] == "RUNNING"

            await kill_and_recover(dev, "gateway")

            # The worker: a run started before the kill completes after it.
            await kill_and_recover(dev, "worker")
            assert (await http.post(f"{run_path(wid, rid)}/signal/UserInput", json={"message": "bye"})).status_code == 200
            run = await wait_run(http, wid, rid, "COMPLETED")
            assert run["result"] == {"turns": 3}

        children = set(dev.seen_pids)
        dev.process.send_signal(signal.SIGTERM)
        assert dev.process.wait(30) == 0, dev.output
    assert dev.lines[-2:] == ["stopping…", "stopped"]
    assert [pid for pid in children if _alive(pid)] == []
    assert {s["state"] for s in dev.status()["services"].values()} == {"stopped"}


async def test_dev_gives_up_on_a_child_that_keeps_crashing(tmp_path: Path) -> None:
    # A "redis-server" that exits at once: 5 exits within 30 s, then everything stops.
    started = time.monotonic()
    with signalway_dev(tmp_path, SIGNALWAY_REDIS_SERVER_BIN="/bin/false") as dev:
        assert dev.process.wait(40) == 1, dev.output
        children = {s["pid"] for s in dev.status()["services"].values()} | dev.seen_pids
    assert time.monotonic() - started < 40
    restarts = [line for line in dev.lines if line.startswith("redis exited with 1; restarting in")]
    assert [line.split(" in ")[1].split(" s")[0] for line in restarts] == ["0.5", "1", "2", "4"]
    assert "redis keeps exiting (exited with 1, 5 times within 30 s): not restarting it again" in dev.output
    assert "Signalway is running" not in dev.output
    assert [pid for pid in children if pid and _alive(pid)] == []


async def test_dev_ends_at_once_on_a_bad_value_and_names_a_misspelt_variable(tmp_path: Path) -> None:
    # Not valid JSON for a list, and a name no process reads (no S at the end).
    started = time.monotonic()
    with signalway_dev(tmp_path, SIGNALWAY_WORKFLOW_TYPES="ApprovalWorkflow",
                       SIGNALWAY_WEBHOOK_ALLOWED_NETWORK="127.0.0.1/32") as dev:
        assert dev.process.wait(30) == 2, dev.output
    assert time.monotonic() - started < 30  # wide margin: it takes about a second
    errors = [line for line in dev.lines if "error" in line]
    assert len(errors) == 1 and errors[0].startswith("configuration error: SIGNALWAY_WORKFLOW_TYPES: "), dev.output
    assert ("warning: SIGNALWAY_WEBHOOK_ALLOWED_NETWORK is not a Signalway setting and is ignored; "
            "did you mean SIGNALWAY_WEBHOOK_ALLOWED_NETWORKS?") in dev.lines
    assert not (dev.data_dir / STATUS_FILE).exists()  # nothing was started
    # Only those two lines (and warnings about any other unknown variable of this environment).
    assert [line for line in dev.lines if not line.startswith("warning: ")] == errors, dev.output


async def test_dev_runs_on_an_external_redis_cluster(tmp_path: Path, redis_cluster: LocalCluster) -> None:
    """`signalway dev --redis-url redis+cluster://…` starts no Redis of its own and runs on the cluster."""
    with signalway_dev(tmp_path, flags=("--redis-url", redis_cluster.url)) as dev:
        await gateway_ready(dev, within=45)
        assert "redis" not in dev.status()["services"]
        # What `eval "$(signalway env)"` gives another shell: this stack's addresses, whatever its ports.
        exported = dict(shlex.split(line)[1].split("=", 1) for line in env_lines(dev.data_dir).splitlines())
        assert exported["SIGNALWAY_URL"] == exported["SIGNALWAY_PUBLIC_URL"] == dev.url
        assert exported["SIGNALWAY_REDIS_URL"] == redis_cluster.url
        assert exported["SIGNALWAY_TEMPORAL_ADDRESS"] == dev.status()["services"]["temporal"]["address"]
        async with httpx.AsyncClient(base_url=dev.url, headers=dev.headers(), timeout=10) as http:
            wid, rid = await execute(http, "ConversationWorkflow", {})
            assert (await http.post(f"{run_path(wid, rid)}/signal/UserInput", json={"message": "hi"})).status_code == 200

            async def answered() -> bool:
                messages = (await http.get(f"/api/v1/workflows/runs/{wid}/{rid}/updates")).json()["messages"]
                return [m["message"] for m in messages] == ["echo: hi"]

            await eventually(answered, what=f"the worker's answer, written to the cluster\n{dev.output}")

        # The banner comes once the supervisor has seen every child up (the worker's "polling"
        # line can come a moment after the answer above): stop only then.
        async def banner() -> bool:
            return "Signalway is running" in dev.output

        await eventually(banner, what=f"the banner\n{dev.output}")
        dev.process.send_signal(signal.SIGTERM)
        assert dev.process.wait(30) == 0, dev.output
    assert f"127.0.0.1:{redis_cluster.ports[0]}" in dev.output  # the banner names the cluster it runs on
