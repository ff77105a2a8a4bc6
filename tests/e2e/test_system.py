"""Health, readiness, metrics, OpenAPI, route errors — and what happens when backends are down."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import httpx
import pytest

from signalway.localstack import ManagedProcess, free_port
from tests.helpers.gateway import Gateway, gateway_env
from tests.helpers.http import DURABLE, assert_problem, wait_ready
from tests.helpers.stack import Stack


async def test_healthz_and_readyz(http: httpx.AsyncClient) -> None:
    assert (await http.get("/healthz")).json() == {"status": "ok", "checks": {}}
    ready = await http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"temporal": "ok", "redis": "ok"}


async def test_metrics_count_requests_by_route_template(http: httpx.AsyncClient) -> None:
    await http.get(f"{DURABLE}/00000000-0000-0000-0000-000000000000")
    text = (await http.get("/metrics")).text
    assert 'signalway_http_requests_total{method="GET",route="/api/v1/durable/workflows/{workflow_id}",status="404"}' in text
    assert "signalway_http_request_duration_seconds_bucket" in text


async def test_request_id_is_echoed(http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz", headers={"X-Request-ID": "trace-me-123"})
    assert response.headers["x-request-id"] == "trace-me-123"
    assert len((await http.get("/healthz")).headers["x-request-id"]) == 32


async def test_openapi_describes_every_served_durable_operation(http: httpx.AsyncClient) -> None:
    doc = (await http.get("/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    paths = doc["paths"]
    assert set(paths[DURABLE]) == {"get", "post"}
    assert set(paths[DURABLE + "/{workflow_id}/signal"]) == {"post"}
    signal = paths[DURABLE + "/{workflow_id}/signal"]["post"]
    body_ref = signal["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = doc["components"]["schemas"][body_ref.rsplit("/", 1)[1]]
    assert schema["required"] == ["signal_type"] and set(schema["properties"]) == {"signal_type", "payload"}
    assert signal["responses"]["422"]["content"]["application/problem+json"]
    events = doc["components"]["schemas"]["WorkflowEvent"]
    assert set(events["required"]) == {"id", "sequence_num", "event_type", "event_data", "created_at", "workflow_id"}
    # Every documented operation is really served (no 404 route_not_found for it).
    for path, methods in paths.items():
        concrete = path.replace("{workflow_id}", "00000000-0000-0000-0000-000000000000")
        for method in methods:
            response = await http.request(method.upper(), concrete, json={} if method == "post" else None)
            assert response.status_code != 405, (method, path)
            assert response.headers.get("content-type", "").startswith(("application/json", "application/problem+json", "text/plain")), path
            if response.status_code == 404:
                assert response.json()["code"] != "route_not_found", path


async def test_unknown_route_and_wrong_method_are_problems(http: httpx.AsyncClient) -> None:
    assert_problem(await http.get("/api/v1/nothing-here"), 404, "route_not_found")
    response = await http.delete(DURABLE)
    assert_problem(response, 405, "method_not_allowed")
    assert "GET" in response.headers["allow"] and "POST" in response.headers["allow"]


@pytest.fixture(scope="module")
def stranded_gateway(stack: Stack, gateway: Gateway) -> Iterator[str]:
    """A gateway whose Temporal and Redis addresses have nothing listening."""
    port = free_port()
    env = gateway_env(stack, port, gateway.secret, "", SIGNALWAY_RETRY_AFTER_SECONDS="7",
                      SIGNALWAY_RPC_TIMEOUT_SECONDS="2")
    env["SIGNALWAY_TEMPORAL_ADDRESS"] = f"127.0.0.1:{free_port()}"
    env["SIGNALWAY_REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"
    del env["SIGNALWAY_JWT_PUBLIC_KEY"]
    process = ManagedProcess("stranded-gateway", [sys.executable, "-m", "signalway", "gateway"], env=env,
                             log_path=stack.data_dir / "stranded-gateway.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process, path="/healthz")
        yield url
    finally:
        process.stop()


async def test_backends_down_answer_503_with_retry_advice(stranded_gateway: str, gateway: Gateway) -> None:
    async with httpx.AsyncClient(base_url=stranded_gateway, headers=gateway.headers(), timeout=30) as http:
        assert (await http.get("/healthz")).status_code == 200
        ready = await http.get("/readyz")
        assert ready.status_code == 503
        assert ready.headers["retry-after"] == "7"
        assert ready.json()["checks"]["temporal"].startswith("unavailable")
        assert ready.json()["checks"]["redis"].startswith("unavailable")

        for response in (
            await http.get(DURABLE),
            await http.post(DURABLE, json={"workflow_type": "ApprovalWorkflow", "input": {"subject": "x"}}),
            await http.get(f"{DURABLE}/00000000-0000-0000-0000-000000000000"),
            await http.post("/api/v1/workflows/runs", json={"status": "running"}),
            await http.post("/api/v1/workflows/execute/ApprovalWorkflow", json={"vars": {"subject": "x"}}),
            await http.get("/api/v1/workflows/runs/w/00000000-0000-0000-0000-000000000000"),
            await http.post("/api/v1/workflows/runs/w/00000000-0000-0000-0000-000000000000/signal/approve"),
        ):
            body = assert_problem(response, 503, "backend_unavailable")
            assert body["retry_after_seconds"] == 7
            assert response.headers["retry-after"] == "7"
        # Client mistakes are still reported as such, not as outages.
        assert_problem(await http.post(DURABLE, json={"workflow_type": "Nope"}), 422, "unknown_workflow_type")


def test_gateway_stops_cleanly_on_sigterm(stack: Stack, gateway: Gateway) -> None:
    port = free_port()
    process = ManagedProcess("sigterm-gateway", [sys.executable, "-m", "signalway", "gateway"],
                             env=gateway_env(stack, port, gateway.secret, ""),
                             log_path=stack.data_dir / "sigterm-gateway.log")
    try:
        wait_ready(f"http://127.0.0.1:{port}", process)
    finally:
        assert process.stop() == 0, process.tail()
