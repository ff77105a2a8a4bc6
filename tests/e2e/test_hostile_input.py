"""Hostile JSON bodies get a 400 problem on every route that reads one, against the real gateway.

Each body is a valid request for a valid caller on a running workflow (or a waiting trigger),
with one hostile value where the payload goes: so whatever the route checks first passes,
and the body parser is what refuses it. Never a 500, never a reset.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable

import httpx
import pytest

from signalway.gateway.routing import MAX_JSON_DEPTH, MAX_JSON_NUMBER_CHARS
from tests.helpers.http import DURABLE, WORKFLOWS, assert_problem, create, execute, run_path
from tests.helpers.polling import eventually

HOSTILE: dict[str, tuple[bytes, str]] = {
    # name: (the value, what the problem's detail says)
    "nested-1000": (b"[" * 1000 + b"1" + b"]" * 1000, f"deeper than {MAX_JSON_DEPTH}"),
    "integer-5000-digits": (b"9" * 5000, f"longer than {MAX_JSON_NUMBER_CHARS}"),
    "NaN": (b"NaN", "NaN"),
    "Infinity": (b"Infinity", "Infinity"),
    "1e999": (b"1e999", "out of range"),
}

# A route: (a label, how to build (path, body) around the hostile value from the fixtures' ids).
Ids = dict[str, str]
Build = Callable[[Ids, bytes], tuple[str, bytes]]
ROUTES: dict[str, Build] = {
    "durable-signal": lambda ids, v: (f"{DURABLE}/{ids['durable']}/signal",
                                      b'{"signal_type":"UserInput","payload":{"message":' + v + b"}}"),
    "durable-create": lambda ids, v: (DURABLE, b'{"workflow_type":"ConversationWorkflow","input":{"x":' + v + b"}}"),
    "runs-execute": lambda ids, v: (f"{WORKFLOWS}/execute/ConversationWorkflow", b'{"vars":{"x":' + v + b"}}"),
    "runs-signal": lambda ids, v: (f"{run_path(ids['wid'], ids['rid'])}/signal/UserInput",
                                   b'{"message":' + v + b"}"),
    "event-send": lambda ids, v: (f"/v1/events/{ids['key']}/send", b'{"amount":' + v + b"}"),
    "event-prefix-send": lambda ids, v: (f"/v1/events/prefix/{ids['key']}/send", v),
    "post-update": lambda ids, v: (f"{WORKFLOWS}/runs/{ids['rid']}/updates",
                                   b'{"type":"hostile","details":{"n":' + v + b"}}"),
    "stream-token": lambda ids, v: (f"{run_path(ids['wid'], ids['rid'])}/stream-token", b'{"ttl_seconds":' + v + b"}"),
    "resume": lambda ids, v: ("/public/send-user-signal/" + ids["signal_id"], b'{"variables":{"x":' + v + b"}}"),
}


@pytest.fixture(scope="module")
async def ids(http: httpx.AsyncClient) -> Ids:
    """A running conversation on each surface and a waiting trigger, all the caller's own."""
    durable = await create(http, "ConversationWorkflow", {})
    wid, rid = await execute(http, "ConversationWorkflow", {})
    key = f"hostile-{uuid.uuid4().hex[:12]}"
    waiting = await http.post("/v1/events", json={"event_key": key, "job_run_id": "job-1", "timeout_secs": 600})
    assert waiting.status_code == 201, waiting.text
    return {"durable": durable["id"], "wid": wid, "rid": rid, "key": key,
            # A resume capability is 43 url-safe characters; the body is read before it is looked up.
            "signal_id": secrets.token_urlsafe(32)}


@pytest.mark.parametrize("value", sorted(HOSTILE))
@pytest.mark.parametrize("route", sorted(ROUTES))
async def test_hostile_json_is_a_400_problem(http: httpx.AsyncClient, ids: Ids, route: str, value: str) -> None:
    hostile, reason = HOSTILE[value]
    path, body = ROUTES[route](ids, hostile)
    response = await http.post(path, content=body, headers={"content-type": "application/json"})
    problem = assert_problem(response, 400, "invalid_request")
    assert reason in problem["detail"]
    assert len(response.content) < 2_000  # the detail names the limit; it does not echo the input


async def test_nothing_reached_the_workflows_or_the_trigger(http: httpx.AsyncClient, ids: Ids) -> None:
    for route in ROUTES:  # make sure every route was hit before looking, whatever the test order
        path, body = ROUTES[route](ids, b"NaN")
        assert (await http.post(path, content=body, headers={"content-type": "application/json"})).status_code == 400

    async def history(wid: str, rid: str) -> list[str] | None:
        response = await http.get(run_path(wid, rid))
        return [e["event_type"] for e in response.json().get("history", [])] if response.status_code == 200 else None

    events = await history(ids["wid"], ids["rid"])
    assert events is not None and "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED" not in events
    durable = (await http.get(f"{DURABLE}/{ids['durable']}/events", params={"limit": 1000})).json()["data"]
    assert all(e["event_type"] != "workflow_execution_signaled" for e in durable)
    trigger = await eventually(lambda: _trigger(http, ids["key"]), what="the trigger")
    assert trigger["status"] == "waiting" and trigger["response_payload"] is None
    updates = await http.get(f"{run_path(ids['wid'], ids['rid'])}/updates")
    assert updates.status_code == 200 and "hostile" not in updates.text


async def _trigger(http: httpx.AsyncClient, key: str) -> dict[str, object] | None:
    response = await http.get(f"/v1/events/{key}")
    found: dict[str, object] | None = response.json() if response.status_code == 200 else None
    return found


async def test_a_sound_body_on_the_same_routes_still_works(http: httpx.AsyncClient, ids: Ids) -> None:
    path, body = ROUTES["runs-signal"](ids, b'"hello"')
    assert (await http.post(path, content=body, headers={"content-type": "application/json"})).status_code == 200
    path, body = ROUTES["post-update"](ids, b"1e308")
    assert (await http.post(path, content=body.replace(b"hostile", b"sound"),
                            headers={"content-type": "application/json"})).status_code == 201
