"""The trigger registry (`signalway.triggers`) against the session's real Redis, and the
registration path's refusal of keys no route can address.

The store's tests run with one bucket per project (the layout of a single Redis) and with
eight: on one Redis, eight buckets still take every fan-out and merge a cluster takes.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.crc import key_slot
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from signalway import triggers as triggers_module
from signalway.steps.contract import RegisterTriggerInput, SettleTriggerInput
from signalway.triggers import LAYOUT_KEY, TriggerStore, bucket_of, now_us, prefix
from signalway.worker.triggers import TriggerActivities
from signalway.workflow import InvalidEventKey, wait_for_event

HOUR_US = 3600 * 1_000_000


def project() -> str:
    return f"store-{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=[1, 8], ids=["shards=1", "shards=8"])
def store(request: pytest.FixtureRequest, redis: aioredis.Redis) -> TriggerStore:
    return TriggerStore(redis, shards=request.param)


async def register(store: TriggerStore, project: str, key: str, *, id: str | None = None,
                   expires_us: int | None = None, requested_us: int | None = None,
                   run_id: str = "run") -> tuple[str, str]:
    """A waiting workflow-step trigger on `key`; returns (id, status)."""
    id = id or str(uuid.uuid4())
    requested = requested_us if requested_us is not None else now_us()
    registered = await store.register(
        project=project, id=id, event_key=key, source_type="workflow_step", workflow_id="wf", run_id=run_id,
        step_run_id=f"{run_id}:{key}", job_run_id=None, request_payload={"key": key}, timeout_secs=3600.0,
        requested_us=requested, expires_us=expires_us if expires_us is not None else requested + HOUR_US,
    )
    return id, registered.status


def spread(store: TriggerStore, keys: list[str]) -> None:
    """The test's keys land in more than one bucket whenever there are several."""
    assert store.shards == 1 or len({bucket_of(k, store.shards) for k in keys}) > 1


async def test_prefix_match_finds_every_unicode_key_and_nothing_else(store: TriggerStore) -> None:
    p = project()
    wanted = ["p:a", "p:é", "p:\u0100", "p:\u4e2d", "p:\U0001f600"]
    for key in [*wanted, "q:x", "p", "o:\U0001f600"]:
        assert (await register(store, p, key))[1] == "waiting"
    assert sorted(await store.waiting_keys(p, "p:")) == sorted(wanted)
    assert await store.waiting_keys(p, "p:\u4e2d") == ["p:\u4e2d"]
    assert await store.waiting_keys(p, "p:\U0001f600") == ["p:\U0001f600"]
    assert await store.waiting_keys(p, "r") == []


async def test_a_key_leaves_the_prefix_index_when_its_trigger_stops_waiting(store: TriggerStore) -> None:
    p = project()
    await register(store, p, "p:\u0100")
    await store.send(p, "p:\u0100", json.dumps({"ok": True}), "fp")
    assert await store.waiting_keys(p, "p:") == []


async def test_send_moves_waiting_to_received_once(store: TriggerStore) -> None:
    p = project()
    id, _ = await register(store, p, "order:1:paid")

    outcome, sent_id, earlier, trigger = await store.send(p, "order:1:paid", '{"amount":5}', "fp-1")
    assert (outcome, sent_id, earlier) == ("received-now", id, "fp-1")
    assert trigger is not None and trigger.status == "received" and trigger.response_payload == {"amount": 5}

    # The second send sees the first one's outcome and its fingerprint, and changes nothing.
    outcome, sent_id, earlier, trigger = await store.send(p, "order:1:paid", '{"amount":6}', "fp-2")
    assert (outcome, sent_id, earlier) == ("received", id, "fp-1")
    assert trigger is not None and trigger.response_payload == {"amount": 5}
    stats = await store.stats(p)
    assert (stats["total_count"], stats["waiting_count"], stats["received_count"]) == (1, 0, 1)


