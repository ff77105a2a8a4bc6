"""One request followed end to end: traces, JSON logs and metrics of a gateway and a worker of
this module's own (real processes, on a task queue of their own), exporting to a collector the
test runs on loopback.

The flow is the one an operator chases most: start an ApprovalWorkflow that asks by webhook,
the receiver answers through the resume URL, the run completes.
"""

from __future__ import annotations

import json
import re
import secrets
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from signalway_examples.approval import ApprovalWorkflow
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from signalway.localstack import ManagedProcess, free_port
from signalway.tokens import mint
from tests.helpers.dashboard import SDK_METRICS
from tests.helpers.gateway import WEBHOOK_SECRET, gateway_env
from tests.helpers.http import WORKFLOWS, wait_ready, wait_run
from tests.helpers.otlp import Collector, Span, serve_collector
from tests.helpers.polling import eventually
from tests.helpers.receiver import serve_receiver
from tests.helpers.stack import Stack

START_ROUTE = f"POST {WORKFLOWS}/execute/{{workflow_type}}"
RESUME_ROUTE = "POST /public/send-user-signal/{signal_id}"


@dataclass(frozen=True)
class Traced:
    url: str
    secret: str
    resume_secret: str
    metrics_url: str
    gateway_log: Path
    worker_log: Path
    collector: Collector


@pytest.fixture(scope="module")
async def traced(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Traced]:
    logs = tmp_path_factory.mktemp("observability")
    port, metrics_port = free_port(), free_port()
    secret, resume_secret = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    async with serve_collector() as collector:
        otel = {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_BSP_SCHEDULE_DELAY": "100",  # ms: spans reach the collector promptly
            "SIGNALWAY_LOG_FORMAT": "json",
            "SIGNALWAY_TASK_QUEUE": f"traced-{uuid.uuid4().hex[:8]}",  # not the session's untraced worker
        }
        worker = ManagedProcess("traced-worker", [sys.executable, "-m", "signalway.worker"], log_path=logs / "worker.log", env={
            **otel, "SIGNALWAY_TEMPORAL_ADDRESS": stack.temporal_address, "SIGNALWAY_REDIS_URL": stack.redis_url,
            "SIGNALWAY_PUBLIC_URL": f"http://127.0.0.1:{port}", "SIGNALWAY_RESUME_SECRET": resume_secret,
            "SIGNALWAY_WEBHOOK_SECRET": WEBHOOK_SECRET, "SIGNALWAY_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32",
            "SIGNALWAY_WORKER_METRICS_ADDRESS": f"127.0.0.1:{metrics_port}",
        })
        env = gateway_env(stack, port, secret, "", SIGNALWAY_ACCESS_LOG="true", **otel)
        del env["SIGNALWAY_JWT_PUBLIC_KEY"]
        gateway = ManagedProcess("traced-gateway", [sys.executable, "-m", "signalway", "gateway"], env=env,
                                 log_path=logs / "gateway.log")
        try:
            wait_ready(f"http://127.0.0.1:{port}", gateway)
            yield Traced(f"http://127.0.0.1:{port}", secret, resume_secret, f"http://127.0.0.1:{metrics_port}/metrics",
                         logs / "gateway.log", logs / "worker.log", collector)
        finally:
            gateway.stop()
            worker.stop()


@dataclass(frozen=True)
class Flow:
    workflow_id: str
    run_id: str
    start: httpx.Response
    resume: httpx.Response
    resume_url: str
    webhook_headers: dict[str, str]
    token: str


@pytest.fixture(scope="module")
async def flow(traced: Traced) -> Flow:
    """start → webhook → resume → completed, through the traced pair."""
    token = mint(traced.secret, project="alpha", user="alice", ttl_seconds=600)
    async with httpx.AsyncClient(base_url=traced.url, timeout=30,
                                 headers={"Authorization": f"Bearer {token}"}) as http:
        async with serve_receiver() as receiver:
            start = await http.post(f"{WORKFLOWS}/execute/ApprovalWorkflow", json={
                "vars": {"subject": "ship?", "webhook_url": receiver.url, "timeout_secs": 120}})
            assert start.status_code == 200, start.text
            [started] = start.json()
            payload, headers, _ = await receiver.next_payload()
        resume_url = str(payload["resume_workflow_url"])
        async with httpx.AsyncClient(timeout=30) as anonymous:
            resume = await anonymous.post(resume_url, json={"variables": {"user_response": "approve"}})
        assert resume.status_code == 200, resume.text
        await wait_run(http, started["workflow_id"], started["run_id"], "COMPLETED")
    return Flow(started["workflow_id"], started["run_id"], start, resume, resume_url, headers, token)


def _names(spans: list[Span]) -> list[str]:
    return [f"{s.service}: {s.name}" for s in spans]


