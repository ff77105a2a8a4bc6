"""Event triggers for durable waits (seed 004) against real processes."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import redis.asyncio as aioredis
from httpx_sse import aconnect_sse
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from signalway import search_attributes as sa
from signalway.localstack import ManagedProcess
from signalway.triggers import TriggerStore, prefix
from tests.helpers.gateway import API_KEY, Gateway
from tests.helpers.http import assert_problem, execute, run_path, wait_run
from tests.helpers.polling import eventually

EVENTS = "/v1/events"


def order_id() -> str:
    return "o" + uuid.uuid4().hex[:10]


async def start_order(http: httpx.AsyncClient, oid: str, timeout_secs: float = 120, **kwargs: Any) -> tuple[str, str]:
    return await execute(http, "OrderFulfillmentWorkflow", {"order_id": oid, "timeout_secs": timeout_secs},
                         **kwargs)


async def waiting(http: httpx.AsyncClient, key: str, **kwargs: Any) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        response = await http.get(f"{EVENTS}/{key}", **kwargs)
        body: dict[str, Any] = response.json()
        return body if response.status_code == 200 and body["status"] == "waiting" else None

    return await eventually(probe, what=f"a trigger waiting for {key}")


async def test_send_resumes_the_waiting_step_with_the_seed_shape(http: httpx.AsyncClient) -> None:
    oid = order_id()
    wid, rid = await start_order(http, oid)
    trigger = await waiting(http, f"order:{oid}:paid")
    assert set(trigger) == {"id", "event_key", "project_id", "source_type", "workflow_run_id",
                            "workflow_step_run_id", "job_run_id", "status", "request_payload",
                            "response_payload", "timeout_secs", "requested_at", "received_at", "expires_at", "error"}
    assert (trigger["project_id"], trigger["source_type"], trigger["workflow_run_id"]) == ("alpha", "workflow_step", rid)
    assert trigger["request_payload"] == {"order_id": oid, "step": "paid"}
    assert trigger["requested_at"].endswith("Z") and trigger["expires_at"] > trigger["requested_at"]
    assert 119 < trigger["timeout_secs"] <= 120 and trigger["received_at"] is None

    sent = await http.post(f"{EVENTS}/order:{oid}:paid/send", json={"amount": 42})
    assert sent.status_code == 200, sent.text
    body = sent.json()
    assert body["status"] == "received" and body["response_payload"] == {"amount": 42} and body["received_at"]
    again = await http.post(f"{EVENTS}/order:{oid}:paid/send", json={"amount": 42})
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    assert_problem(await http.post(f"{EVENTS}/order:{oid}:paid/send", json={"amount": 1}), 409, "conflict")

    await waiting(http, f"order:{oid}:shipped")
    assert (await http.post(f"{EVENTS}/order:{oid}:shipped/send", json={"carrier": "dhl"})).status_code == 200
    run = await wait_run(http, wid, rid, "COMPLETED")
    assert run["result"] == {"status": "fulfilled", "paid": {"amount": 42}, "shipped": {"carrier": "dhl"}}
    listed = (await http.get(EVENTS, params={"workflow_run_id": rid})).json()
    assert [t["event_key"] for t in listed["data"]] == [f"order:{oid}:shipped", f"order:{oid}:paid"]
    assert {t["status"] for t in listed["data"]} == {"received"} and listed["has_more"] is False


async def test_a_hundred_racing_sends_resume_once(http: httpx.AsyncClient) -> None:
    oid = order_id()
    wid, rid = await start_order(http, oid)
    key = f"order:{oid}:paid"
    await waiting(http, key)
    answers = await asyncio.gather(*[http.post(f"{EVENTS}/{key}/send", json={"n": n % 2}) for n in range(100)])
    statuses = [a.status_code for a in answers]
    assert set(statuses) <= {200, 409} and statuses.count(200) >= 1
    winner = next(a.json()["response_payload"] for a in answers if a.status_code == 200)
    assert all(a.json()["response_payload"] == winner for a in answers if a.status_code == 200)
    run = (await http.get(run_path(wid, rid))).json()
    delivered = [e for e in run["history"] if e["event_type"] == "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED"
                 and e["signal"]["name"] == "signalway_trigger"]
    assert len(delivered) == 1
    await http.post(f"{run_path(wid, rid)}/actions/terminate")


async def test_prefix_send_resolves_every_waiting_match_and_dry_run_only_lists(http: httpx.AsyncClient,
                                                                              gateway: Gateway) -> None:
    batch = "b" + uuid.uuid4().hex[:6]
    runs = [await start_order(http, f"{batch}-{i}") for i in range(6)]
    for i in range(6):
        await waiting(http, f"order:{batch}-{i}:paid")
    beta = {"headers": gateway.headers(project="beta", user="mallory")}
    foreign = await http.post(f"{EVENTS}/prefix/order:{batch}/send", json={"x": 1}, **beta)
    assert foreign.status_code == 200 and foreign.json()["resolved"] == 0 and foreign.json()["triggers"] == []

    dry = (await http.post(f"{EVENTS}/prefix/order:{batch}/send", params={"dry_run": "true"}, json={})).json()
    assert dry["dry_run"] is True and dry["would_resolve"] == 6 and dry["resolved"] == 0
    assert {t["status"] for t in dry["triggers"]} == {"waiting"}
    assert (await http.get(f"{EVENTS}/order:{batch}-0:paid")).json()["status"] == "waiting"

    sent = (await http.post(f"{EVENTS}/prefix/order:{batch}/send", json={"paid": True})).json()
    assert sent["resolved"] == 6
    assert sorted(t["event_key"] for t in sent["triggers"]) == sorted(f"order:{batch}-{i}:paid" for i in range(6))
    assert {t["status"] for t in sent["triggers"]} == {"received"}
    again = (await http.post(f"{EVENTS}/prefix/order:{batch}-0:paid/send", json={"paid": True})).json()
    assert again["resolved"] == 0  # nothing is waiting on that key any more
    assert_problem(await http.post(f"{EVENTS}/prefix/{'p' * 513}/send", json={}), 400, "invalid_request")
    for wid, rid in runs:
        await http.post(f"{run_path(wid, rid)}/actions/terminate")


async def test_cancel_reaches_the_workflow_and_stream_follows_the_status(http: httpx.AsyncClient,
                                                                        gateway: Gateway) -> None:
    oid = order_id()
    wid, rid = await start_order(http, oid)
    key = f"order:{oid}:paid"
    await waiting(http, key)
    seen: list[dict[str, Any]] = []

    async def watch() -> None:
        async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as anon, aconnect_sse(
                anon, "GET", f"{EVENTS}/{key}/stream", params={"access_token": gateway.token()}) as source:
            async for event in source.aiter_sse():
                if event.data:
                    seen.append(json.loads(event.data))

    watcher = asyncio.create_task(watch())
    await eventually(lambda: _true(bool(seen)), what="the stream's first frame")
    canceled = await http.delete(f"{EVENTS}/{key}")
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    await asyncio.wait_for(watcher, 20)
    assert [s["status"] for s in seen] == ["waiting", "canceled"]
    run = await wait_run(http, wid, rid, "COMPLETED")
    assert run["result"]["status"] == "canceled"
    repeat = await http.delete(f"{EVENTS}/{key}")  # idempotent
    assert repeat.status_code == 200 and repeat.json()["status"] == "canceled"
    assert_problem(await http.post(f"{EVENTS}/{key}/send", json={}), 409, "conflict")
    await waiting_for_nothing(http, f"order:{oid}:shipped")


async def waiting_for_nothing(http: httpx.AsyncClient, key: str) -> None:
    """A canceled step ends the order: the next step never registers."""
    await asyncio.sleep(0.3)
    assert_problem(await http.get(f"{EVENTS}/{key}"), 404, "not_found")


async def _true(value: bool) -> bool:
    return value


async def test_timeout_fires_with_no_gateway_involved(client: Client, redis: aioredis.Redis,
                                                      worker_process: ManagedProcess) -> None:
    oid = order_id()
    attrs = TypedSearchAttributes([SearchAttributePair(sa.PROJECT, "delta")])
    handle = await client.start_workflow("OrderFulfillmentWorkflow", {"order_id": oid, "timeout_secs": 2},
                                         id=str(uuid.uuid4()), task_queue="signalway", search_attributes=attrs)
    result = await handle.result()
    assert result["status"] == "timed_out"
    store = TriggerStore(redis)
    trigger = await store.by_key("delta", f"order:{oid}:paid")
    assert trigger is not None and trigger.status == "timed_out" and trigger.workflow_run_id == handle.result_run_id


async def test_purge_dry_run_counts_and_real_run_deletes_terminal_triggers(http: httpx.AsyncClient,
                                                                          gateway: Gateway) -> None:
    project = {"headers": gateway.headers(project="p-" + uuid.uuid4().hex[:6])}
    oid = order_id()
    wid, rid = await start_order(http, oid, **project)
    await waiting(http, f"order:{oid}:paid", **project)
    assert (await http.post(f"{EVENTS}/order:{oid}:paid/send", json={}, **project)).status_code == 200
    await waiting(http, f"order:{oid}:shipped", **project)

    stats = (await http.get(f"{EVENTS}/stats", **project)).json()
    assert stats["total_count"] == 2 and stats["received_count"] == 1 and stats["waiting_count"] == 1
    assert stats["avg_wait_duration_secs"] > 0

    dry = (await http.post(f"{EVENTS}/purge", json={"older_than_days": 0, "dry_run": True}, **project)).json()
    assert dry == {"deleted": 0, "dry_run": True, "would_delete": 1}
    assert (await http.get(f"{EVENTS}/order:{oid}:paid", **project)).status_code == 200
    kept = (await http.post(f"{EVENTS}/purge", json={"older_than_days": 1}, **project)).json()
    assert kept == {"deleted": 0, "dry_run": False, "would_delete": 0}
    real = (await http.post(f"{EVENTS}/purge", json={"older_than_days": 0}, **project)).json()
    assert real == {"deleted": 1, "dry_run": False, "would_delete": 1}
    assert_problem(await http.get(f"{EVENTS}/order:{oid}:paid", **project), 404, "not_found")
    assert (await http.get(f"{EVENTS}/order:{oid}:shipped", **project)).json()["status"] == "waiting"
    assert_problem(await http.post(f"{EVENTS}/purge", json={"older_than_days": -1}, **project), 422,
                   "invalid_request")
    await http.post(f"{run_path(wid, rid)}/actions/terminate", **project)


async def test_an_early_event_is_held_and_delivered_when_the_wait_registers(http: httpx.AsyncClient) -> None:
    oid = "early-" + uuid.uuid4().hex[:8]
    key = f"order:{oid}:paid"
    held = await http.post(f"{EVENTS}/{key}/send", json={"amount": 7})
    assert held.status_code == 202 and held.json()["status"] == "held" and held.json()["expires_at"]
    assert key in {h["event_key"] for h in (await http.get("/v1/early-events")).json()["data"]}
    not_held = await http.post(f"{EVENTS}/order:not-early:paid/send", json={})
    assert_problem(not_held, 404, "not_found")
    assert "SIGNALWAY_EARLY_EVENT_PREFIXES" in not_held.json()["detail"]  # the setting that would have held it

    wid, rid = await start_order(http, oid)

    async def paid() -> dict[str, Any] | None:
        body: dict[str, Any] = (await http.get(f"{EVENTS}/{key}")).json()
        return body if body.get("status") == "received" else None

    trigger = await eventually(paid, what="the held event to be delivered")
    assert trigger["response_payload"] == {"amount": 7}
    await waiting(http, f"order:{oid}:shipped")
    assert key not in {h["event_key"] for h in (await http.get("/v1/early-events")).json()["data"]}
    await http.post(f"{EVENTS}/order:{oid}:shipped/send", json={})
    assert (await wait_run(http, wid, rid, "COMPLETED"))["result"]["paid"] == {"amount": 7}

    other = "order:early-drop:paid"
    await http.post(f"{EVENTS}/{other}/send", json={})
    assert (await http.delete(f"/v1/early-events/{other}")).status_code == 204
    assert_problem(await http.delete(f"/v1/early-events/{other}"), 404, "not_found")


async def test_a_waiting_workflow_restores_its_trigger_after_redis_lost_it(http: httpx.AsyncClient,
                                                                          redis: aioredis.Redis,
                                                                          gateway: Gateway) -> None:
    project = "r-" + uuid.uuid4().hex[:6]
    who = {"headers": gateway.headers(project=project)}
    oid = order_id()
    wid, rid = await execute(http, "OrderFulfillmentWorkflow",
                             {"order_id": oid, "timeout_secs": 120, "reregister_secs": 1}, **who)
    key = f"order:{oid}:paid"
    await waiting(http, key, **who)
    lost = [k async for k in redis.scan_iter(match=prefix(project) + "*")]
    assert lost and await redis.delete(*lost)
    assert_problem(await http.get(f"{EVENTS}/{key}", **who), 404, "not_found")
    await waiting(http, key, **who)  # re-registered by the workflow itself
    assert (await http.post(f"{EVENTS}/{key}/send", json={"ok": 1}, **who)).status_code == 200
    await waiting(http, f"order:{oid}:shipped", **who)
    await http.post(f"{run_path(wid, rid)}/actions/terminate", **who)


async def test_jobs_register_triggers_and_other_projects_see_nothing(http: httpx.AsyncClient,
                                                                    gateway: Gateway) -> None:
    key = "job:" + uuid.uuid4().hex[:8]
    keyed = {"headers": {"Authorization": API_KEY}}  # API keys work on this surface too
    created = await http.post(EVENTS, json={"event_key": key, "job_run_id": "job-1", "timeout_secs": 60},
                              **keyed)
    assert created.status_code == 201
    assert created.json()["source_type"] == "job_run" and created.json()["job_run_id"] == "job-1"
    assert_problem(await http.post(EVENTS, json={"event_key": key, "job_run_id": "job-2"}), 409, "conflict")
    beta = {"headers": gateway.headers(project="beta", user="mallory")}
    assert_problem(await http.get(f"{EVENTS}/{key}", **beta), 404, "not_found")
    assert_problem(await http.post(f"{EVENTS}/{key}/send", json={}, **beta), 404, "not_found")
    assert_problem(await http.delete(f"{EVENTS}/{key}", **beta), 404, "not_found")
    assert (await http.get(EVENTS, params={"project_id": "alpha"}, **beta)).json()["data"] == []
    sent = await http.post(f"{EVENTS}/{key}/send", json={"done": True})
    assert sent.json()["status"] == "received"
    for bad in ({"status": "nope"}, {"source_type": "x"}, {"limit": "0"}, {"cursor": "yesterday"}):
        assert_problem(await http.get(EVENTS, params=bad), 400, "invalid_request")


async def test_a_run_says_what_it_waits_for(http: httpx.AsyncClient) -> None:
    oid = order_id()
    wid, rid = await start_order(http, oid)
    await waiting(http, f"order:{oid}:paid")
    waits = (await http.get(f"{run_path(wid, rid)}/waits")).json()
    assert [t["event_key"] for t in waits["triggers"]] == [f"order:{oid}:paid"]
    assert waits["triggers"][0]["expires_at"] and waits["signals"] == ["event_received"]
    assert waits["resume_urls"] == []
    await http.post(f"{run_path(wid, rid)}/actions/terminate")


async def test_listing_pages_with_a_date_time_cursor(http: httpx.AsyncClient, gateway: Gateway) -> None:
    who = {"headers": gateway.headers(project="l-" + uuid.uuid4().hex[:6])}
    keys = [f"job:{i}" for i in range(5)]
    for key in keys:
        assert (await http.post(EVENTS, json={"event_key": key, "job_run_id": "j"}, **who)).status_code == 201
    first = (await http.get(EVENTS, params={"limit": 2}, **who)).json()
    assert [t["event_key"] for t in first["data"]] == ["job:4", "job:3"] and first["has_more"] is True
    cursor = first["data"][-1]["requested_at"]
    second = (await http.get(EVENTS, params={"limit": 2, "cursor": cursor}, **who)).json()
    assert [t["event_key"] for t in second["data"]] == ["job:2", "job:1"]
    rest = (await http.get(EVENTS, params={"limit": 2, "cursor": second["data"][-1]["requested_at"]}, **who)).json()
    assert [t["event_key"] for t in rest["data"]] == ["job:0"] and rest["has_more"] is False
    only_waiting = (await http.get(EVENTS, params={"status": "waiting", "source_type": "job_run"}, **who)).json()
    assert len(only_waiting["data"]) == 5
