"""Quotas per project, against a gateway process of this module's own with small quotas: each
is refused past its limit with a problem naming it (429 with retry advice, 413 for one
payload), before anything is stored, and /metrics shows each quota's limit and usage."""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass

import httpx
import pytest

from signalway.localstack import ManagedProcess, free_port
from signalway.tokens import mint
from tests.helpers.gateway import gateway_env
from tests.helpers.http import WORKFLOWS, execute, run_path, wait_ready
from tests.helpers.stack import Stack

UPDATE_BYTES = 200_000
WAITING_TRIGGERS = 5
WAITING_TRIGGER_BYTES = 50_000
RUNS_PER_MINUTE = 5
TRIGGER_PAYLOAD_BYTES = 20_000
STREAMS_PER_PROJECT = 2
STREAMS_PER_PROCESS = 3


@dataclass(frozen=True)
class OwnGateway:
    url: str
    secret: str

    def headers(self, project: str, user: str = "quota-user") -> dict[str, str]:
        return {"Authorization": f"Bearer {mint(self.secret, project=project, user=user, ttl_seconds=600)}"}


@pytest.fixture(scope="module")
def own(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnGateway]:
    port, secret = free_port(), secrets.token_urlsafe(32)
    env = gateway_env(stack, port, secret, "", **{f"SIGNALWAY_{name}": str(value) for name, value in {
        "QUOTA_UPDATE_BYTES_PER_PROJECT": UPDATE_BYTES, "QUOTA_WAITING_TRIGGERS_PER_PROJECT": WAITING_TRIGGERS,
        "QUOTA_WAITING_TRIGGER_BYTES_PER_PROJECT": WAITING_TRIGGER_BYTES,
        "QUOTA_RUNS_PER_MINUTE_PER_PROJECT": RUNS_PER_MINUTE, "MAX_TRIGGER_PAYLOAD_BYTES": TRIGGER_PAYLOAD_BYTES,
        "MAX_STREAMS_PER_PROJECT": STREAMS_PER_PROJECT, "MAX_STREAMS_PER_PROCESS": STREAMS_PER_PROCESS}.items()})
    del env["SIGNALWAY_JWT_PUBLIC_KEY"]
    process = ManagedProcess("quotas-gateway", [sys.executable, "-m", "signalway", "gateway"], env=env,
                             log_path=tmp_path_factory.mktemp("quotas") / "gateway.log")
    try:
        wait_ready(f"http://127.0.0.1:{port}", process)
        yield OwnGateway(f"http://127.0.0.1:{port}", secret)
    finally:
        process.stop()


@pytest.fixture
async def http(own: OwnGateway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=own.url, timeout=30) as client:
        yield client


def project() -> str:
    return f"quota-{uuid.uuid4().hex[:8]}"


def assert_quota(answer: httpx.Response, status: int, quota: str) -> dict[str, object]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    body: dict[str, object] = answer.json()
    assert body["code"] == ("quota_exceeded" if status == 429 else "payload_too_large"), body
    assert f"quota {quota}" in str(body["detail"]), body
    if status == 429:
        assert isinstance(body["retry_after_seconds"], int) and body["retry_after_seconds"] >= 1, body
        assert answer.headers["retry-after"] == str(body["retry_after_seconds"])
    return body


