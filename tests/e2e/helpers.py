from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

T = TypeVar("T")

DURABLE = "/api/v1/durable/workflows"


async def eventually(probe: Callable[[], Awaitable[T | None]], *, within: float = 20, what: str = "") -> T:
    """Poll until `probe` returns something truthy (visibility and workflows are asynchronous)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await probe()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what or probe}")
        await asyncio.sleep(0.1)


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


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["title"]
    assert body["instance"] == response.request.url.path
    return body


WORKFLOWS = "/api/v1/workflows"


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
