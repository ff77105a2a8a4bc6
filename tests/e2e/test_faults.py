"""Faults and overload on a stack of its own: what every answer promises must hold.

A 2xx means it happened; 503 means nothing was sent; 504 `outcome_unknown` means "retry
with the same Idempotency-Key", and that retry acts at most once. Each test here breaks
something real — pauses Temporal, kills Redis, kills a worker, floods the gateway — and then
checks those promises against what Temporal and Redis actually recorded.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from httpx_sse import aconnect_sse
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from signalway.localstack import ManagedProcess, free_port, redis_binary, start_temporal, wait_port
from signalway.settings import CommonSettings
from signalway.temporal import connect
from signalway.tokens import mint
from tests.helpers.http import execute, run_path, wait_ready, wait_run
from tests.helpers.polling import eventually


@dataclass
class Faulty:
    """Temporal, Redis, a worker and a gateway that the tests here may break."""

    data_dir: Path
    temporal: ManagedProcess
    redis_port: int
    temporal_address: str
    gateway_url: str
    secret: str
    processes: dict[str, ManagedProcess] = field(default_factory=dict)

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint(self.secret, project='faults', user='f')}"}

    def start_redis(self) -> None:
        # appendfsync always: an update acknowledged to a client survives a kill -9.
        argv = [redis_binary(), "--bind", "127.0.0.1", "--port", str(self.redis_port), "--dir",
                str(self.data_dir / "redis"), "--save", "", "--appendonly", "yes", "--appendfsync", "always"]
        (self.data_dir / "redis").mkdir(exist_ok=True)
        if "redis" in self.processes:
            self.processes["redis"].stop()  # a killed one: reap it and close its log
        process = ManagedProcess("redis", argv, log_path=self.data_dir / "redis" / "redis.log")
        wait_port("127.0.0.1", self.redis_port, timeout=30, process=process)
        self.processes["redis"] = process

    def start_worker(self, name: str = "worker") -> None:
        env = {"SIGNALWAY_TEMPORAL_ADDRESS": self.temporal_address, "SIGNALWAY_REDIS_URL": self.redis_url,
               "SIGNALWAY_SHUTDOWN_GRACE_SECONDS": "1"}
        self.processes[name] = ManagedProcess(name, [sys.executable, "-m", "signalway.worker"], env=env,
                                              log_path=self.data_dir / f"{name}.log")


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Faulty]:
    data_dir = tmp_path_factory.mktemp("faults")
    temporal_port, gateway_port = free_port(), free_port()
    temporal = start_temporal(data_dir / "temporal", port=temporal_port, ui_port=None)
    stack = Faulty(data_dir=data_dir, temporal=temporal, redis_port=free_port(),
                   temporal_address=f"127.0.0.1:{temporal_port}", gateway_url=f"http://127.0.0.1:{gateway_port}",
                   secret=secrets.token_urlsafe(32))
    try:
        stack.start_redis()
        stack.start_worker()
        env = {
            "SIGNALWAY_TEMPORAL_ADDRESS": stack.temporal_address, "SIGNALWAY_REDIS_URL": stack.redis_url,
            "SIGNALWAY_JWT_SECRET": stack.secret, "SIGNALWAY_HOST": "127.0.0.1", "SIGNALWAY_PORT": str(gateway_port),
            "SIGNALWAY_REQUEST_TIMEOUT": "4", "SIGNALWAY_RPC_TIMEOUT_SECONDS": "2",
            "SIGNALWAY_REDIS_TIMEOUT_SECONDS": "1", "SIGNALWAY_UPDATE_TIMEOUT_SECONDS": "3",
            # Low bounds, so that one test process can push this gateway past them.
            "SIGNALWAY_MAX_IN_FLIGHT": "4", "SIGNALWAY_MAX_QUEUED": "4", "SIGNALWAY_QUEUE_TIMEOUT_SECONDS": "0.3",
            "SIGNALWAY_MAX_IN_FLIGHT_PER_PRINCIPAL": "1000", "SIGNALWAY_RETRY_AFTER_SECONDS": "1",
        }
        stack.processes["gateway"] = ManagedProcess(
            "gateway", [sys.executable, "-m", "signalway", "gateway"], env=env, log_path=data_dir / "gateway.log")
        wait_ready(stack.gateway_url, stack.processes["gateway"])
        yield stack
    finally:
        for process in reversed(list(stack.processes.values())):
            if process.popen.poll() is None:
                os.kill(process.popen.pid, signal.SIGCONT)
            process.stop()
        os.kill(temporal.popen.pid, signal.SIGCONT)
        temporal.stop()


@pytest.fixture
async def http(faulty: Faulty) -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=300, max_keepalive_connections=300)
    async with httpx.AsyncClient(base_url=faulty.gateway_url, headers=faulty.headers(), timeout=30,
                                 limits=limits) as client:
        yield client


@pytest.fixture
async def temporal(faulty: Faulty) -> Client:
    return await connect(CommonSettings(temporal_address=faulty.temporal_address))


async def _signal_messages(client: Client, workflow_id: str) -> list[str]:
    found = []
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            payloads = event.workflow_execution_signaled_event_attributes.input.payloads
            if payloads:
                found.append(json.loads(payloads[0].data).get("message", ""))
    return found


async def _recorded(client: Client, workflow_ids: list[str], wanted: set[str]) -> Counter[str]:
    """The signal messages in the histories of `workflow_ids`, once all of `wanted` are there: a
    signal that arrives while a run's workflow task is in flight (the worker catching up after a
    pause) is written to the history when that task completes."""
    async def all_there() -> Counter[str] | None:
        recorded: Counter[str] = Counter()
        for workflow_id in workflow_ids:
            recorded.update(await _signal_messages(client, workflow_id))
        return recorded if wanted <= set(recorded) else None

    return await eventually(all_there, within=60, what=f"the accepted signals in the history ({len(wanted)})")


async def test_temporal_paused_keyed_signals_land_once_and_no_recorded_one_is_called_failed(
        faulty: Faulty, http: httpx.AsyncClient, temporal: Client) -> None:
    workflow_id, run_id = await execute(http, "ConversationWorkflow", {})
    path = run_path(workflow_id, run_id) + "/signal/UserInput"
    # Warm the gateway's caches of the run, as a chat does: what remains is the signal itself.
    assert (await http.post(path, json={"message": "warm-up"})).status_code == 200
    keys = [f"k-{i}-{uuid.uuid4()}" for i in range(60)]
    first: dict[str, httpx.Response] = {}
    gate = asyncio.Semaphore(16)

    async def send(i: int, key: str) -> None:
        async with gate:
            first[key] = await http.post(path, json={"message": f"m{i}"},
                                         headers={"Idempotency-Key": key, "Prefer": "return=minimal"})

    os.kill(faulty.temporal.popen.pid, signal.SIGSTOP)
    try:
        sending = asyncio.gather(*[send(i, k) for i, k in enumerate(keys)])
        await asyncio.sleep(5)
    finally:
        os.kill(faulty.temporal.popen.pid, signal.SIGCONT)
    await sending
    statuses = Counter(r.status_code for r in first.values())
    assert set(statuses) <= {200, 503, 504}, statuses
    assert statuses[504] + statuses[503] > 0, f"the pause was not felt: {statuses}"

    # Clients retry what did not succeed, with the same keys, until it does.
    for i, key in enumerate(keys):
        for _ in range(40):
            if first[key].status_code == 200:
                break
            first[key] = await http.post(path, json={"message": f"m{i}"}, headers={"Idempotency-Key": key})
            if first[key].status_code != 200:
                await asyncio.sleep(0.25)
        assert first[key].status_code == 200, first[key].text
    wanted = {f"m{i}" for i in range(len(keys))}
    recorded = await _recorded(temporal, [workflow_id], wanted)
    wrong = {m: recorded[m] for m in sorted(wanted) if recorded[m] != 1}
    assert not wrong, f"recorded other than once: {wrong}; first answers {statuses}"


async def test_a_503_is_never_given_for_a_signal_temporal_recorded(
        faulty: Faulty, http: httpx.AsyncClient, temporal: Client) -> None:
    workflow_id, run_id = await execute(http, "ConversationWorkflow", {})
    path = run_path(workflow_id, run_id) + "/signal/UserInput"
    assert (await http.post(path, json={"message": "warm-up"})).status_code == 200
    answers: dict[str, int] = {}

    async def send(i: int) -> None:
        response = await http.post(path, json={"message": f"n{i}"}, headers={"Prefer": "return=minimal"})
        answers[f"n{i}"] = response.status_code

    os.kill(faulty.temporal.popen.pid, signal.SIGSTOP)
    try:
        sending = asyncio.gather(*[send(i) for i in range(30)])
        await asyncio.sleep(4)
    finally:
        os.kill(faulty.temporal.popen.pid, signal.SIGCONT)
    await sending
    # Every 2xx in the history (waited for: what Temporal buffered is written once it runs again).
    recorded = await _recorded(temporal, [workflow_id], {m for m, s in answers.items() if s == 200})
    await asyncio.sleep(1)  # and a 503 that was recorded after all would be there by now
    recorded = Counter(await _signal_messages(temporal, workflow_id))
    lies = {m: s for m, s in answers.items() if s == 503 and m in recorded}
    assert not lies, f"503 (nothing sent) for signals Temporal recorded: {lies}"


async def test_overload_is_shed_fast_with_only_2xx_429_503_and_every_2xx_recorded(
        faulty: Faulty, http: httpx.AsyncClient, temporal: Client) -> None:
    runs = [await execute(http, "ConversationWorkflow", {}) for _ in range(4)]
    for workflow_id, run_id in runs:  # warm the caches
        assert (await http.post(run_path(workflow_id, run_id) + "/signal/UserInput",
                                json={"message": "warm-up"})).status_code == 200
    gate = asyncio.Semaphore(256)
    results: list[tuple[str, int, float]] = []
    before = _signal_latency(await http.get("/metrics"))

    async def send(i: int) -> None:
        workflow_id, run_id = runs[i % len(runs)]
        async with gate:
            started = time.monotonic()
            response = await http.post(run_path(workflow_id, run_id) + "/signal/UserInput",
                                       json={"message": f"o{i}"}, headers={"Prefer": "return=minimal"})
            results.append((f"o{i}", response.status_code, time.monotonic() - started))
            if response.status_code in (429, 503):
                assert response.headers.get("retry-after"), response.text

    await asyncio.gather(*[send(i) for i in range(600)])
    statuses = Counter(status for _, status, _ in results)
    # The gateway's own clock, from the moment it read the request to its answer: this test's
    # single client process adds its own queueing on a loaded 2-core machine.
    after = _signal_latency(await http.get("/metrics"))
    histogram = {bound: after[bound] - before.get(bound, 0) for bound in after}
    slowest = max(seconds for _, _, seconds in results)
    print(f"overload: statuses {dict(statuses)}, gateway-side buckets {histogram}, client-side max {slowest:.2f}s")
    assert set(statuses) <= {200, 429, 503}, statuses
    assert statuses[503] + statuses[429] > 0, f"nothing was shed: {statuses}"
    assert histogram["1.0"] == histogram["+Inf"], f"an answer took the gateway over 1 s: {histogram}"
    assert slowest < 60, f"an answer took {slowest:.2f}s"  # a hang, not a latency bound (see above)
    accepted = [message for message, status, _ in results if status == 200]
    recorded = await _recorded(temporal, [workflow_id for workflow_id, _ in runs], set(accepted))
    assert accepted and all(recorded[m] == 1 for m in accepted)


async def test_redis_killed_mid_stream_loses_no_acknowledged_update(
        faulty: Faulty, http: httpx.AsyncClient) -> None:
    workflow_id, run_id = await execute(http, "ConversationWorkflow", {})
    updates = f"/api/v1/workflows/runs/{run_id}/updates"
    stream = run_path(workflow_id, run_id) + "/stream"
    acknowledged: list[str] = []

    async def post(text: str) -> None:
        response = await http.post(updates, json={"type": "STEP", "message": text},
                                   headers={"Idempotency-Key": text})
        if response.status_code == 201:
            acknowledged.append(text)

    seen: list[tuple[int, str]] = []
    ended_with = ""
    async with aconnect_sse(http, "GET", stream) as source:
        for i in range(10):
            await post(f"before-{i}")
        async for event in source.aiter_sse():
            body = json.loads(event.data)
            final = body["type"].startswith("STREAM_") or body["type"] == "WORKFLOW_CLOSED"
            if not final:  # a final frame has no id (the client's last event id stays as it was)
                seen.append((int(event.id), body["message"]))
            if len(seen) == 10:
                faulty.processes["redis"].popen.kill()  # kill -9, mid-stream
                faulty.processes["redis"].popen.wait()
                for i in range(3):
                    await post(f"during-{i}")  # not acknowledged: Redis is gone
            if final:
                ended_with = body["type"]
                break
    assert ended_with == "STREAM_INTERRUPTED"
    faulty.start_redis()
    await eventually(lambda: _ready(http), what="the gateway to see Redis again")
    for i in range(5):
        await post(f"after-{i}")
    # Clients reconnect with Last-Event-ID, as EventSource does, until they have it all.
    resumed: list[tuple[int, str]] = []
    for _ in range(20):
        last = (seen + resumed)[-1][0]
        async with aconnect_sse(http, "GET", stream, headers={"Last-Event-ID": str(last)}) as source:
            async for event in source.aiter_sse():
                body = json.loads(event.data)
                if body["type"].startswith("STREAM_"):
                    break
                resumed.append((int(event.id), body["message"]))
                if sum(1 for _, text in seen + resumed if text in acknowledged) == len(acknowledged):
                    break
        if sum(1 for _, text in seen + resumed if text in acknowledged) == len(acknowledged):
            break
        await asyncio.sleep(0.2)
    delivered = [text for _, text in seen + resumed]
    assert [t for t in delivered if t in acknowledged] == acknowledged  # each once, in order
    ids = [i for i, _ in seen + resumed]
    assert ids == sorted(set(ids)), str(ids)  # no id twice, none out of order


def _signal_latency(metrics: httpx.Response) -> dict[str, float]:
    """Cumulative counts of the signal route's latency histogram, by bucket bound."""
    found = {}
    for line in metrics.text.splitlines():
        if line.startswith("signalway_http_request_duration_seconds_bucket") and "signal/{signal_name}" in line:
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            found[bound] = float(line.rsplit(" ", 1)[1])
    return found


