"""`signalway/updates.py`: `UpdateStore` on the session's real Redis."""

from __future__ import annotations

import asyncio
import json
import uuid

import redis.asyncio as aioredis

from signalway.updates import Message, UpdateStore, channel, meta_key, updates_key


def new_run() -> str:
    return str(uuid.uuid4())


async def publish_many(store: UpdateStore, run_id: str, count: int) -> list[int]:
    return [await store.publish(run_id, message=f"step {n}") for n in range(1, count + 1)]


async def test_ids_are_gapless_from_one(redis: aioredis.Redis) -> None:
    store, run_id = UpdateStore(redis), new_run()
    assert await publish_many(store, run_id, 10) == list(range(1, 11))
    assert [m.id for m in await store.after_id(run_id, 0)] == list(range(1, 11))
    assert await store.last_id(run_id) == 10


async def test_timestamps_strictly_increase_in_a_burst(redis: aioredis.Redis) -> None:
    store, run_id = UpdateStore(redis), new_run()
    # A burst puts many publishes in one millisecond: the script moves each one past the last.
    await asyncio.gather(*(store.publish(run_id, message=str(n)) for n in range(50)))
    stamps = [m.timestamp for m in await store.after_id(run_id, 0)]
    assert len(stamps) == 50
    assert all(earlier < later for earlier, later in zip(stamps, stamps[1:], strict=False))


async def test_the_cap_keeps_the_newest_messages(redis: aioredis.Redis) -> None:
    store, run_id = UpdateStore(redis, max_per_run=5), new_run()
    await publish_many(store, run_id, 8)
    kept = await store.after_id(run_id, 0)
    assert [m.id for m in kept] == [4, 5, 6, 7, 8]
    assert [json.loads(m.raw)["message"] for m in kept] == [f"step {n}" for n in range(4, 9)]
    assert await store.last_id(run_id) == 8  # ids go on past the cap


async def test_every_write_sets_the_ttl(redis: aioredis.Redis) -> None:
    store, run_id = UpdateStore(redis, ttl_seconds=60), new_run()
    await store.publish(run_id)
    for key in (updates_key(run_id), meta_key(run_id)):
        assert 0 < await redis.ttl(key) <= 60


async def test_a_message_carries_its_fields_and_defaults_its_text_to_its_type(redis: aioredis.Redis) -> None:
    store, run_id = UpdateStore(redis), new_run()
    await store.publish(run_id, type="PROGRESS", details={"current": 1}, workstream_id="ws-1")
    await store.publish(run_id, type="DONE", message="all done")
    first, second = (json.loads(m.raw) for m in await store.after_id(run_id, 0))
    assert first == {"id": 1, "timestamp": first["timestamp"], "workflow_run_id": run_id, "type": "PROGRESS",
                     "message": "PROGRESS", "details": {"current": 1}, "workstream_id": "ws-1"}
    assert (second["type"], second["message"], second["details"]) == ("DONE", "all done", None)


async def test_after_id_returns_only_later_messages(redis: aioredis.Redis) -> None:
    store, run_id = UpdateStore(redis), new_run()
    await publish_many(store, run_id, 6)
    assert [m.id for m in await store.after_id(run_id, 3)] == [4, 5, 6]
    assert await store.after_id(run_id, 6) == []


async def test_since_returns_messages_after_a_timestamp(redis: aioredis.Redis) -> None:
    store, run_id = UpdateStore(redis), new_run()
    await publish_many(store, run_id, 6)
    everything = await store.since(run_id, 0)
    assert [m.id for m in everything] == [1, 2, 3, 4, 5, 6]
    assert [m.id for m in await store.since(run_id, everything[2].timestamp)] == [4, 5, 6]
    assert await store.since(run_id, everything[-1].timestamp) == []


async def test_an_unknown_run_has_no_messages_and_last_id_zero(redis: aioredis.Redis) -> None:
    store, run_id = UpdateStore(redis), new_run()
    assert await store.last_id(run_id) == 0
    assert await store.after_id(run_id, 0) == [] and await store.since(run_id, 0) == []


async def test_every_stored_message_is_published_on_the_runs_channel(redis: aioredis.Redis) -> None:
    store, run_id = UpdateStore(redis), new_run()
    async with redis.pubsub() as pubsub:
        await pubsub.subscribe(channel(run_id))
        await publish_many(store, run_id, 3)
        published: list[Message] = []
        async with asyncio.timeout(5):
            while len(published) < 3:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
                if message is not None:
                    published.append(Message.parse(message["data"]))
    assert published == await store.after_id(run_id, 0)