async def test_send_to_an_unknown_key_is_missing(store: TriggerStore) -> None:
    assert (await store.send(project(), "nobody", "{}", "fp"))[0] == "missing"


async def test_unsend_makes_the_trigger_wait_again(store: TriggerStore) -> None:
    p = project()
    id, _ = await register(store, p, "k:1")
    await store.send(p, "k:1", "{}", "fp")
    await store.unsend(p, id, "other-fp")  # not the send that won: ignored
    assert (await store.by_key(p, "k:1")).status == "received"  # type: ignore[union-attr]
    await store.unsend(p, id, "fp")
    trigger = await store.by_key(p, "k:1")
    assert trigger is not None and trigger.status == "waiting" and trigger.response_payload is None
    assert await store.waiting_keys(p, "k:") == ["k:1"]
    assert (await store.stats(p))["received_count"] == 0


async def test_register_is_idempotent_and_a_second_waiter_conflicts(store: TriggerStore) -> None:
    p = project()
    id, _ = await register(store, p, "k:dup")
    assert (await register(store, p, "k:dup", id=id))[1] == "waiting"  # the re-registration
    assert (await register(store, p, "k:dup"))[1] == "conflict"
    await store.send(p, "k:dup", "{}", "fp")
    assert (await register(store, p, "k:dup", id=id))[1] == "received"


async def test_settle_only_moves_a_waiting_trigger(store: TriggerStore) -> None:
    p = project()
    id, _ = await register(store, p, "k:late")
    assert await store.settle(p, id, "timed_out", error="timed out") == "ok"
    assert await store.settle(p, id, "canceled") == "timed_out"
    assert (await store.send(p, "k:late", "{}", "fp"))[0] == "timed_out"
    assert await store.settle(p, "no-such-id", "canceled") == "missing"


async def test_a_send_after_the_deadline_times_the_trigger_out(store: TriggerStore) -> None:
    p = project()
    await register(store, p, "k:expired", expires_us=now_us() - 1)
    assert (await store.send(p, "k:expired", "{}", "fp"))[0] == "timed_out"
    assert (await store.by_key(p, "k:expired")).status == "timed_out"  # type: ignore[union-attr]


async def test_a_held_early_event_is_received_on_registration(store: TriggerStore) -> None:
    p = project()
    await store.hold(p, "k:early", '{"early":true}', ttl_seconds=60)
    id = str(uuid.uuid4())
    registered = await store.register(
        project=p, id=id, event_key="k:early", source_type="workflow_step", workflow_id="wf", run_id="run",
        step_run_id="s", job_run_id=None, request_payload=None, timeout_secs=None, requested_us=now_us(),
        expires_us=None,
    )
    assert (registered.status, registered.payload, registered.created) == ("received", {"early": True}, True)
    assert await store.held(p) == []


async def test_only_the_first_registration_creates_the_trigger(store: TriggerStore) -> None:
    # The worker counts a trigger's `waiting` transition once, though the step renews it.
    p = project()
    id = str(uuid.uuid4())
    found = [await store.register(
        project=p, id=id, event_key="k:renewed", source_type="workflow_step", workflow_id="wf", run_id="run",
        step_run_id="s", job_run_id=None, request_payload=None, timeout_secs=None, requested_us=now_us(),
        expires_us=None,
    ) for _ in range(2)]
    assert [(r.status, r.created) for r in found] == [("waiting", True), ("waiting", False)]


# -- buckets: layout, fan-out and merge -------------------------------------------------------


def _tag(key: str) -> str:
    """A key's Redis Cluster hash tag: from the first `{` to the next `}`, when not empty."""
    start = key.find("{")
    end = key.find("}", start + 1)
    return key[start + 1:end] if start != -1 and end > start + 1 else key