async def test_one_trace_follows_a_request_from_http_into_the_workers_activities(traced: Traced, flow: Flow) -> None:
    trace_id = flow.start.headers["x-trace-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", trace_id)
    collector = traced.collector
    http, start, run, deliver = await collector.wait_for(
        START_ROUTE, "StartWorkflow:ApprovalWorkflow", "RunWorkflow:ApprovalWorkflow", "RunActivity:deliverWebhook",
        trace_id=trace_id)
    # The gateway's HTTP span is the root; the interceptor's client span is its child.
    assert (http.service, http.kind, http.parent_id) == ("signalway-gateway", "SERVER", None)
    assert http.attributes["http.route"] == f"{WORKFLOWS}/execute/{{workflow_type}}"
    assert http.attributes["http.response.status_code"] == 200
    assert (start.service, start.kind, start.parent_id) == ("signalway-gateway", "CLIENT", http.span_id)
    # The worker continues the same trace: the workflow under the start, the activities under it.
    assert run.service == deliver.service == "signalway-worker"
    assert run.parent_id == start.span_id
    assert deliver.kind == "SERVER" and deliver.attributes["temporalRunID"] == flow.run_id
    assert http in collector.ancestors(deliver), _names(collector.ancestors(deliver))
    await collector.wait_for("RunActivity:openResumeStep", "CompleteWorkflow:ApprovalWorkflow", trace_id=trace_id)
    # The webhook carries the delivery's context, for a receiver that propagates it.
    assert flow.webhook_headers["traceparent"].split("-")[1] == trace_id


async def test_the_resume_request_is_linked_to_the_run_it_wakes(traced: Traced, flow: Flow) -> None:
    run_trace, resume_trace = flow.start.headers["x-trace-id"], flow.resume.headers["x-trace-id"]
    assert run_trace != resume_trace  # a different caller's request, maybe days later: its own trace
    collector = traced.collector
    http, signal = await collector.wait_for(RESUME_ROUTE, "SignalWorkflow:signalway_resume", trace_id=resume_trace)
    assert signal.parent_id == http.span_id and signal.kind == "CLIENT"
    # No resume token in the span: the route template names it, the path is redacted.
    assert flow.resume_url.rsplit("/", 1)[1] not in json.dumps([s.attributes for s in collector.trace(resume_trace)])
    [handled] = await collector.wait_for("HandleSignal:signalway_resume", trace_id=run_trace)
    # The run's trace shows the signal, linked to the request that sent it.
    assert (signal.trace_id, signal.span_id) in {(link.trace_id, link.span_id) for link in handled.links}


async def test_a_traced_history_replays_with_the_tracing_interceptor(client: Client, flow: Flow) -> None:
    history = await client.get_workflow_handle(flow.workflow_id, run_id=flow.run_id).fetch_history()
    replayer = Replayer(workflows=[ApprovalWorkflow], interceptors=[TracingInterceptor()],
                        data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None


def _json_lines(path: Path) -> list[dict[str, Any]]:
    lines = path.read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all(isinstance(r, dict) and {"time", "level", "logger", "message"} <= r.keys() for r in records)
    return records


async def test_json_logs_carry_request_and_trace_ids_and_no_secret(traced: Traced, flow: Flow) -> None:
    trace_id, request_id = flow.start.headers["x-trace-id"], flow.start.headers["x-request-id"]

    async def access_line() -> dict[str, Any] | None:
        return next((r for r in _json_lines(traced.gateway_log)
                     if r["logger"] == "signalway.access" and r.get("request_id") == request_id), None)

    line = await eventually(access_line, what="the start request's access line")
    assert line["trace_id"] == trace_id and line["project"] == "alpha"
    assert (line["method"], line["route"], line["status"]) == ("POST", f"{WORKFLOWS}/execute/{{workflow_type}}", 200)
    assert isinstance(line["duration_ms"], float)
    resume_lines = [r for r in _json_lines(traced.gateway_log)
                    if r.get("trace_id") == flow.resume.headers["x-trace-id"]]
    assert resume_lines and all("/public/send-user-signal/<redacted>" in r["message"] for r in resume_lines
                                if r["logger"] == "signalway.access")
    delivered = [r for r in _json_lines(traced.worker_log) if "delivered" in r["message"]]
    assert delivered and delivered[0]["trace_id"] == trace_id
    assert (delivered[0]["workflow_id"], delivered[0]["run_id"]) == (flow.workflow_id, flow.run_id)
    everything = traced.gateway_log.read_text() + traced.worker_log.read_text()
    token = flow.resume_url.rsplit("/", 1)[1]
    for secret in (token, flow.token, traced.secret, traced.resume_secret, WEBHOOK_SECRET):
        assert secret not in everything


async def test_metrics_answer_what_happened(traced: Traced, flow: Flow) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        gateway = (await http.get(traced.url + "/metrics")).text
        worker = (await http.get(traced.metrics_url)).text
    assert 'signalway_resume_outcomes_total{outcome="resumed"} 1.0' in gateway
    assert re.search(r'signalway_temporal_call_duration_seconds_count\{operation="StartWorkflow"\} [1-9]', gateway)
    assert re.search(r'signalway_temporal_call_duration_seconds_count\{operation="SignalWorkflow"\} [1-9]', gateway)
    assert re.search(r'signalway_redis_command_duration_seconds_count\{command="EVALSHA"\} [1-9]', gateway)
    assert "signalway_http_requests_in_flight " in gateway
    assert re.search(r'signalway_webhook_deliveries_total\{[^}]*attempt="1"[^}]*outcome="delivered"', worker) or \
        re.search(r'signalway_webhook_deliveries_total\{[^}]*outcome="delivered"[^}]*attempt="1"', worker), worker
    # The dashboard's Temporal SDK series are what this worker serves.
    served = set(re.findall(r"^([a-z_]+)(?:\{| )", worker, re.MULTILINE))
    assert set(SDK_METRICS) <= served, sorted(set(SDK_METRICS) - served)