async def test_progress_update_bytes_are_bounded_per_project(own: OwnGateway, http: httpx.AsyncClient) -> None:
    p, q = project(), project()
    wid, rid = await execute(http, "ConversationWorkflow", {}, headers=own.headers(p))
    other_wid, other_rid = await execute(http, "ConversationWorkflow", {}, headers=own.headers(q))
    update = {"message": "m" * 40_000}
    stored = 0
    for _ in range(10):
        answer = await http.post(f"{WORKFLOWS}/runs/{rid}/updates", json=update, headers=own.headers(p))
        if answer.status_code != 201:
            break
        stored += 1
    assert stored == UPDATE_BYTES // 40_100, stored  # each message is a little over 40 kB of JSON
    assert_quota(answer, 429, "update_bytes")
    # Nothing of the refused one was stored; another user of the project is refused too.
    messages = (await http.get(run_path(wid, rid) + "/updates", headers=own.headers(p))).json()["messages"]
    assert len(messages) == stored
    assert_quota(await http.post(f"{WORKFLOWS}/runs/{rid}/updates", json=update, headers=own.headers(p, "other")),
                 429, "update_bytes")
    # Another project is not held up.
    answer = await http.post(f"{WORKFLOWS}/runs/{other_rid}/updates", json=update, headers=own.headers(q))
    assert answer.status_code == 201, answer.text
    await http.post(run_path(wid, rid) + "/actions/terminate", headers=own.headers(p))
    await http.post(run_path(other_wid, other_rid) + "/actions/terminate", headers=own.headers(q))


async def test_waiting_triggers_are_bounded_per_project_in_number(own: OwnGateway, http: httpx.AsyncClient) -> None:
    p = project()
    keys = [f"job:{n}" for n in range(WAITING_TRIGGERS)]
    for key in keys:
        answer = await http.post("/v1/events", json={"event_key": key, "job_run_id": "j"}, headers=own.headers(p))
        assert answer.status_code == 201, answer.text
    assert_quota(await http.post("/v1/events", json={"event_key": "job:over", "job_run_id": "j"},
                                 headers=own.headers(p)), 429, "waiting_triggers")
    assert (await http.get("/v1/events/job:over", headers=own.headers(p))).status_code == 404
    # A trigger that stops waiting frees its place.
    assert (await http.post(f"/v1/events/{keys[0]}/send", json={"ok": 1}, headers=own.headers(p))).status_code == 200
    answer = await http.post("/v1/events", json={"event_key": "job:now", "job_run_id": "j"}, headers=own.headers(p))
    assert answer.status_code == 201, answer.text


async def test_waiting_trigger_payload_bytes_are_bounded_per_project(own: OwnGateway, http: httpx.AsyncClient) -> None:
    p = project()
    payload = {"blob": "b" * 15_000}
    made = 0
    for n in range(WAITING_TRIGGERS):
        answer = await http.post("/v1/events", json={"event_key": f"big:{n}", "job_run_id": "j",
                                                     "request_payload": payload}, headers=own.headers(p))
        if answer.status_code != 201:
            break
        made += 1
    assert made == 3, made  # 3 × 15 kB fit in 50 kB, a fourth does not
    assert_quota(answer, 429, "waiting_trigger_bytes")
    assert (await http.delete("/v1/events/big:0", headers=own.headers(p))).status_code == 200
    answer = await http.post("/v1/events", json={"event_key": "big:again", "job_run_id": "j",
                                                 "request_payload": payload}, headers=own.headers(p))
    assert answer.status_code == 201, answer.text


async def test_one_trigger_payload_is_bounded(own: OwnGateway, http: httpx.AsyncClient) -> None:
    p = project()
    too_big = {"blob": "x" * TRIGGER_PAYLOAD_BYTES}
    assert_quota(await http.post("/v1/events", json={"event_key": "job:big", "job_run_id": "j",
                                                     "request_payload": too_big}, headers=own.headers(p)),
                 413, "trigger_payload_bytes")
    assert (await http.post("/v1/events", json={"event_key": "job:small", "job_run_id": "j"},
                            headers=own.headers(p))).status_code == 201
    assert_quota(await http.post("/v1/events/job:small/send", json=too_big, headers=own.headers(p)),
                 413, "trigger_payload_bytes")
    assert_quota(await http.post("/v1/events/prefix/job:/send", json=too_big, headers=own.headers(p)),
                 413, "trigger_payload_bytes")
    trigger = (await http.get("/v1/events/job:small", headers=own.headers(p))).json()
    assert trigger["status"] == "waiting" and trigger["response_payload"] is None


