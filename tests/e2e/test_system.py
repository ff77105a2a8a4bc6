"""Health, readiness, metrics, OpenAPI, route errors — and what happens when backends are down."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser

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
            declared = {"application/json", "application/problem+json",
                        *(kind for answer in methods[method]["responses"].values() for kind in answer.get("content", {}))}
            assert response.headers.get("content-type", "").split(";")[0] in declared, path
            if response.status_code == 404:
                assert response.json()["code"] != "route_not_found", path


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


async def test_docs_serves_the_api_reference_from_its_own_assets(http: httpx.AsyncClient, gateway: Gateway) -> None:
    page = await http.get("/docs", headers={"Authorization": ""})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    parser = _Assets()
    parser.feed(page.text)
    assert len(parser.urls) >= 3
    for url in parser.urls:
        assert url.startswith("/") and not url.startswith("//"), url  # same origin: no CDN
        asset = await http.get(url, headers={"Authorization": ""})
        assert asset.status_code == 200 and asset.content, url
    init = (await http.get("/docs/assets/signalway-docs.js")).text
    assert "validatorUrl: null" in init and "http" not in init  # nothing called beyond this origin
    assert (await http.get("/docs/assets/index.html")).status_code == 404  # only the listed assets


async def test_the_index_links_everything_as_html_or_json(http: httpx.AsyncClient) -> None:
    page = await http.get("/", headers={"Authorization": ""})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for href in ("/docs", "/openapi.json", "/healthz", "/readyz", "/metrics"):
        assert f'href="{href}"' in page.text
    index = await http.get("/", headers={"Accept": "application/json"})
    assert index.headers["content-type"] == "application/json"
    assert index.json()["links"] == {"docs": "/docs", "openapi": "/openapi.json", "health": "/healthz",
                                     "ready": "/readyz", "metrics": "/metrics", "temporal_ui": None}


async def test_the_docs_page_renders_the_operations_in_a_browser(
        gateway: Gateway, browser: Browser, tmp_path: Path) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    requested: list[str] = []
    errors: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    opened = await page.goto(gateway.url + "/docs")
    assert opened is not None and opened.status == 200
    await page.wait_for_selector("text=sendUserSignal", timeout=20_000)  # the operation ids are shown
    assert await page.locator("text=createDurableWorkflow").count() >= 1
    shot = tmp_path / "docs.png"
    await page.screenshot(path=str(shot))
    print(f"screenshot: {shot}")
    assert all(u.startswith(gateway.url + "/") for u in requested), requested
    assert errors == []
    await context.close()


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
