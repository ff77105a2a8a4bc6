"""Run-scoped stream tokens, and the bound on open streams per principal.

A stream token opens its run's `GET …/updates` and `GET …/stream` and nothing else: every
other operation of the route table answers 401, and another run's updates or stream 404
(exactly like a run the caller may not see). A second gateway process, a replica with the
session gateway's JWT secret (so the same derived stream key) and a stream bound of 2,
proves that tokens work across replicas and that the bound holds.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from signalway.gateway.app import create_app
from signalway.gateway.routing import ApiRoute
from signalway.gateway.settings import GatewaySettings
from signalway.localstack import ManagedProcess, free_port
from signalway.tokens import SUPERADMIN
from tests.helpers.gateway import Gateway, gateway_env
from tests.helpers.http import WORKFLOWS, assert_problem, execute, run_path, wait_ready
from tests.helpers.polling import eventually
from tests.helpers.stack import Stack

STREAM_CAP = 2
# What a stream token opens; every other operation that takes credentials refuses it.
OPENS = {"getRunUpdates", "streamRunUpdates"}


@dataclass(frozen=True)
class Replica:
    url: str


@pytest.fixture(scope="module")
def replica(stack: Stack, gateway: Gateway, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replica]:
    port = free_port()
    env = gateway_env(stack, port, gateway.secret, "", SIGNALWAY_MAX_STREAMS_PER_PRINCIPAL=str(STREAM_CAP))
    del env["SIGNALWAY_JWT_PUBLIC_KEY"]
    process = ManagedProcess("replica-gateway", [sys.executable, "-m", "signalway", "gateway"], env=env,
                             log_path=tmp_path_factory.mktemp("stream-tokens") / "replica.log")
    try:
        wait_ready(f"http://127.0.0.1:{port}", process)
        yield Replica(f"http://127.0.0.1:{port}")
    finally:
        process.stop()


@pytest.fixture(scope="module")
async def run(http: httpx.AsyncClient) -> tuple[str, str]:
    """A private conversation of alice's (the session client's user), with one update."""
    started = await execute(http, "ConversationWorkflow", {}, visibility="private")
    posted = await http.post(f"{WORKFLOWS}/runs/{started[1]}/updates", json={"type": "PROGRESS", "message": "one"})
    assert posted.status_code == 201, posted.text
    return started


async def stream_token(http: httpx.AsyncClient, run: tuple[str, str], headers: dict[str, str] | None = None,
                       **body: object) -> dict[str, object]:
    response = await http.post(run_path(*run) + "/stream-token", json=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    issued: dict[str, object] = response.json()
    return issued


async def first_message(client: httpx.AsyncClient, url: str) -> dict[str, object]:
    async with client.stream("GET", url) as response:
        assert response.status_code == 200, (await response.aread()).decode()
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                message: dict[str, object] = json.loads(line.removeprefix("data:"))
                return message
    raise AssertionError("the stream ended without a message")


async def test_a_stream_token_opens_its_runs_updates_and_stream(http: httpx.AsyncClient,
                                                                run: tuple[str, str]) -> None:
    token = str((await stream_token(http, run))["token"])
    async with httpx.AsyncClient(base_url=http.base_url, timeout=30) as browser:  # no credentials of its own
        for answer in (await browser.get(run_path(*run) + "/updates", params={"access_token": token}),
                       await browser.get(run_path(*run) + "/updates", headers={"Authorization": f"Bearer {token}"})):
            assert answer.status_code == 200, answer.text
            assert [m["message"] for m in answer.json()["messages"]] == ["one"]
        message = await first_message(browser, f"{run_path(*run)}/stream?access_token={token}")
        assert message["message"] == "one"


def _operations() -> dict[str, ApiRoute]:
    app = create_app(GatewaySettings(jwt_secret="x" * 32))
    return {r.operation.operation_id: r for r in app.routes if isinstance(r, ApiRoute)}


def _path(route: ApiRoute, run: tuple[str, str]) -> str:
    # The token's own run wherever the route names a run: the refusal is about the route.
    values = {"workflow_id": run[0], "run_id": run[1]}
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: values.get(m.group(1), "x"), route.path)


async def test_a_stream_token_is_refused_by_every_other_operation(http: httpx.AsyncClient,
                                                                  run: tuple[str, str]) -> None:
    token = str((await stream_token(http, run))["token"])
    checked = []
    async with httpx.AsyncClient(base_url=http.base_url, timeout=30) as browser:
        for operation_id, route in _operations().items():
            if operation_id in OPENS or not route.operation.security:
                continue
            answer = await browser.request(route.method, _path(route, run), json={} if route.method != "GET" else None,
                                           headers={"Authorization": f"Bearer {token}"})
            body = assert_problem(answer, 401, "unauthorized")
            assert "stream token" in body["detail"], f"{operation_id}: {body['detail']}"
            checked.append(operation_id)
    assert {"createStreamToken", "getRunDetails", "signalRun", "cancelRun", "postRunUpdate", "sendEvent",
            "streamEventTrigger", "getDurableWorkflow"} <= set(checked)
    # Nothing it was refused did anything: the run still runs, and has only its one update.
    assert (await http.get(run_path(*run))).json()["status"] == "RUNNING"
    assert len((await http.get(run_path(*run) + "/updates")).json()["messages"]) == 1


async def test_a_stream_token_does_not_open_another_run(http: httpx.AsyncClient, run: tuple[str, str]) -> None:
    token = str((await stream_token(http, run))["token"])
    other = await execute(http, "ConversationWorkflow", {})  # alice's too: she may watch it, her token may not
    async with httpx.AsyncClient(base_url=http.base_url, timeout=30) as browser:
        for path in (run_path(*other) + "/updates", run_path(*other) + "/stream",
                     run_path(run[0] + "-x", run[1]) + "/updates", run_path(other[0], run[1]) + "/updates"):
            assert_problem(await browser.get(path, params={"access_token": token}), 404, "workflow_not_found")


async def test_a_stream_token_lasts_an_hour_at_most_and_no_longer_than_its_caller(
        http: httpx.AsyncClient, gateway: Gateway, run: tuple[str, str]) -> None:
    now = time.time()
    # A fresh caller's token (the session client's is as old as the session: the cap below).
    fresh = {"Authorization": f"Bearer {gateway.token(ttl=4 * 3600)}"}
    assert abs(int(str((await stream_token(http, run, fresh))["expires_at"])) - (now + 3600)) < 5
    assert abs(int(str((await stream_token(http, run, fresh, ttl_seconds=60))["expires_at"])) - (now + 60)) < 5
    # More than SIGNALWAY_STREAM_TOKEN_MAX_TTL_SECONDS (1 hour here): capped.
    assert abs(int(str((await stream_token(http, run, fresh, ttl_seconds=7200))["expires_at"])) - (now + 3600)) < 5
    short = {"Authorization": f"Bearer {gateway.token(ttl=90)}"}
    response = await http.post(run_path(*run) + "/stream-token", headers=short)
    assert abs(response.json()["expires_at"] - (now + 90)) < 5
    assert_problem(await http.post(run_path(*run) + "/stream-token", json={"ttl_seconds": 0}), 422,
                   "invalid_request")


async def test_only_someone_who_may_see_the_run_gets_a_token(http: httpx.AsyncClient, gateway: Gateway,
                                                             run: tuple[str, str]) -> None:
    for project, user in (("alpha", "bob"), ("beta", "alice")):
        intruder = {"Authorization": f"Bearer {gateway.token(project, user)}"}
        assert_problem(await http.post(run_path(*run) + "/stream-token", headers=intruder), 404,
                       "workflow_not_found")


async def test_a_token_from_one_replica_opens_the_stream_on_another(
        http: httpx.AsyncClient, replica: Replica, run: tuple[str, str]) -> None:
    token = str((await stream_token(http, run))["token"])
    async with httpx.AsyncClient(base_url=replica.url, timeout=30) as browser:
        message = await first_message(browser, f"{run_path(*run)}/stream?access_token={token}")
    assert message["message"] == "one"


async def opened(client: httpx.AsyncClient, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """Open a stream, read its status line (and body, unless it is the stream), close it."""
    async with client.stream("GET", url, headers=headers) as response:
        if response.status_code != 200:
            await response.aread()
        return response


async def test_open_streams_per_principal_are_bounded(http: httpx.AsyncClient, gateway: Gateway,
                                                      replica: Replica, run: tuple[str, str]) -> None:
    token = str((await stream_token(http, run))["token"])  # alice's: it counts as alice
    stream = f"{replica.url}{run_path(*run)}/stream"
    alice = {"Authorization": f"Bearer {gateway.token()}"}
    async with httpx.AsyncClient(timeout=30) as client:
        async with contextlib.AsyncExitStack() as held:
            for url, headers in ((stream, alice), (f"{stream}?access_token={token}", None)):
                response = await held.enter_async_context(client.stream("GET", url, headers=headers))
                assert response.status_code == 200
            assert STREAM_CAP == 2
            refused = await opened(client, stream, alice)
            assert_problem(refused, 429, "rate_limited")
            assert int(refused.headers["retry-after"]) > 0
            assert_problem(await opened(client, f"{stream}?access_token={token}"), 429, "rate_limited")
            # Another principal has streams of its own.
            superadmin = {"Authorization": f"Bearer {gateway.token('alpha', 'root', (SUPERADMIN,))}"}
            assert (await opened(client, stream, superadmin)).status_code == 200
        # Closed streams give their slots back (once the gateway has seen the disconnect).
        async def opens_again() -> bool:
            return (await opened(client, stream, alice)).status_code == 200

        await eventually(opens_again, within=10, what="a slot freed by a closed stream")