async def test_runs_started_per_minute_are_bounded_per_project(own: OwnGateway, http: httpx.AsyncClient) -> None:
    left = 60 - time.time() % 60
    if left < 15:  # the burst must not straddle two minutes
        await asyncio.sleep(left + 0.2)
    p = project()
    started = []
    for n in range(RUNS_PER_MINUTE):
        started.append(await execute(http, "ConversationWorkflow", {}, headers=own.headers(p, f"u{n % 2}")))
    over = await http.post(f"{WORKFLOWS}/execute/ConversationWorkflow", json={"vars": {}}, headers=own.headers(p))
    body = assert_quota(over, 429, "runs_per_minute")
    assert int(str(body["retry_after_seconds"])) <= 60
    durable = await http.post("/api/v1/durable/workflows", json={"workflow_type": "ConversationWorkflow", "input": {}},
                              headers=own.headers(p))
    assert_quota(durable, 429, "runs_per_minute")
    listed = await http.post(f"{WORKFLOWS}/runs", json={"page_size": 100}, headers=own.headers(p))
    assert listed.status_code == 200
    for wid, rid in started:
        await http.post(run_path(wid, rid) + "/actions/terminate", headers=own.headers(p))


async def test_open_streams_are_bounded_per_project_and_per_process(own: OwnGateway, http: httpx.AsyncClient) -> None:
    p, q, r = project(), project(), project()
    runs = {name: await execute(http, "ConversationWorkflow", {}, headers=own.headers(name)) for name in (p, q, r)}
    async with AsyncExitStack() as streams:

        async def open_stream(name: str, user: str) -> httpx.Response:
            response = await streams.enter_async_context(
                http.stream("GET", run_path(*runs[name]) + "/stream", headers=own.headers(name, user)))
            if response.status_code != 200:
                await response.aread()
            return response

        for n in range(STREAMS_PER_PROJECT):  # two users, one project
            assert (await open_stream(p, f"u{n}")).status_code == 200
        over = await open_stream(p, "u-third")
        assert_quota(over, 429, "streams_per_project")
        assert (await open_stream(q, "u")).status_code == 200  # the process's third
        assert_quota(await open_stream(r, "u"), 429, "streams_per_process")
        metrics = (await http.get("/metrics")).text
        assert 'signalway_quota_usage{quota="streams_per_process"} 3.0' in metrics
        assert f'signalway_quota_usage{{quota="streams_per_project"}} {float(STREAMS_PER_PROJECT)}' in metrics
    for name, (wid, rid) in runs.items():
        await http.post(run_path(wid, rid) + "/actions/terminate", headers=own.headers(name))


async def test_metrics_show_each_quota_its_limit_and_refusals(own: OwnGateway, http: httpx.AsyncClient) -> None:
    p = project()
    for n in range(WAITING_TRIGGERS + 1):
        await http.post("/v1/events", json={"event_key": f"m:{n}", "job_run_id": "j"}, headers=own.headers(p))
    metrics = (await http.get("/metrics")).text
    for quota, limit in (("update_bytes", UPDATE_BYTES), ("waiting_triggers", WAITING_TRIGGERS),
                         ("waiting_trigger_bytes", WAITING_TRIGGER_BYTES), ("runs_per_minute", RUNS_PER_MINUTE),
                         ("trigger_payload_bytes", TRIGGER_PAYLOAD_BYTES),
                         ("streams_per_project", STREAMS_PER_PROJECT), ("streams_per_process", STREAMS_PER_PROCESS)):
        assert f'signalway_quota_limit{{quota="{quota}"}} {float(limit)}' in metrics, quota
    assert f'signalway_quota_usage{{quota="waiting_triggers"}} {float(WAITING_TRIGGERS)}' in metrics
    assert 'signalway_quota_exceeded_total{quota="waiting_triggers"}' in metrics
