"""`signalway/gateway/adapters/updates_hub.py` on the session's real Redis Cluster (3 primaries, a replica
each): `UpdatesHub` fed by `UpdateStore`, with one sharded subscription per primary, a run's
slot moved to another primary by a real resharding, and a primary killed under a stream.

The cluster is shared with the other cluster tests of the session: each test waits for it to
be whole first (a test before may have failed a primary over and restarted it), finds the
primaries from CLUSTER NODES rather than assuming the start layout, and leaves it whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from signalway.gateway.adapters.updates_hub import (
    Interrupted,
    Item,
    Live,
    NodeClient,
    Subscriber,
    UpdatesHub,
)
from signalway.localstack import LocalCluster
from signalway.redis_connect import close, connect
from signalway.updates import Message, UpdateStore, channel, updates_key
from tests.helpers.polling import eventually
from tests.integration.test_updates_hub import never_closes, new_run

HOST = "127.0.0.1"


@pytest.fixture
async def cluster(redis_cluster: LocalCluster) -> AsyncIterator[RedisCluster]:
    """A cluster client (the gateway's deadline), once every node is up and in its place."""
    await eventually(lambda: whole(redis_cluster), within=90, what="the cluster to be whole")
    client = connect(redis_cluster.url, socket_timeout=2)
    assert isinstance(client, RedisCluster)
    await client.initialize()
    yield client
    await close(client)


def node_clients(name: str = "signalway-test-hub") -> NodeClient:
    """What the gateway gives the hub for its per-primary links (the cluster's deadlines), its
    connections named `name` (CLIENT LIST tells them apart)."""
    def node_client(host: str, port: int) -> aioredis.Redis:
        return aioredis.Redis(host=host, port=port, socket_timeout=2, socket_connect_timeout=1, client_name=name)

    return node_client


@asynccontextmanager
async def running_hub(client: RedisCluster, *, name: str = "signalway-test-hub") -> AsyncIterator[UpdatesHub]:
    hub = UpdatesHub(client, wait_closed=never_closes, node_client=node_clients(name))
    try:
        yield hub
    finally:
        await hub.stop()


@asynccontextmanager
async def node(port: int) -> AsyncIterator[aioredis.Redis]:
    """A plain client of one node, failing at once (no retries) when the node is down."""
    client = aioredis.Redis(host=HOST, port=port, socket_timeout=2, socket_connect_timeout=1, retry=None)
    try:
        yield client
    finally:
        await client.aclose()


@dataclass(frozen=True)
class Node:
    id: str
    port: int
    flags: frozenset[str]
    master_id: str | None
    slots: frozenset[int]
    connected: bool

    @property
    def name(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def primary(self) -> bool:
        return "master" in self.flags


async def view(port: int) -> dict[str, Node]:
    """The cluster as the node on `port` sees it (CLUSTER NODES), by node id."""
    async with node(port) as client:
        table: dict[str, dict[str, Any]] = await client.cluster("NODES")
    nodes = {}
    for address, entry in table.items():
        slots: set[int] = set()
        for bounds in entry["slots"]:
            first, last = int(bounds[0]), int(bounds[-1])
            slots.update(range(first, last + 1))
        nodes[entry["node_id"]] = Node(
            id=entry["node_id"], port=int(address.split("@")[0].rsplit(":", 1)[1]),
            flags=frozenset(entry["flags"].split(",")), master_id=None if entry["master_id"] == "-" else entry["master_id"],
            slots=frozenset(slots), connected=bool(entry["connected"]) or "myself" in entry["flags"])
    return nodes


async def primaries(cluster: LocalCluster) -> list[Node]:
    """The primaries serving slots now, as the first node that answers tells it."""
    for port in cluster.ports:
        try:
            nodes = await view(port)
        except (aioredis.ConnectionError, OSError):
            continue
        return sorted((n for n in nodes.values() if n.primary and n.slots and "fail" not in n.flags),
                      key=lambda n: n.port)
    raise AssertionError("no cluster node answers")


async def owner_everywhere(cluster: LocalCluster, slot: int) -> str | None:
    """The id of the primary every node names as the owner of `slot`, if they all agree."""
    owners = set()
    for port in cluster.ports:
        nodes = await view(port)
        owners |= {n.id for n in nodes.values() if n.primary and slot in n.slots}
    return owners.pop() if len(owners) == 1 else None


async def whole(cluster: LocalCluster) -> bool:
    """Every node up and agreeing: 3 primaries sharing all slots, each with one replica in
    sync, nobody failed or out of touch."""
    try:
        for port in cluster.ports:
            nodes = await view(port)
            if len(nodes) != len(cluster.ports):
                return False
            if any(not n.connected or n.flags & {"fail", "fail?", "handshake", "noaddr"} for n in nodes.values()):
                return False
            masters = [n for n in nodes.values() if n.primary]
            if len(masters) != 3 or sum(len(n.slots) for n in masters) != 16384:
                return False
            if sorted(n.master_id or "" for n in nodes.values() if not n.primary) != sorted(n.id for n in masters):
                return False
            if not next(n for n in nodes.values() if "myself" in n.flags).primary:
                async with node(port) as client:
                    if (await client.info("replication")).get("master_link_status") != "up":
                        return False
    except (aioredis.RedisError, OSError):
        return False
    return True


def run_on(client: RedisCluster, node_name: str) -> tuple[str, str]:
    """A new (workflow id, run id) whose channel the client maps to `node_name`."""
    for _ in range(10_000):
        wid, rid = new_run()
        owner = client.get_node_from_key(channel(rid))
        if owner is not None and owner.name == node_name:
            return wid, rid
    raise AssertionError(f"no run id maps to {node_name}")


async def next_item(sub: Subscriber, within: float = 10) -> Item:
    return await asyncio.wait_for(sub.queue.get(), within)


async def next_live(sub: Subscriber) -> Message:
    item = await next_item(sub)
    assert isinstance(item, Live), item
    return item.message


async def shard_subscribers(port: int, name: str) -> int:
    """How many connections of the node on `port` are SSUBSCRIBEd to `name`."""
    async with node(port) as client:
        [(named, count)] = await client.pubsub_shardnumsub(name)
    assert named == name.encode()
    return int(count)


def port_of(node_name: str) -> int:
    return int(node_name.rsplit(":", 1)[1])


async def test_each_stream_gets_its_own_runs_messages_over_one_link_per_primary(
        cluster: RedisCluster, redis_cluster: LocalCluster) -> None:
    """Runs on every primary, two streams on one of them: each stream gets its own run's
    messages live, in order, over one SSUBSCRIBEd connection per primary; the last stream of
    a run gone, its channel is unsubscribed on its primary."""
    store = UpdateStore(cluster)
    names = [n.name for n in await primaries(redis_cluster)]
    assert len(names) == 3
    # Two runs on each primary, and a second stream on one of them.
    runs = [run_on(cluster, name) for name in names for _ in range(2)]
    owner = {rid: cluster.get_node_from_key(channel(rid)).name for _, rid in runs}  # type: ignore[union-attr]
    async with running_hub(cluster) as hub:
        async with AsyncExitStack() as streams:
            subs = [(rid, await streams.enter_async_context(hub.subscribe(wid, rid))) for wid, rid in runs]
            wid0, rid0 = runs[0]
            subs.append((rid0, await streams.enter_async_context(hub.subscribe(wid0, rid0))))

            assert sorted(hub._links) == sorted(names), "one link per primary that owns a streamed run"
            for name, link in hub._links.items():
                assert link.sharded and link.name == name
                carried = {n for n, carrier in hub._link_of.items() if carrier is link}
                assert carried == {channel(rid) for _, rid in runs if owner[rid] == name}
            for _, rid in runs:
                assert await shard_subscribers(port_of(owner[rid]), channel(rid)) == 1, \
                    "one subscription per run on its owner, whatever its number of streams"

            for n in range(3):
                for _, rid in reversed(runs):
                    await store.publish(rid, message=f"{rid}:{n}")
            for rid, sub in subs:
                received = [await next_live(sub) for _ in range(3)]
                assert received == await store.after_id(rid, 0)
                assert [m.id for m in received] == [1, 2, 3]
            # Each stream's next message is its own run's next one: nothing crossed over.
            for _, rid in runs:
                await store.publish(rid, message="last")
            for rid, sub in subs:
                assert await next_live(sub) == (await store.after_id(rid, 3))[0]
                assert sub.queue.empty()
        # The last stream of each run gone, the hub unsubscribed on each primary.
        for _, rid in runs:
            async def unsubscribed(rid: str = rid) -> bool:
                return await shard_subscribers(port_of(owner[rid]), channel(rid)) == 0

            await eventually(unsubscribed, within=10, what=f"the channel of {rid} to be unsubscribed")
        assert not hub._link_of, "no link carries a channel any more"


async def test_a_link_whose_connection_drops_ends_its_streams_though_its_node_is_up(
        cluster: RedisCluster, redis_cluster: LocalCluster) -> None:
    """The server closes the hub's connection to a primary (CLIENT KILL here; an output buffer
    limit or an idle proxy does the same): what is published before a new connection
    subscribes is never relayed, so the streams on that link must end (to resume from the
    store), not go on silently on a new connection with a hole in them."""
    store = UpdateStore(cluster)
    primary = (await primaries(redis_cluster))[0]
    wid, rid = run_on(cluster, primary.name)
    name = f"hub-{uuid.uuid4().hex[:12]}"
    async with running_hub(cluster, name=name) as hub:
        async with hub.subscribe(wid, rid) as sub:
            assert await store.publish(rid, message="before") == 1
            assert (await next_live(sub)).id == 1
            async with node(primary.port) as client:
                ours = [c for c in await client.client_list() if c["name"] == name]
                assert len(ours) == 1, ours
                await client.client_kill_filter(_id=ours[0]["id"])
            assert await store.publish(rid, message="while the link is down") == 2

            item = await next_item(sub, within=10)
            assert isinstance(item, Interrupted), f"the stream went on after its connection dropped: {item}"
            assert primary.name not in hub._links and sub.queue.empty()

        async with hub.subscribe(wid, rid) as again:
            assert await store.publish(rid, message="after") == 3
            assert (await next_live(again)).id == 3
        assert [m.id for m in await store.after_id(rid, 0)] == [1, 2, 3]


async def move_slot(cluster: LocalCluster, slot: int, source: Node, target: Node) -> None:
    """Reshard one slot the way `redis-cli --cluster reshard` does: mark it importing on the
    target and migrating on the source, MIGRATE its keys, then give it to the target (on the
    target first, the other primaries, the source last)."""
    async with node(source.port) as src, node(target.port) as dst:
        await dst.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", source.id)
        await src.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", target.id)
        while keys := await src.execute_command("CLUSTER GETKEYSINSLOT", slot, 100):
            await src.execute_command("MIGRATE", HOST, target.port, "", 0, 5000, "KEYS", *keys)
        await dst.execute_command("CLUSTER SETSLOT", slot, "NODE", target.id)
        for other in await primaries(cluster):
            if other.id not in (source.id, target.id):
                async with node(other.port) as client:
                    await client.execute_command("CLUSTER SETSLOT", slot, "NODE", target.id)
        await src.execute_command("CLUSTER SETSLOT", slot, "NODE", target.id)
    await eventually(lambda: agree(cluster, slot, target.id), within=30,
                     what=f"every node to give slot {slot} to {target.name}")


async def agree(cluster: LocalCluster, slot: int, owner_id: str) -> bool:
    return await owner_everywhere(cluster, slot) == owner_id


async def put_slot_back(cluster: LocalCluster, slot: int, source: Node, target: Node) -> None:
    """Undo `move_slot`, whether it completed or not."""
    async with node(target.port) as dst:
        owned_by_target = slot in (await view(target.port))[target.id].slots
        if not owned_by_target:  # stopped half-way: cancel the migration
            await dst.execute_command("CLUSTER SETSLOT", slot, "STABLE")
            async with node(source.port) as src:
                await src.execute_command("CLUSTER SETSLOT", slot, "STABLE")
            return
    await move_slot(cluster, slot, target, source)


async def test_a_resharded_run_ends_its_streams_and_resumes_on_the_new_owner(
        cluster: RedisCluster, redis_cluster: LocalCluster) -> None:
    """Move a streamed run's slot to another primary with the real procedure: the source
    drops the subscription (SUNSUBSCRIBE from the server), the stream ends with an
    interruption, the run's messages and dedupe keys are on the new owner, and a new stream
    subscribes there and gets what is published next. The slot goes back at the end."""
    store = UpdateStore(cluster)
    source, target = (await primaries(redis_cluster))[:2]
    # A run on `source` whose slot holds no other key: the move carries this test's data only.
    for _ in range(100):
        wid, rid = run_on(cluster, source.name)
        slot = key_slot(channel(rid).encode())
        async with node(source.port) as client:
            if await client.execute_command("CLUSTER COUNTKEYSINSLOT", slot) == 0:
                break
    assert key_slot(updates_key(rid).encode()) == slot, "the run id is the hash tag of its keys and channel"

    async with running_hub(cluster) as hub:
        async with hub.subscribe(wid, rid) as sub:
            for n in range(5):
                await store.publish(rid, message=f"before {n}", key=f"k{n}")
            before = [await next_live(sub) for _ in range(5)]
            assert [m.id for m in before] == [1, 2, 3, 4, 5]
            assert hub._link_of[channel(rid)].name == source.name
            try:
                await move_slot(redis_cluster, slot, source, target)

                # The source unsubscribed the channel when it gave the slot away: the stream ends.
                interrupted = await next_item(sub, within=10)
                assert isinstance(interrupted, Interrupted), interrupted
                assert "shard" in interrupted.reason
                assert sub.queue.empty()
                assert channel(rid) not in hub._link_of and rid not in hub._subscribers

                # The hub refreshed its slot map when told; it may have asked a node that had
                # not heard yet, so the client asks again until it says the new owner too.
                async def maps_to_target() -> bool:
                    node_now = cluster.get_node_from_key(channel(rid))
                    if node_now is not None and node_now.name == target.name:
                        return True
                    await cluster.nodes_manager.initialize()
                    return False

                await eventually(maps_to_target, within=30, what="the client to learn the new owner")

                # Everything stored before the move is on the new owner, dedupe keys included.
                assert await store.after_id(rid, 0) == before
                assert await store.since(rid, before[1].timestamp) == before[2:]
                assert await store.publish(rid, message="before 3 again", key="k3") == 4
                async with node(target.port) as client:
                    assert len(await client.zrange(updates_key(rid), 0, -1)) == 5

                async with hub.subscribe(wid, rid) as again:
                    assert hub._link_of[channel(rid)].name == target.name
                    assert target.name in hub._links
                    assert await store.publish(rid, message="after the move") == 6
                    after = await next_live(again)
                    assert after.id == 6 and '"message":"after the move"' in after.raw
                    assert (await store.after_id(rid, 5)) == [after]
                    assert again.queue.empty()
            finally:
                await put_slot_back(redis_cluster, slot, source, target)
    assert await owner_everywhere(redis_cluster, slot) == source.id


@asynccontextmanager
async def live_subscription(hub: UpdatesHub, wid: str, rid: str, *, within: float) -> AsyncIterator[Subscriber]:
    """Subscribe the way a client reconnects after STREAM_INTERRUPTED: again and again, at
    once, until a subscription holds (no refusal, no interruption)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        async with AsyncExitStack() as attempt:
            try:
                sub = await attempt.enter_async_context(hub.subscribe(wid, rid))
            except (aioredis.RedisError, OSError):
                sub = None
            if sub is not None and sub.queue.empty():
                yield sub
                return
        assert asyncio.get_running_loop().time() < deadline, f"no subscription to {rid} held within {within}s"
        await asyncio.sleep(0.1)


async def test_a_killed_primary_ends_its_streams_and_they_resume_on_its_replica(
        cluster: RedisCluster, redis_cluster: LocalCluster) -> None:
    """kill -9 the primary of a streamed run: its stream ends promptly, a stream on another
    primary goes on, clients reconnecting at once neither hold up new streams of the other
    shards nor leave the hub tied to the dead node, and once the replica took over (the hub
    learning it on its own) a new stream of the run gets what is published next."""
    store = UpdateStore(cluster)
    victim, *others = reversed(await primaries(redis_cluster))
    wid, rid = run_on(cluster, victim.name)
    other_wid, other_rid = run_on(cluster, others[0].name)
    new_owner: Node | None = None

    async with running_hub(cluster) as hub:
        async with hub.subscribe(wid, rid) as sub, hub.subscribe(other_wid, other_rid) as bystander:
            assert await store.publish(rid, message="before the crash") == 1
            assert (await next_live(sub)).id == 1
            try:
                redis_cluster.kill(victim.port)

                interrupted = await next_item(sub, within=10)
                assert isinstance(interrupted, Interrupted), interrupted
                assert victim.name not in hub._links and channel(rid) not in hub._link_of

                # Its client comes back at once, while the slot map still names the dead node;
                # meanwhile a stream of a run on a live primary starts without waiting on it.
                async def reconnect_at_once() -> None:
                    with contextlib.suppress(aioredis.RedisError, OSError):
                        async with hub.subscribe(wid, rid):
                            pass

                reconnecting = asyncio.create_task(reconnect_at_once())
                await asyncio.sleep(0)  # the reconnect goes first
                started = asyncio.get_running_loop().time()
                elsewhere_wid, elsewhere_rid = run_on(cluster, others[1].name)
                async with hub.subscribe(elsewhere_wid, elsewhere_rid, confirm_timeout=10):
                    waited = asyncio.get_running_loop().time() - started
                assert waited < 2, f"a stream on a live primary waited {waited:.1f}s behind the dead one"
                await asyncio.wait_for(reconnecting, 30)

                # The stream on another primary never noticed.
                assert await store.publish(other_rid, message="elsewhere") == 1
                assert (await next_live(bystander)).id == 1
                assert bystander.queue.empty()

                # Clients keep reconnecting; once the replica took over, the hub (on its own)
                # subscribes them there.
                async with live_subscription(hub, wid, rid, within=60) as again:
                    link = hub._link_of[channel(rid)]
                    assert link.name != victim.name
                    assert victim.name not in hub._links, "no link to the dead node is kept"
                    assert await store.publish(rid, message="after the failover") == 2
                    after = await next_live(again)
                    assert after.id == 2 and '"message":"after the failover"' in after.raw
                    assert [m.id for m in await store.after_id(rid, 0)] == [1, 2]
                new_owner = next(n for n in (await view(port_of(link.name))).values() if "myself" in n.flags)
                assert new_owner.primary and key_slot(channel(rid).encode()) in new_owner.slots
            finally:
                if not redis_cluster.processes[victim.port].running():
                    redis_cluster.restart(victim.port)
    await eventually(lambda: whole(redis_cluster), within=90, what="the restarted node to rejoin as a replica")
    rejoined = (await view(victim.port))[victim.id]
    assert new_owner is not None and not rejoined.primary and rejoined.master_id == new_owner.id
