"""One way to open Redis for every process: a plain URL, Redis Sentinel, or Redis Cluster.

    redis://[:password@]host:6379/0                     a single Redis (or a managed endpoint)
    rediss://...                                         the same over TLS
    redis+sentinel://[:password@]h1:26379,h2:26379/mymaster/0
                                                         the current master of `mymaster`, as
                                                         told by the sentinels; follows failovers
    redis+cluster://[[user]:password@]h1:6379[,h2:6379...]
    rediss+cluster://...                                 a Redis Cluster (≥ 7): any reachable
                                                         nodes; the client learns the rest, and
                                                         follows failovers and resharding

On a cluster every multi-key step names its keys, and the keys of one step share a hash tag
(one run's updates; one trigger bucket), so each runs on one shard. Live updates use sharded
pub/sub there (SPUBLISH/SSUBSCRIBE): a message goes to the shard that owns its run only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, TypeAlias
from urllib.parse import unquote, urlparse

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.sentinel import Sentinel

# What every store takes: a client of one Redis (plain or through Sentinel) or of a cluster.
RedisClient: TypeAlias = aioredis.Redis | RedisCluster

CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")


def is_cluster_url(url: str) -> bool:
    return urlparse(url).scheme in CLUSTER_SCHEMES


def _hosts(url: str, netloc: str, default_port: int) -> list[tuple[str, int]]:
    """`h1:p1,h2,[::1]:p3` (after any credentials) as (host, port) pairs."""
    hosts = []
    for entry in netloc.rsplit("@", 1)[-1].split(","):
        match = re.fullmatch(r"(\[[^\]]*\]|[^:\[\]]*)(?::(\d+))?", entry)
        name = match.group(1).strip("[]") if match else ""
        if not match or not name:
            raise ValueError(f"Redis URL {url!r} names a host it cannot read: {entry!r}")
        port = int(match.group(2) or default_port)
        if not 1 <= port <= 65535:
            raise ValueError(f"Redis URL {url!r} names a port out of range: {port}")
        hosts.append((name, port))
    return hosts


def parse_sentinel(url: str) -> tuple[list[tuple[str, int]], str, int, str | None, bool]:
    """(sentinels, service name, db, password, tls) of a `redis+sentinel://` URL."""
    parsed = urlparse(url)
    password = unquote(parsed.password) if parsed.password else None
    sentinels = _hosts(url, parsed.netloc, 26379)
    path = [p for p in parsed.path.split("/") if p]
    if not path:
        raise ValueError(f"sentinel URL {url!r} needs the service name: redis+sentinel://host:26379/mymaster/0")
    db = int(path[1]) if len(path) > 1 else 0
    return sentinels, path[0], db, password, parsed.scheme.startswith("rediss")


@dataclass(frozen=True)
class ClusterAddress:
    nodes: list[tuple[str, int]]
    username: str | None
    password: str | None
    tls: bool


def parse_cluster(url: str) -> ClusterAddress:
    """The startup nodes and credentials of a `redis+cluster://` URL (a cluster has no db)."""
    parsed = urlparse(url)
    if parsed.scheme not in CLUSTER_SCHEMES:
        raise ValueError(f"not a cluster URL: {url!r}")
    if parsed.path.strip("/") not in ("", "0"):
        raise ValueError(f"cluster URL {url!r} names a database: a Redis Cluster has only db 0")
    return ClusterAddress(
        nodes=_hosts(url, parsed.netloc, 6379),
        username=unquote(parsed.username) if parsed.username else None,
        password=unquote(parsed.password) if parsed.password else None,
        tls=parsed.scheme == "rediss+cluster",
    )


def connect(url: str, *, redis_class: type[aioredis.Redis] = aioredis.Redis,
            cluster_class: type[RedisCluster] = RedisCluster, **options: Any) -> RedisClient:
    """A client of `redis_class` (or `cluster_class` for a cluster URL) for `url`; a subclass
    may instrument its commands."""
    scheme = urlparse(url).scheme
    if scheme in CLUSTER_SCHEMES:
        address = parse_cluster(url)
        return cluster_class(
            startup_nodes=[ClusterNode(host, port) for host, port in address.nodes],
            username=address.username, password=address.password, ssl=address.tls, **options)
    if scheme in ("redis+sentinel", "rediss+sentinel"):
        sentinels, service, db, password, tls = parse_sentinel(url)
        sentinel = Sentinel(
            sentinels, sentinel_kwargs={"password": password, "ssl": tls} if tls else
            ({"password": password} if password else None),
            password=password, ssl=tls, **options)
        # master_for is unannotated too; it builds a `redis_class`.
        master: aioredis.Redis = sentinel.master_for(service, db=db, redis_class=redis_class)
        return master
    return redis_class.from_url(url, **options)


async def close(client: RedisClient) -> None:
    """Close a client from `connect`, and for Sentinel the connections to the sentinels too."""
    if isinstance(client, RedisCluster):
        await client.aclose()
        return
    manager = getattr(client.connection_pool, "sentinel_manager", None)
    await client.aclose()
    for sentinel in getattr(manager, "sentinels", ()):
        await sentinel.aclose()