async def _ready(http: httpx.AsyncClient) -> bool:
    return (await http.get("/readyz")).status_code == 200


async def test_worker_killed_mid_activity_publishes_no_update_twice(
        faulty: Faulty, http: httpx.AsyncClient, temporal: Client) -> None:
    workflow_id, run_id = await execute(http, "StandardContentIngestion",
                                        {"documentId": "kill-9", "parts": 5, "part_delay_secs": 0.7})
    updates = run_path(workflow_id, run_id) + "/updates"

    async def two_parts_published() -> bool:
        return len((await http.get(updates)).json()["messages"]) >= 2

    await eventually(two_parts_published, what="two parts to be published")
    faulty.processes["worker"].popen.kill()
    faulty.processes["worker"].popen.wait()
    faulty.start_worker("worker-2")  # the activity is retried here once its heartbeat times out
    await wait_run(http, workflow_id, run_id, "COMPLETED")
    messages = [m["message"] for m in (await http.get(updates)).json()["messages"] if m["type"] == "PROGRESS"]
    assert messages == [f"Processing document kill-9: part {p} of 5" for p in range(1, 6)], messages


async def test_a_stalled_redis_ends_open_streams_within_seconds_and_writes_fail_fast(
        faulty: Faulty, http: httpx.AsyncClient) -> None:
    workflow_id, run_id = await execute(http, "ConversationWorkflow", {})
    stream = run_path(workflow_id, run_id) + "/stream"
    updates = f"/api/v1/workflows/runs/{run_id}/updates"
    assert (await http.post(updates, json={"message": "before"})).status_code == 201
    redis_pid = faulty.processes["redis"].popen.pid
    async with aconnect_sse(http, "GET", stream) as source:
        events = source.aiter_sse()
        assert json.loads((await anext(events)).data)["message"] == "before"
        os.kill(redis_pid, signal.SIGSTOP)
        stalled_at = time.monotonic()
        try:
            write = await http.post(updates, json={"message": "during"}, headers={"Idempotency-Key": "stall-1"})
            write_seconds = time.monotonic() - stalled_at
            final = json.loads((await asyncio.wait_for(anext(events), 15)).data)
            ended_after = time.monotonic() - stalled_at
        finally:
            os.kill(redis_pid, signal.SIGCONT)
    assert final["type"] == "STREAM_INTERRUPTED", final
    assert ended_after < 8, f"the stream noticed the stall after {ended_after:.1f}s"
    # A write that reached the stalled Redis may have happened: 504 outcome_unknown, not 503.
    assert write.status_code in (503, 504) and write_seconds < 5, (write.status_code, write_seconds)
    retried = await http.post(updates, json={"message": "during"}, headers={"Idempotency-Key": "stall-1"})
    for _ in range(20):
        if retried.status_code == 201:
            break
        await asyncio.sleep(0.25)
        retried = await http.post(updates, json={"message": "during"}, headers={"Idempotency-Key": "stall-1"})
    assert retried.status_code == 201, retried.text
    messages = [m["message"] for m in (await http.get(run_path(workflow_id, run_id) + "/updates")).json()["messages"]]
    assert messages == ["before", "during"]  # the retry with the key stored it once
