"""`signalway/gateway/adapters/updates_hub.py`: `UpdatesHub` fed by `UpdateStore` on the session's real Redis.

The hub watches each subscribed run for its close through the `wait_closed` function it is
built with; these tests pass functions of their own there (the gateway passes Temporal's).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis

from signalway.gateway.adapters.updates_hub import (
    CloseWaiter,
    Interrupted,
    Item,
    Live,
    RunClosed,
    Subscriber,
    UpdatesHub,
)
from signalway.updates import UpdateStore, channel
from tests.helpers.polling import eventually
from tests.helpers.stack import Stack


async def never_closes(workflow_id: str, run_id: str) -> RunClosed:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


@asynccontextmanager
async def running_hub(redis: aioredis.Redis, *, wait_closed: CloseWaiter = never_closes,
                      buffer: int = 256) -> AsyncIterator[UpdatesHub]:
    hub = UpdatesHub(redis, wait_closed=wait_closed, buffer=buffer)
    try:
        yield hub
    finally:
        await hub.stop()


def new_run() -> tuple[str, str]:
    return f"wf-{uuid.uuid4()}", str(uuid.uuid4())


async def next_item(sub: Subscriber, within: float = 5) -> Item:
    return await asyncio.wait_for(sub.queue.get(), within)


async def next_live(sub: Subscriber) -> Live:
    item = await next_item(sub)
    assert isinstance(item, Live), item
    return item


async def next_id(sub: Subscriber) -> int:
    return (await next_live(sub)).message.id


async def test_a_subscriber_receives_every_message_once_in_order(redis: aioredis.Redis) -> None:
    store, (wid, rid) = UpdateStore(redis), new_run()
    async with running_hub(redis) as hub, hub.subscribe(wid, rid) as sub:
        for n in range(50):
            await store.publish(rid, message=f"step {n}")
        received = [await next_live(sub) for _ in range(50)]
        await asyncio.sleep(0.2)  # anything extra would have arrived by now
        assert sub.queue.empty()
    assert [live.message.id for live in received] == list(range(1, 51))
    assert [live.message for live in received] == await store.after_id(rid, 0)
    assert all(live.frame == UpdatesHub.frame(live.message) for live in received)


async def test_a_slow_subscriber_is_dropped_while_the_others_keep_receiving(redis: aioredis.Redis) -> None:
    store, (wid, rid) = UpdateStore(redis), new_run()
    async with running_hub(redis, buffer=5) as hub, hub.subscribe(wid, rid) as slow, \
            hub.subscribe(wid, rid) as reader:
        for n in range(1, 13):
            await store.publish(rid)
            assert await next_id(reader) == n  # this one keeps up; `slow` never reads
        assert slow.overflowed and not reader.overflowed
        # What `slow` holds is what fitted before it fell behind; nothing was added after.
        assert [await next_id(slow) for _ in range(5)] == [1, 2, 3, 4, 5]
        assert slow.queue.empty()


async def test_subscribers_receive_only_their_runs_messages(redis: aioredis.Redis) -> None:
    store, (wid, rid), (other_wid, other_rid) = UpdateStore(redis), new_run(), new_run()
    async with running_hub(redis) as hub, hub.subscribe(wid, rid) as mine, \
            hub.subscribe(other_wid, other_rid) as theirs:
        await store.publish(other_rid, message="theirs")
        await store.publish(rid, message="mine")
        assert [(await next_live(mine)).message] == await store.after_id(rid, 0)
        assert [(await next_live(theirs)).message] == await store.after_id(other_rid, 0)
        assert mine.queue.empty() and theirs.queue.empty()


async def test_a_malformed_message_on_the_channel_is_skipped(redis: aioredis.Redis) -> None:
    store, (wid, rid) = UpdateStore(redis), new_run()
    async with running_hub(redis) as hub, hub.subscribe(wid, rid) as sub:
        await redis.publish(channel(rid), b"not json")
        await store.publish(rid)
        assert await next_id(sub) == 1
        assert sub.queue.empty()


async def test_the_runs_close_reaches_every_subscriber_from_one_watch(redis: aioredis.Redis) -> None:
    (wid, rid), closes, watched = new_run(), asyncio.Event(), []

    async def wait_closed(workflow_id: str, run_id: str) -> RunClosed:
        watched.append((workflow_id, run_id))
        await closes.wait()
        return RunClosed("CONTINUED_AS_NEW", new_run_id="next-run")

    async with running_hub(redis, wait_closed=wait_closed) as hub, hub.subscribe(wid, rid) as one, \
            hub.subscribe(wid, rid) as two:
        closes.set()
        assert await next_item(one) == await next_item(two) == RunClosed("CONTINUED_AS_NEW", "next-run")
    assert watched == [(wid, rid)]  # one watch per run, not per stream


async def test_a_failed_close_watch_is_retried(redis: aioredis.Redis) -> None:
    (wid, rid), attempts = new_run(), []

    async def flaky(workflow_id: str, run_id: str) -> RunClosed:
        attempts.append(run_id)
        if len(attempts) == 1:
            raise ConnectionError("Temporal hiccup")
        return RunClosed("COMPLETED")

    async with running_hub(redis, wait_closed=flaky) as hub, hub.subscribe(wid, rid) as sub:
        assert await next_item(sub) == RunClosed("COMPLETED")
    assert attempts == [rid, rid]


async def test_the_last_subscriber_leaving_unsubscribes_and_stops_the_watch(redis: aioredis.Redis) -> None:
    (wid, rid), cancelled = new_run(), asyncio.Event()

    async def watching(workflow_id: str, run_id: str) -> RunClosed:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()
        raise AssertionError("unreachable")

    async def listeners() -> int:
        [(_, count)] = await redis.pubsub_numsub(channel(rid))
        return int(count)

    async def unsubscribed() -> bool:
        return await listeners() == 0

    async with running_hub(redis, wait_closed=watching) as hub:
        async with hub.subscribe(wid, rid), hub.subscribe(wid, rid):
            assert await listeners() == 1  # one Redis subscription for both streams
        await eventually(unsubscribed, what="the channel to be unsubscribed")
        await asyncio.wait_for(cancelled.wait(), 5)


async def test_a_dropped_subscription_connection_ends_its_streams(stack: Stack) -> None:
    """Redis closes the hub's subscription connection (CLIENT KILL here; an output buffer limit
    or an idle proxy does the same) while Redis itself stays up. Whether the hub hears of it as
    an error or through redis-py's own reconnect-and-resubscribe, what was published in between
    was never relayed: the streams must end (to resume from the store), and the next
    subscription works."""
    name = f"hub-{uuid.uuid4().hex[:12]}"
    hub_redis = aioredis.Redis.from_url(stack.redis_url, client_name=name)
    observer = aioredis.Redis.from_url(stack.redis_url)
    store, (wid, rid) = UpdateStore(observer), new_run()
    try:
        async with running_hub(hub_redis) as hub:
            async with hub.subscribe(wid, rid) as sub:
                assert await store.publish(rid, message="before") == 1
                assert await next_id(sub) == 1
                subscribed = [c for c in await observer.client_list() if c["name"] == name and c["cmd"] != "client"]
                assert subscribed, await observer.client_list()
                for client in subscribed:
                    await observer.client_kill_filter(_id=client["id"])
                assert await store.publish(rid, message="while the connection is down") == 2
                item = await next_item(sub, within=10)
                assert isinstance(item, Interrupted), f"the stream went on after its connection dropped: {item}"
            async with hub.subscribe(wid, rid) as again:
                assert await store.publish(rid, message="after") == 3
                assert await next_id(again) == 3
    finally:
        await hub_redis.aclose()
        await observer.aclose()