@pytest.mark.parametrize("name", ["plain", "we{ird", "we}ird", "}", "{}", "a%7Db", "%"])
def test_each_bucket_has_a_hash_tag_of_its_own(name: str) -> None:
    if "}" not in name:
        assert prefix(name) == f"signalway:trg:{{{name}}}:"  # one bucket: the names from before buckets
    # One bucket: no project's keys spell another's (a `}` in a name once ended the tag early).
    ones = {other: prefix(other) for other in ("plain", "we{ird", "we}ird", "}", "{}", "a%7Db", "%", "we%7Dird")}
    assert all(not a.startswith(b) for x, a in ones.items() for y, b in ones.items() if x != y)
    assert _tag(prefix(name) + "all") == _tag(prefix(name) + "key:k}{")
    tags = [_tag(prefix(name, b) + "all") for b in range(16)]
    assert len(set(tags)) == 16 and all(t.startswith(f"{b}/") for b, t in enumerate(tags))
    assert len({key_slot((prefix(name, 3) + suffix).encode()) for suffix in ("all", "id:x", "key:k}{")}) == 1
    # The escape keeps projects apart: no other project's bucket has this one's tag.
    others = {_tag(prefix(other, 3) + "all") for other in ("plain", "we{ird", "we}ird", "}", "{}", "a%7Db", "%")
              if other != name}
    assert _tag(prefix(name, 3) + "all") not in others


async def test_keys_are_named_as_before_with_one_bucket_and_by_bucket_with_more(redis: aioredis.Redis) -> None:
    p = project()
    id, _ = await register(TriggerStore(redis), p, "k:one")
    assert {k async for k in redis.scan_iter(match=f"signalway:trg:*{p}*")} == {
        (prefix(p) + suffix).encode()
        for suffix in ("id:" + id, "key:k:one", "all", "status:waiting", "waiting-keys", "run:run", "stats")}
    q = project()
    await register(TriggerStore(redis, shards=8), q, "k:one")
    bucket = bucket_of("k:one", 8)
    assert {k async for k in redis.scan_iter(match=f"signalway:trg:*{q}*")} == {
        k async for k in redis.scan_iter(match=prefix(q, bucket) + "*")}


def test_a_shard_count_out_of_range_is_refused(redis: aioredis.Redis) -> None:
    for shards in (0, -1, triggers_module.MAX_SHARDS + 1):
        with pytest.raises(ValueError, match="shard count"):
            TriggerStore(redis, shards=shards)


@pytest.fixture
async def spare_db(redis: aioredis.Redis) -> AsyncIterator[aioredis.Redis]:
    """Another database of the session's Redis, for the layout key, which is global."""
    where = redis.connection_pool.connection_kwargs
    spare = aioredis.Redis(host=where["host"], port=where["port"], db=9)
    await spare.delete(LAYOUT_KEY)
    yield spare
    await spare.delete(LAYOUT_KEY)
    await spare.aclose()


async def test_the_layout_is_recorded_once_and_another_count_is_refused(spare_db: aioredis.Redis) -> None:
    await TriggerStore(spare_db, shards=8).check_layout()
    await TriggerStore(spare_db, shards=8).check_layout()  # the same count: fine, again and again
    assert await spare_db.get(LAYOUT_KEY) == b"8"
    for other in (1, 16):
        with pytest.raises(ValueError) as refused:
            await TriggerStore(spare_db, shards=other).check_layout()
        message = str(refused.value)
        assert "in 8 bucket(s)" in message and f"configured with {other}" in message and "migration" in message
    assert await spare_db.get(LAYOUT_KEY) == b"8"


