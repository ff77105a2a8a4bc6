"""The gateway's API from a test's side: its paths, readiness, and the requests most tests make."""

from __future__ import annotations

import time
from typing import Any

import httpx

from signalway.localstack import ManagedProcess
from tests.helpers.polling import eventually

DURABLE = "/api/v1/durable/workflows"
WORKFLOWS = "/api/v1/workflows"


def wait_ready(url: str, process: ManagedProcess, *, path: str = "/readyz", timeout: float = 60) -> None:
    """Poll `url + path` until it answers 200, failing early (with its log) if `process` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.running():
            raise RuntimeError(f"{process.name} exited:\n{process.tail(40)}")
        try:
            if httpx.get(url + path, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{process.name} not ready:\n{process.tail(40)}")


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The RFC 9457 problem `response` carries, checked for `status` and `code`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["title"]
    assert body["instance"] == response.request.url.path
    return body


# -- the durable surface -------------------------------------------------------------------------


async def create(http: httpx.AsyncClient, workflow_type: str, input: Any, **kwargs: Any) -> dict[str, Any]:
    response = await http.post(DURABLE, json={"workflow_type": workflow_type, "input": input}, **kwargs)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def wait_status(http: httpx.AsyncClient, workflow_id: str, status: str, **kwargs: Any) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        body: dict[str, Any] = (await http.get(f"{DURABLE}/{workflow_id}", **kwargs)).json()
        return body if body.get("status") == status else None

    return await eventually(probe, what=f"{workflow_id} to be {status}")


# -- the runs surface ----------------------------------------------------------------------------


async def execute(http: httpx.AsyncClient, workflow_type: str, vars: Any = None, **body: Any) -> tuple[str, str]:
    """Start a run on the runs surface; returns (workflow_id, run_id)."""
    headers = body.pop("headers", None)
    response = await http.post(f"{WORKFLOWS}/execute/{workflow_type}", json={"vars": vars, **body}, headers=headers)
    assert response.status_code == 200, response.text
    [started] = response.json()
    return started["workflow_id"], started["run_id"]


def run_path(workflow_id: str, run_id: str) -> str:
    return f"{WORKFLOWS}/runs/{workflow_id}/{run_id}"


async def wait_run(http: httpx.AsyncClient, workflow_id: str, run_id: str, status: str,
                   **kwargs: Any) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        body: dict[str, Any] = (await http.get(run_path(workflow_id, run_id), **kwargs)).json()
        return body if body.get("status") == status else None

    return await eventually(probe, what=f"run {run_id} to be {status}")


async def listed(http: httpx.AsyncClient, path: str, filters: dict[str, Any], **kwargs: Any) -> list[dict[str, Any]]:
    response = await http.post(path, json={"page_size": 1000, **filters}, **kwargs)
    assert response.status_code == 200, response.text
    runs: list[dict[str, Any]] = response.json()["runs"]
    return runs
