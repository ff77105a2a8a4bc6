"""Progress updates (seed 001): publish, poll and SSE streams against real processes."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from httpx_sse import aconnect_sse

from signalway.localstack import ManagedProcess, free_port, start_redis
from signalway.updates import updates_key
from tests.helpers.gateway import Gateway, gateway_env
from tests.helpers.http import WORKFLOWS, assert_problem, execute, run_path, wait_ready, wait_run
from tests.helpers.stack import Stack


def post_path(run_id: str) -> str:
    return f"{WORKFLOWS}/runs/{run_id}/updates"


@dataclass
class Frame:
    id: str
    data: dict[str, Any]


@asynccontextmanager
async def stream(http: httpx.AsyncClient, path: str, **kwargs: Any) -> AsyncIterator[AsyncIterator[Frame]]:
    async with aconnect_sse(http, "GET", path, **kwargs) as source:
        assert source.response.status_code == 200, await source.response.aread()
        assert source.response.headers["content-type"].startswith("text/event-stream")

        async def frames() -> AsyncIterator[Frame]:
            async for event in source.aiter_sse():
                if not event.data:
                    continue  # a heartbeat comment
                assert event.event == "message"  # plain `data:` frames, no event names
                yield Frame(id=event.id, data=json.loads(event.data))

        yield frames()


async def take(frames: AsyncIterator[Frame], count: int, within: float = 20) -> list[Frame]:
    async def collect() -> list[Frame]:
        got = []
        async for frame in frames:
            got.append(frame)
            if len(got) == count:
                break
        return got

    return await asyncio.wait_for(collect(), within)


async def until_end(frames: AsyncIterator[Frame], within: float = 30) -> list[Frame]:
    async def collect() -> list[Frame]:
        return [frame async for frame in frames]

    return await asyncio.wait_for(collect(), within)


async def publish(http: httpx.AsyncClient, run_id: str, n: int, **kwargs: Any) -> None:
    response = await http.post(post_path(run_id), json={"type": "PROGRESS", "message": f"m{n}",
                                                        "details": {"n": n}}, **kwargs)
    assert response.status_code == 201, response.text
    assert response.json() == {"success": True}


async def a_run(http: httpx.AsyncClient, **kwargs: Any) -> tuple[str, str]:
    return await execute(http, "ApprovalWorkflow", {"subject": "carrier of updates"}, **kwargs)


async def test_posted_updates_are_polled_in_order_with_the_seed_shape(http: httpx.AsyncClient) -> None:
    wid, rid = await a_run(http)
    for n in range(5):
        await publish(http, rid, n)
    bare = await http.post(post_path(rid), json={})
    assert bare.status_code == 201
    body = (await http.get(f"{run_path(wid, rid)}/updates", params={"since": 0})).json()
    messages = body["messages"]
    assert [m["message"] for m in messages] == ["m0", "m1", "m2", "m3", "m4", "UPDATE"]
    assert [m["id"] for m in messages] == [1, 2, 3, 4, 5, 6]
    stamps = [m["timestamp"] for m in messages]
    assert stamps == sorted(set(stamps)) and stamps[0] > 1_700_000_000_000
    assert messages[0] == {"id": 1, "timestamp": stamps[0], "workflow_run_id": rid, "type": "PROGRESS",
                           "message": "m0", "details": {"n": 0}, "workstream_id": None}
    assert messages[-1]["type"] == "UPDATE" and messages[-1]["details"] is None
    later = (await http.get(f"{run_path(wid, rid)}/updates", params={"since": stamps[2]})).json()["messages"]
    assert [m["id"] for m in later] == [4, 5, 6]
    default = (await http.get(f"{run_path(wid, rid)}/updates")).json()["messages"]
    assert len(default) == 6
    await http.post(f"{run_path(wid, rid)}/actions/terminate")


async def test_a_run_keeps_its_newest_1000_updates_for_90_days(http: httpx.AsyncClient,
                                                              redis: aioredis.Redis) -> None:
    wid, rid = await a_run(http)
    for chunk in range(0, 1010, 50):
        await asyncio.gather(*[publish(http, rid, n) for n in range(chunk, min(chunk + 50, 1010))])
    messages = (await http.get(f"{run_path(wid, rid)}/updates")).json()["messages"]
    assert len(messages) == 1000
    assert [m["id"] for m in messages] == list(range(11, 1011))
    ttl = await redis.ttl(updates_key(rid))
    assert 90 * 24 * 3600 - 60 < ttl <= 90 * 24 * 3600
    await http.post(f"{run_path(wid, rid)}/actions/terminate")


async def test_bad_update_requests_are_problems(http: httpx.AsyncClient, gateway: Gateway) -> None:
    wid, rid = await a_run(http)
    path = f"{run_path(wid, rid)}/updates"
    for since in ("abc", "1e999", "nan"):
        assert_problem(await http.get(path, params={"since": since}), 400, "invalid_request")
    assert_problem(await http.get(f"{run_path(wid, rid)}/stream", params={"since": "x"}), 400, "invalid_request")
    assert_problem(await http.post(post_path(rid), json={"details": "x" * 70_000}), 413, "payload_too_large")
    assert_problem(await http.post(post_path(rid), json={"type": 5}), 422, "invalid_request")
    assert_problem(await http.post(post_path(rid), json={"colour": "red"}), 422, "invalid_request")
    intruder = {"headers": gateway.headers(project="beta", user="mallory")}
    assert_problem(await http.get(path, **intruder), 404, "workflow_not_found")
    assert_problem(await http.get(f"{run_path(wid, rid)}/stream", **intruder), 404, "workflow_not_found")
    assert_problem(await http.post(post_path(rid), json={"message": "spoof"}, **intruder), 404, "workflow_not_found")
    assert_problem(await http.post(post_path("00000000-0000-0000-0000-000000000000"), json={}),
                   404, "workflow_not_found")
    assert (await http.get(path)).json()["messages"] == []
    await http.post(f"{run_path(wid, rid)}/actions/terminate")


async def test_stream_sends_backlog_then_live_and_ends_when_the_run_closes(http: httpx.AsyncClient) -> None:
    wid, rid = await a_run(http)
    for n in range(3):
        await publish(http, rid, n)
    async with stream(http, f"{run_path(wid, rid)}/stream", params={"since": 0}) as frames:
        backlog = await take(frames, 3)
        assert [f.data["message"] for f in backlog] == ["m0", "m1", "m2"]
        assert [f.id for f in backlog] == ["1", "2", "3"]
        await publish(http, rid, 3)
        [live] = await take(frames, 1)
        assert live.id == "4" and live.data["details"] == {"n": 3}
        await http.post(f"{run_path(wid, rid)}/signal/approve", json={"approver": "ann"})
        [final] = await until_end(frames)
    # The closing frame carries no id of its own: a client's Last-Event-ID stays on the last message.
    assert final.id == "4" and final.data["type"] == "WORKFLOW_CLOSED"
    assert final.data["details"]["status"] == "COMPLETED"


async def test_skip_history_and_access_token_for_event_source_clients(http: httpx.AsyncClient,
                                                                     gateway: Gateway) -> None:
    wid, rid = await a_run(http)
    await publish(http, rid, 0)
    bare = httpx.AsyncClient(base_url=gateway.url, timeout=30)
    async with bare, stream(bare, f"{run_path(wid, rid)}/stream",
                            params={"skipHistory": "true", "access_token": gateway.token()}) as frames:
        await asyncio.sleep(0.3)
        await publish(http, rid, 1)
        [first] = await take(frames, 1)
        assert first.data["message"] == "m1" and first.id == "2"
    async with httpx.AsyncClient(base_url=gateway.url) as anonymous:
        assert_problem(await anonymous.get(f"{run_path(wid, rid)}/stream"), 401, "unauthorized")
    await http.post(f"{run_path(wid, rid)}/actions/terminate")


async def test_reconnect_with_last_event_id_or_since_has_no_gap_and_no_duplicate(http: httpx.AsyncClient) -> None:
    wid, rid = await a_run(http)
    for n in range(6):
        await publish(http, rid, n)
    async with stream(http, f"{run_path(wid, rid)}/stream") as frames:
        seen = await take(frames, 4)
    for n in range(6, 9):
        await publish(http, rid, n)
    async with stream(http, f"{run_path(wid, rid)}/stream", headers={"Last-Event-ID": seen[-1].id}) as frames:
        resumed = await take(frames, 5)
    assert [int(f.id) for f in seen + resumed] == list(range(1, 10))
    since = seen[1].data["timestamp"]
    async with stream(http, f"{run_path(wid, rid)}/stream", params={"since": since}) as frames:
        again = await take(frames, 7)
    assert [int(f.id) for f in again] == list(range(3, 10))
    assert_problem(await http.get(f"{run_path(wid, rid)}/stream", headers={"Last-Event-ID": "x"}),
                   400, "invalid_request")
    await http.post(f"{run_path(wid, rid)}/actions/terminate")


async def test_clients_joining_while_messages_flow_see_each_exactly_once(http: httpx.AsyncClient) -> None:
    """The backlog→live handover race: publish continuously while clients connect."""
    wid, rid = await a_run(http)
    total = 150
    done = asyncio.Event()

    async def publisher() -> None:
        for n in range(total):
            await publish(http, rid, n)
            if n % 10 == 0:
                await asyncio.sleep(0.01)
        done.set()

    async def client(delay: float) -> list[int]:
        await asyncio.sleep(delay)
        async with stream(http, f"{run_path(wid, rid)}/stream", params={"since": 0}) as frames:
            return [int(f.id) for f in await take(frames, total, within=60)]

    results = await asyncio.gather(publisher(), *[client(i * 0.03) for i in range(12)])
    for ids in results[1:]:
        assert ids == list(range(1, total + 1))
    await http.post(f"{run_path(wid, rid)}/actions/terminate")


async def test_workflows_publish_progress_and_answers_through_the_stream(http: httpx.AsyncClient) -> None:
    wid, rid = await execute(http, "ConversationWorkflow", {})
    async with stream(http, f"{run_path(wid, rid)}/stream") as frames:
        await http.post(f"{run_path(wid, rid)}/signal/UserInput", json={"message": "hello"})
        [answer] = await take(frames, 1)
        assert (answer.data["type"], answer.data["message"]) == ("ANSWER", "echo: hello")
        await http.post(f"{run_path(wid, rid)}/signal/UserInput", json={"message": "bye"})
        rest = await until_end(frames)
    assert [f.data["type"] for f in rest] == ["ANSWER", "WORKFLOW_CLOSED"]

    wid, rid = await execute(http, "StandardContentIngestion", {"documentId": "d-s", "parts": 3})
    await wait_run(http, wid, rid, "COMPLETED")
    async with stream(http, f"{run_path(wid, rid)}/stream") as frames:
        frames_ = await until_end(frames)
    assert [f.data["details"].get("current") for f in frames_[:-1]] == [1, 2, 3]
    assert frames_[-1].data["type"] == "WORKFLOW_CLOSED"



async def test_resuming_by_since_with_nothing_newer_sends_no_older_message(http: httpx.AsyncClient) -> None:
    """`since` = the last message's timestamp: the backlog is empty, and the next live message is
    the first frame (never the kept ones again as a "gap" before it)."""
    wid, rid = await a_run(http)
    for n in range(3):
        await publish(http, rid, n)
    last = (await http.get(f"{run_path(wid, rid)}/updates")).json()["messages"][-1]
    for params in ({"since": last["timestamp"]}, {"since": last["timestamp"], "skipHistory": "true"}):
        async with stream(http, f"{run_path(wid, rid)}/stream", params=params) as frames:
            await asyncio.sleep(0.3)
            await publish(http, rid, 9)
            [first] = await take(frames, 1)
        assert first.data["message"] == "m9", params
    await http.post(f"{run_path(wid, rid)}/actions/terminate")


async def test_skip_history_still_replays_after_since_or_last_event_id(http: httpx.AsyncClient) -> None:
    """How the Vertesia clients stream: the backlog by GET, then `skipHistory=true&since=<the last
    timestamp they saw>`; what was published in between comes first."""
    wid, rid = await a_run(http)
    await publish(http, rid, 0)
    seen = (await http.get(f"{run_path(wid, rid)}/updates")).json()["messages"][-1]
    await publish(http, rid, 1)
    async with stream(http, f"{run_path(wid, rid)}/stream",
                      params={"skipHistory": "true", "since": seen["timestamp"]}) as frames:
        [between] = await take(frames, 1)
    async with stream(http, f"{run_path(wid, rid)}/stream", params={"skipHistory": "true"},
                      headers={"Last-Event-ID": "1"}) as frames:
        [resumed] = await take(frames, 1)
    assert (between.id, between.data["message"]) == (resumed.id, resumed.data["message"]) == ("2", "m1")
    await http.post(f"{run_path(wid, rid)}/actions/terminate")


# -- a gateway of our own: small buffers, a Redis we can stop, a restart -------------------------


@dataclass
class OwnGateway:
    url: str
    process: ManagedProcess
    redis: ManagedProcess
    env: dict[str, str]
    log_dir: Any


@pytest.fixture
def own_gateway(stack: Stack, gateway: Gateway, tmp_path: Any) -> Iterator[OwnGateway]:
    port, redis_port = free_port(), free_port()
    redis_process = start_redis(tmp_path / "redis", port=redis_port, persistent=False)
    env = gateway_env(stack, port, gateway.secret, "", SIGNALWAY_STREAM_BUFFER="4",
                      SIGNALWAY_SSE_PING_SECONDS="0.5", SIGNALWAY_RETRY_AFTER_SECONDS="3")
    env["SIGNALWAY_REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
    del env["SIGNALWAY_JWT_PUBLIC_KEY"]
    process = ManagedProcess("own-gateway", [sys.executable, "-m", "signalway", "gateway"], env=env,
                             log_path=tmp_path / "gateway.log")
    own = OwnGateway(url=f"http://127.0.0.1:{port}", process=process, redis=redis_process, env=env,
                     log_dir=tmp_path)
    try:
        wait_ready(own.url, process)
        yield own
    finally:
        own.process.stop()
        own.redis.stop()


async def test_a_slow_client_is_dropped_without_stalling_others(own_gateway: OwnGateway, gateway: Gateway) -> None:
    async with httpx.AsyncClient(base_url=own_gateway.url, headers=gateway.headers(), timeout=60) as http:
        wid, rid = await a_run(http)
        big = "x" * 60_000
        async with aconnect_sse(http, "GET", f"{run_path(wid, rid)}/stream") as slow, \
                stream(http, f"{run_path(wid, rid)}/stream") as fast:
            count = 200

            async def publish_big() -> None:
                for n in range(count):
                    response = await http.post(post_path(rid), json={"message": f"big{n}", "details": big})
                    assert response.status_code == 201

            fast_ids, _ = await asyncio.gather(take(fast, count, within=60), publish_big())
            assert [int(f.id) for f in fast_ids] == list(range(1, count + 1))
            # The slow client (it read nothing so far) was dropped with a clear last event.
            events = [e async for e in slow.aiter_sse() if e.data]
        final = json.loads(events[-1].data)
        assert final["type"] == "STREAM_OVERFLOW" and "Last-Event-ID" in final["message"]
        assert len(events) < count
        await http.post(f"{run_path(wid, rid)}/actions/terminate")


async def test_redis_down_means_503_and_a_clean_stream_end(own_gateway: OwnGateway, gateway: Gateway) -> None:
    async with httpx.AsyncClient(base_url=own_gateway.url, headers=gateway.headers(), timeout=60) as http:
        wid, rid = await a_run(http)
        await publish(http, rid, 0)
        async with stream(http, f"{run_path(wid, rid)}/stream") as frames:
            [first] = await take(frames, 1)
            assert first.data["message"] == "m0"
            own_gateway.redis.stop()
            [final] = await until_end(frames)
        assert final.data["type"] == "STREAM_INTERRUPTED"
        for response in (await http.get(f"{run_path(wid, rid)}/updates"),
                         await http.post(post_path(rid), json={"message": "lost?"}),
                         await http.get(f"{run_path(wid, rid)}/stream")):
            body = assert_problem(response, 503, "backend_unavailable")
            assert body["retry_after_seconds"] == 3
        await http.post(f"{run_path(wid, rid)}/actions/terminate")


async def test_a_gateway_restart_mid_stream_loses_nothing(own_gateway: OwnGateway, gateway: Gateway) -> None:
    headers = gateway.headers()
    async with httpx.AsyncClient(base_url=own_gateway.url, headers=headers, timeout=60) as http:
        wid, rid = await a_run(http)
        for n in range(3):
            await publish(http, rid, n)
        async with stream(http, f"{run_path(wid, rid)}/stream") as frames:
            seen = await take(frames, 3)
            own_gateway.process.popen.terminate()
            farewell = await until_end(frames)
        assert [f.data["type"] for f in farewell] == ["STREAM_INTERRUPTED"]
        assert await asyncio.to_thread(own_gateway.process.popen.wait, 20) == 0
        own_gateway.process.stop()

    own_gateway.process = ManagedProcess("own-gateway-2", [sys.executable, "-m", "signalway", "gateway"],
                                         env=own_gateway.env, log_path=own_gateway.log_dir / "gateway2.log")
    wait_ready(own_gateway.url, own_gateway.process)
    async with httpx.AsyncClient(base_url=own_gateway.url, headers=headers, timeout=60) as http:
        for n in range(3, 5):
            await publish(http, rid, n)
        async with stream(http, f"{run_path(wid, rid)}/stream", headers={"Last-Event-ID": seen[-1].id}) as frames:
            resumed = await take(frames, 2)
        assert [int(f.id) for f in seen + resumed] == [1, 2, 3, 4, 5]
        assert [f.data["message"] for f in resumed] == ["m3", "m4"]
        await http.post(f"{run_path(wid, rid)}/actions/terminate")


async def test_idle_streams_get_heartbeat_comments(own_gateway: OwnGateway, gateway: Gateway) -> None:
    async with httpx.AsyncClient(base_url=own_gateway.url, headers=gateway.headers(), timeout=60) as http:
        wid, rid = await a_run(http)
        comments: list[str] = []

        async def read() -> None:
            async with http.stream("GET", f"{run_path(wid, rid)}/stream") as response:
                async for line in response.aiter_lines():
                    if line.startswith(":"):
                        comments.append(line)
                        if len(comments) == 2:
                            return

        await asyncio.wait_for(read(), 10)  # the own gateway pings every 0.5 s
        assert all(c.startswith(": ping") for c in comments)
        await http.post(f"{run_path(wid, rid)}/actions/terminate")