async def test_pages_cover_every_trigger_once_newest_first(store: TriggerStore) -> None:
    p = project()
    base = now_us() - HOUR_US
    # 40 instants, a few of them shared by several triggers (in several buckets).
    times = [base + i * 1000 for i in range(40)] + [base + 5000] * 4 + [base + 17_000] * 9 + [base + 39_000] * 3
    keys = [f"k:{i}" for i in range(len(times))]
    spread(store, keys)
    ids = {(await register(store, p, key, requested_us=at))[0]: at for key, at in zip(keys, times, strict=True)}
    for batch in (1, 3, 7, 200):
        seen: list[tuple[int, str]] = []
        before: int | None = None
        pages = 0
        while True:
            page = await store.page(p, before_us=before, batch=batch)
            pages += 1
            seen += [(t.requested_us, t.id) for t in page.triggers]
            if page.triggers and page.next_before_us is not None:
                assert page.next_before_us == page.triggers[-1].requested_us
            # A page ends on a whole instant: nothing it left out shares its last time.
            assert len(page.triggers) <= batch or len({t.requested_us for t in page.triggers[batch - 1:]}) == 1
            if page.next_before_us is None:
                break
            before = page.next_before_us
            assert pages < 200
        assert sorted(i for _, i in seen) == sorted(ids)  # each exactly once
        assert seen == sorted(seen, reverse=True)  # newest first, ties by id descending
        assert all(ids[i] == at for at, i in seen)
    assert (await store.page(p, before_us=base, batch=10)).triggers == []
    assert await store.page(project(), before_us=None, batch=10) == triggers_module.Page([], None)


async def test_a_page_of_one_crowded_instant_is_read_whole(store: TriggerStore) -> None:
    # More triggers in one µs than a bucket's page: the instant is read whole, not cut.
    p, at = project(), now_us()
    ids = {(await register(store, p, f"same:{i}", requested_us=at))[0] for i in range(12)}
    await register(store, p, "older", requested_us=at - 1)
    first = await store.page(p, before_us=None, batch=5)
    assert {t.id for t in first.triggers} == ids and first.next_before_us == at
    rest = await store.page(p, before_us=first.next_before_us, batch=5)
    assert [t.event_key for t in rest.triggers] == ["older"] and rest.next_before_us is None


async def test_stats_are_summed_over_the_buckets(store: TriggerStore) -> None:
    p = project()
    keys = [f"stat:{i}" for i in range(12)]
    spread(store, keys)
    ids = [(await register(store, p, key, requested_us=now_us() - 2_000_000))[0] for key in keys]
    for key in keys[:5]:
        assert (await store.send(p, key, "{}", "fp"))[0] == "received-now"
    await store.settle(p, ids[5], "timed_out", event_key=keys[5])
    await store.settle(p, ids[6], "canceled", event_key=keys[6])
    stats = await store.stats(p)
    assert {k: v for k, v in stats.items() if k != "avg_wait_duration_secs"} == {
        "total_count": 12, "waiting_count": 5, "received_count": 5, "timed_out_count": 1, "canceled_count": 1}
    received = [await store.by_key(p, k) for k in keys[:5]]
    waits = [t.received_us - t.requested_us for t in received if t is not None and t.received_us is not None]
    assert len(waits) == 5 and stats["avg_wait_duration_secs"] == pytest.approx(sum(waits) / 5 / 1_000_000)
    assert (await store.stats(project()))["avg_wait_duration_secs"] == 0.0


