"""The trigger registry (`signalway.triggers`) against the session's real Redis, and the
registration path's refusal of keys no route can address."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from signalway.triggers import TriggerStore, now_us
from worker.triggers import TriggerActivities
from workflows.event_wait import InvalidEventKey, RegisterTriggerInput, wait_for_event

HOUR_US = 3600 * 1_000_000


def project() -> str:
    return f"store-{uuid.uuid4().hex[:12]}"


async def register(store: TriggerStore, project: str, key: str, *, id: str | None = None,
                   expires_us: int | None = None) -> tuple[str, str]:
    """A waiting workflow-step trigger on `key`; returns (id, status)."""
    id = id or str(uuid.uuid4())
    requested = now_us()
    registered = await store.register(
        project=project, id=id, event_key=key, source_type="workflow_step", workflow_id="wf", run_id="run",
        step_run_id=f"run:{key}", job_run_id=None, request_payload={"key": key}, timeout_secs=3600.0,
        requested_us=requested, expires_us=expires_us if expires_us is not None else requested + HOUR_US,
    )
    return id, registered.status


async def test_prefix_match_finds_every_unicode_key_and_nothing_else(redis: aioredis.Redis) -> None:
    store, p = TriggerStore(redis), project()
    wanted = ["p:a", "p:é", "p:\u0100", "p:\u4e2d", "p:\U0001f600"]
    for key in [*wanted, "q:x", "p", "o:\U0001f600"]:
        assert (await register(store, p, key))[1] == "waiting"
    assert sorted(await store.waiting_keys(p, "p:")) == sorted(wanted)
    assert await store.waiting_keys(p, "p:\u4e2d") == ["p:\u4e2d"]
    assert await store.waiting_keys(p, "p:\U0001f600") == ["p:\U0001f600"]
    assert await store.waiting_keys(p, "r") == []


async def test_a_key_leaves_the_prefix_index_when_its_trigger_stops_waiting(redis: aioredis.Redis) -> None:
    store, p = TriggerStore(redis), project()
    await register(store, p, "p:\u0100")
    await store.send(p, "p:\u0100", json.dumps({"ok": True}), "fp")
    assert await store.waiting_keys(p, "p:") == []


async def test_send_moves_waiting_to_received_once(redis: aioredis.Redis) -> None:
    store, p = TriggerStore(redis), project()
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


async def test_send_to_an_unknown_key_is_missing(redis: aioredis.Redis) -> None:
    assert (await TriggerStore(redis).send(project(), "nobody", "{}", "fp"))[0] == "missing"


async def test_unsend_makes_the_trigger_wait_again(redis: aioredis.Redis) -> None:
    store, p = TriggerStore(redis), project()
    id, _ = await register(store, p, "k:1")
    await store.send(p, "k:1", "{}", "fp")
    await store.unsend(p, id, "other-fp")  # not the send that won: ignored
    assert (await store.by_key(p, "k:1")).status == "received"  # type: ignore[union-attr]
    await store.unsend(p, id, "fp")
    trigger = await store.by_key(p, "k:1")
    assert trigger is not None and trigger.status == "waiting" and trigger.response_payload is None
    assert await store.waiting_keys(p, "k:") == ["k:1"]
    assert (await store.stats(p))["received_count"] == 0


async def test_register_is_idempotent_and_a_second_waiter_conflicts(redis: aioredis.Redis) -> None:
    store, p = TriggerStore(redis), project()
    id, _ = await register(store, p, "k:dup")
    assert (await register(store, p, "k:dup", id=id))[1] == "waiting"  # the re-registration
    assert (await register(store, p, "k:dup"))[1] == "conflict"
    await store.send(p, "k:dup", "{}", "fp")
    assert (await register(store, p, "k:dup", id=id))[1] == "received"


async def test_settle_only_moves_a_waiting_trigger(redis: aioredis.Redis) -> None:
    store, p = TriggerStore(redis), project()
    id, _ = await register(store, p, "k:late")
    assert await store.settle(p, id, "timed_out", error="timed out") == "ok"
    assert await store.settle(p, id, "canceled") == "timed_out"
    assert (await store.send(p, "k:late", "{}", "fp"))[0] == "timed_out"
    assert await store.settle(p, "no-such-id", "canceled") == "missing"


async def test_a_send_after_the_deadline_times_the_trigger_out(redis: aioredis.Redis) -> None:
    store, p = TriggerStore(redis), project()
    await register(store, p, "k:expired", expires_us=now_us() - 1)
    assert (await store.send(p, "k:expired", "{}", "fp"))[0] == "timed_out"
    assert (await store.by_key(p, "k:expired")).status == "timed_out"  # type: ignore[union-attr]


async def test_a_held_early_event_is_received_on_registration(redis: aioredis.Redis) -> None:
    store, p = TriggerStore(redis), project()
    await store.hold(p, "k:early", '{"early":true}', ttl_seconds=60)
    id = str(uuid.uuid4())
    registered = await store.register(
        project=p, id=id, event_key="k:early", source_type="workflow_step", workflow_id="wf", run_id="run",
        step_run_id="s", job_run_id=None, request_payload=None, timeout_secs=None, requested_us=now_us(),
        expires_us=None,
    )
    assert (registered.status, registered.payload, registered.created) == ("received", {"early": True}, True)
    assert await store.held(p) == []


async def test_only_the_first_registration_creates_the_trigger(redis: aioredis.Redis) -> None:
    # The worker counts a trigger's `waiting` transition once, though the step renews it.
    store, p = TriggerStore(redis), project()
    id = str(uuid.uuid4())
    found = [await store.register(
        project=p, id=id, event_key="k:renewed", source_type="workflow_step", workflow_id="wf", run_id="run",
        step_run_id="s", job_run_id=None, request_payload=None, timeout_secs=None, requested_us=now_us(),
        expires_us=None,
    ) for _ in range(2)]
    assert [(r.status, r.created) for r in found] == [("waiting", True), ("waiting", False)]


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
