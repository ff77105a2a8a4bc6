"""The e2e flows of updates and SSE, event triggers, resume URLs and idempotency keys, on a real
Redis Cluster (the fixtures of this folder put the gateway and a worker on it), and a primary
killed mid-stream.

The flows are the single-Redis tests themselves, collected here a second time against the
cluster: the same promises hold on both layouts.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
from httpx_sse import aconnect_sse
from redis.asyncio.cluster import RedisCluster

from signalway.localstack import LocalCluster
from signalway.updates import updates_key
from tests.e2e.test_durable_workflows import (  # noqa: F401 - collected here against the cluster
    test_create_with_idempotency_key_starts_once,
    test_signal_with_same_idempotency_key_is_delivered_once,
)
from tests.e2e.test_events import (  # noqa: F401 - collected here against the cluster
    test_a_hundred_racing_sends_resume_once,
    test_an_early_event_is_held_and_delivered_when_the_wait_registers,
    test_cancel_reaches_the_workflow_and_stream_follows_the_status,
    test_listing_pages_with_a_date_time_cursor,
    test_prefix_send_resolves_every_waiting_match_and_dry_run_only_lists,
    test_purge_dry_run_counts_and_real_run_deletes_terminal_triggers,
    test_send_resumes_the_waiting_step_with_the_seed_shape,
)
from tests.e2e.test_resume import (  # noqa: F401 - collected here against the cluster
    test_concurrent_resumes_resume_exactly_once,
    test_revoke_and_extend_manage_the_step_without_cancelling_the_run,
    test_webhook_is_signed_and_the_resume_url_completes_the_step,
)
from tests.e2e.test_runs import (  # noqa: F401 - collected here against the cluster
    test_idempotent_execute_starts_once,
    test_idempotent_signal_is_delivered_once,
)
from tests.e2e.test_updates import (  # noqa: F401 - collected here against the cluster
    a_run,
    post_path,
    test_clients_joining_while_messages_flow_see_each_exactly_once,
    test_posted_updates_are_polled_in_order_with_the_seed_shape,
    test_reconnect_with_last_event_id_or_since_has_no_gap_and_no_duplicate,
    test_stream_sends_backlog_then_live_and_ends_when_the_run_closes,
    test_workflows_publish_progress_and_answers_through_the_stream,
)
from tests.helpers.http import run_path


async def test_streams_of_runs_on_every_shard_share_one_connection_per_primary(
        http: httpx.AsyncClient, redis: RedisCluster) -> None:
    """Runs land on every primary; each stream gets its own run's messages live."""
    runs = [await a_run(http) for _ in range(9)]
    await redis.initialize()
    owners = {redis.get_node_from_key(updates_key(rid)).name for _, rid in runs}  # type: ignore[union-attr]
    assert len(owners) >= 2, "nine random run ids should span more than one shard"

    async def watch(wid: str, rid: str) -> list[str]:
        got: list[str] = []
        async with aconnect_sse(http, "GET", f"{run_path(wid, rid)}/stream") as source:
            async for event in source.aiter_sse():
                if event.data:
                    got.append(json.loads(event.data)["message"])
                if len(got) == 3:
                    return got
        return got

    watchers = [asyncio.create_task(watch(wid, rid)) for wid, rid in runs]
    await asyncio.sleep(0.5)
    for n in range(3):
        for _, rid in runs:
            response = await http.post(post_path(rid), json={"type": "PROGRESS", "message": f"{rid}:{n}"})
            assert response.status_code == 201, response.text
    results = await asyncio.wait_for(asyncio.gather(*watchers), 30)
    for (_, rid), got in zip(runs, results, strict=True):
        assert got == [f"{rid}:{n}" for n in range(3)]
    for wid, rid in runs:
        await http.post(f"{run_path(wid, rid)}/actions/terminate")


async def test_a_primary_killed_mid_stream_loses_and_repeats_nothing(
        http: httpx.AsyncClient, redis: RedisCluster, redis_cluster: LocalCluster) -> None:
    """Kill -9 the primary that owns a run while a client streams it and a producer keeps
    posting (each post retried with its Idempotency-Key until acknowledged): the replica takes
    over, the stream ends with STREAM_INTERRUPTED, and the client, reconnecting with
    Last-Event-ID, sees every acknowledged update exactly once, in order."""
    wid, rid = await a_run(http)
    await redis.initialize()
    owner = redis.get_node_from_key(updates_key(rid))
    assert owner is not None
    total = 40
    acknowledged: list[str] = []

    async def post(n: int) -> None:
        body, key = {"type": "PROGRESS", "message": f"m{n}"}, str(uuid.uuid4())
        for _ in range(200):
            try:
                response = await http.post(post_path(rid), json=body, headers={"Idempotency-Key": key})
            except httpx.HTTPError:
                response = None
            if response is not None and response.status_code == 201:
                acknowledged.append(body["message"])
                return
            assert response is None or response.status_code in (503, 504), response.text
            await asyncio.sleep(0.1)
        raise AssertionError(f"update m{n} was never acknowledged")

    async def producer() -> None:
        for n in range(total):
            if n == total // 3:
                redis_cluster.kill(int(owner.port))
            await post(n)
            await asyncio.sleep(0.02)

    seen: list[dict[str, Any]] = []
    interruptions = 0

    async def consumer() -> None:
        nonlocal interruptions
        last_id: str | None = None
        while len(seen) < total:
            headers = {"Last-Event-ID": last_id} if last_id else {}
            try:
                async with aconnect_sse(http, "GET", f"{run_path(wid, rid)}/stream", headers=headers,
                                        params={} if last_id else {"since": 0}) as source:
                    if source.response.status_code != 200:
                        await asyncio.sleep(0.2)
                        continue
                    async for event in source.aiter_sse():
                        if not event.data:
                            continue
                        data = json.loads(event.data)
                        if data.get("type") == "STREAM_INTERRUPTED":
                            interruptions += 1
                            break
                        seen.append(data)
                        last_id = event.id
                        if len(seen) == total:
                            return
            except httpx.HTTPError:
                await asyncio.sleep(0.2)

    try:
        await asyncio.wait_for(asyncio.gather(producer(), consumer()), 120)
    finally:
        redis_cluster.restart(int(owner.port))
    assert sorted(acknowledged, key=lambda m: int(m[1:])) == [f"m{n}" for n in range(total)]
    assert [m["message"] for m in seen] == [f"m{n}" for n in range(total)], "each update once, in order"
    ids = [m["id"] for m in seen]
    assert ids == sorted(ids) and len(set(ids)) == total
    assert interruptions >= 1, "the stream on the killed primary must end, not hang"
    await redis.nodes_manager.initialize()  # the slot map as the cluster tells it now
    new_owner = redis.get_node_from_key(updates_key(rid))
    assert new_owner is not None and new_owner.name != owner.name
    await http.post(f"{run_path(wid, rid)}/actions/terminate")