async def test_a_purge_deletes_exactly_what_its_dry_run_counts(store: TriggerStore,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(triggers_module, "_PURGE_BATCH", 3)  # several script calls per bucket
    p = project()
    keys = [f"purge:{i}" for i in range(30)]
    spread(store, keys)
    ids = [(await register(store, p, key, run_id="r1"))[0] for key in keys]
    for key in keys[:10]:
        await store.send(p, key, "{}", "fp")
    for id, key in zip(ids[10:20], keys[10:20], strict=True):
        await store.settle(p, id, "canceled", event_key=key)
    cutoff = now_us()
    assert (await register(store, p, "purge:late"))[1] == "waiting"
    await store.send(p, "purge:late", "{}", "fp")  # settled after the cutoff: kept

    assert await store.purge(p, older_than_us=cutoff - HOUR_US, dry_run=True) == 0
    dry = await store.purge(p, older_than_us=cutoff, dry_run=True)
    assert dry == 20
    assert await store.purge(p, older_than_us=cutoff, dry_run=False) == dry
    assert await store.purge(p, older_than_us=cutoff, dry_run=True) == 0
    assert [await store.by_key(p, k) for k in keys[:20]] == [None] * 20
    assert all(t is not None and t.status == "waiting" for t in [await store.by_key(p, k) for k in keys[20:]])
    stats = await store.stats(p)
    assert (stats["total_count"], stats["waiting_count"], stats["received_count"], stats["canceled_count"]) == \
        (11, 10, 1, 0)
    assert sorted(t.event_key for t in await store.of_run(p, "r1")) == sorted(keys[20:])
    listed = await store.page(p, before_us=None, batch=100)
    assert sorted(t.event_key for t in listed.triggers) == sorted([*keys[20:], "purge:late"])


async def test_prefix_keys_are_merged_over_the_buckets_in_order_up_to_the_limit(store: TriggerStore) -> None:
    p = project()
    keys = [f"pre:{i:02d}" for i in range(20)] + ["pre:\u00e9", "pre:\U0001f600"]
    spread(store, keys)
    for key in reversed(keys):
        await register(store, p, key)
    await register(store, p, "other:1")
    await store.send(p, "pre:03", "{}", "fp")  # no longer waiting
    expected = sorted((k for k in keys if k != "pre:03"), key=str.encode)
    assert await store.waiting_keys(p, "pre:") == expected
    assert await store.waiting_keys(p, "pre:", limit=5) == expected[:5]
    assert await store.waiting_keys(p, "pre:1") == [f"pre:{i}" for i in range(10, 20)]


async def test_by_id_without_the_event_key_finds_the_trigger(store: TriggerStore) -> None:
    p = project()
    keys = [f"id:{i}" for i in range(6)]
    spread(store, keys)
    ids = [(await register(store, p, key))[0] for key in keys]
    for id, key in zip(ids, keys, strict=True):
        found = await store.get(p, id)
        assert found is not None and found == await store.get(p, id, event_key=key)
    assert await store.settle(p, ids[0], "canceled", error="by id") == "ok"
    assert (await store.by_key(p, keys[0])).status == "canceled"  # type: ignore[union-attr]
    await store.send(p, keys[1], "{}", "fp")
    await store.unsend(p, ids[1], "fp")
    assert (await store.by_key(p, keys[1])).status == "waiting"  # type: ignore[union-attr]
    assert await store.get(p, "no-such-id") is None
    assert await store.settle(p, "no-such-id", "canceled") == "missing"


async def test_an_old_runs_settle_without_an_event_key_reaches_its_trigger(redis: aioredis.Redis) -> None:
    # A run that started before the step passed its event key settles by id alone.
    p, activities = project(), TriggerActivities(redis, shards=8)
    id, _ = await register(TriggerStore(redis, shards=8), p, "old:run")
    await activities.settle(SettleTriggerInput(project=p, trigger_id=id, status="timed_out", error="timed out"))
    trigger = await TriggerStore(redis, shards=8).by_key(p, "old:run")
    assert trigger is not None and trigger.status == "timed_out" and trigger.error == "timed out"


async def test_a_hundred_racing_sends_to_one_key_receive_once(store: TriggerStore) -> None:
    p = project()
    id, _ = await register(store, p, "race:1")
    results = await asyncio.gather(*(store.send(p, "race:1", json.dumps({"n": n}), f"fp-{n}") for n in range(100)))
    winners = [r for r in results if r[0] == "received-now"]
    assert len(winners) == 1
    winner_fp = winners[0][2]
    assert all((outcome, sent, earlier) == ("received", id, winner_fp)
               for outcome, sent, earlier, _ in results if outcome != "received-now")
    stats = await store.stats(p)
    assert (stats["received_count"], stats["waiting_count"], stats["total_count"]) == (1, 0, 1)


async def test_a_runs_triggers_and_held_events_are_gathered_from_every_bucket(store: TriggerStore) -> None:
    p = project()
    keys = [f"run:{i}" for i in range(8)]
    spread(store, keys)
    base = now_us()
    for i, key in enumerate(keys):
        await register(store, p, key, run_id="run-a" if i % 2 == 0 else "run-b", requested_us=base + i)
    assert [t.event_key for t in await store.of_run(p, "run-a")] == keys[0::2]
    assert [t.event_key for t in await store.of_run(p, "run-b")] == keys[1::2]
    assert await store.of_run(p, "run-c") == []

    early = [f"early:{i}" for i in range(6)]
    spread(store, early)
    for i, key in enumerate(early):
        await store.hold(p, key, json.dumps({"i": i}), ttl_seconds=60 + i)
    held = await store.held(p)
    assert [h["event_key"] for h in held] == early and [h["payload"] for h in held] == [{"i": i} for i in range(6)]
    assert await store.drop_held(p, early[2]) and not await store.drop_held(p, early[2])
    assert [h["event_key"] for h in await store.held(p)] == early[:2] + early[3:]


# -- keys no route can address ---------------------------------------------------------------


@pytest.mark.parametrize("key", ["stats", "purge", "prefix", "a/b", "", "a\nb"])
async def test_the_registration_activity_refuses_an_invalid_key(redis: aioredis.Redis, key: str) -> None:
    p = project()
    now = datetime.now(UTC)
    registration = RegisterTriggerInput(
        project=p, trigger_id=str(uuid.uuid4()), event_key=key, workflow_id="wf", run_id="run",
        step_run_id="s", timeout_secs=60, requested_at=now, expires_at=now + timedelta(seconds=60),
    )
    with pytest.raises(ApplicationError) as refused:
        await TriggerActivities(redis).register(registration)
    assert refused.value.type == "InvalidEventKey" and refused.value.non_retryable
    assert [k async for k in redis.scan_iter(match=f"signalway:trg:{{{p}}}:*")] == []


@workflow.defn(sandboxed=False)  # defined in a test module, which the sandbox would re-import
class WaitForKey:
    @workflow.run
    async def run(self, key: str) -> Any:
        return await wait_for_event(key, timeout=timedelta(seconds=5))


async def test_a_workflow_waiting_on_a_reserved_key_fails_before_scheduling_anything(
    client: Client, redis: aioredis.Redis
) -> None:
    triggers = TriggerActivities(redis)
    task_queue = str(uuid.uuid4())
    async with Worker(client, task_queue=task_queue, workflows=[WaitForKey],
                      activities=[triggers.register, triggers.settle]):
        handle = await client.start_workflow(WaitForKey.run, "stats", id=str(uuid.uuid4()), task_queue=task_queue)
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidEventKey" and "reserved" in cause.message
    assert isinstance(InvalidEventKey("x"), ApplicationError)
    events = [e.event_type async for e in handle.fetch_history_events()]
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED not in events


@pytest.mark.parametrize("shards", [1, 4])
async def test_waiting_usage_follows_every_move_in_and_out_of_waiting(redis: aioredis.Redis, shards: int) -> None:
    store, p = TriggerStore(redis, shards=shards), project()
    size = len(json.dumps({"key": "k:1"}))  # each trigger's request_payload, as `register` stores it
    ids = {key: (await register(store, p, key))[0] for key in ("k:1", "k:2", "k:3")}
    assert await store.waiting_usage(p) == (3, 3 * size)
    outcome, id, _, _ = await store.send(p, "k:1", '{"ok":1}', "fp")
    assert outcome == "received-now" and await store.waiting_usage(p) == (2, 2 * size)
    await store.unsend(p, id, "fp", event_key="k:1")
    assert await store.waiting_usage(p) == (3, 3 * size)
    assert await store.settle(p, ids["k:2"], "canceled", event_key="k:2") == "ok"
    assert await store.settle(p, ids["k:3"], "timed_out", event_key="k:3") == "ok"
    assert await store.waiting_usage(p) == (1, size)
    await register(store, p, "k:2")  # a new wait on a settled key
    assert await store.waiting_usage(p) == (2, 2 * size)
