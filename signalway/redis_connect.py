"""One way to open Redis for every process: a plain URL, or Redis Sentinel for failover.

    redis://[:password@]host:6379/0                     a single Redis (or a managed endpoint)
    rediss://...                                         the same over TLS
    redis+sentinel://[:password@]h1:26379,h2:26379/mymaster/0
                                                         the current master of `mymaster`, as
                                                         told by the sentinels; follows failovers

Redis Cluster is not supported: the updates relay needs pub/sub on one connection and the
status scripts run without declared keys. Each project's trigger keys and each run's
update keys do share a hash tag, so a single shard per key group is already the layout.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlparse

import redis.asyncio as aioredis
from redis.asyncio.sentinel import Sentinel


def parse_sentinel(url: str) -> tuple[list[tuple[str, int]], str, int, str | None, bool]:
    """(sentinels, service name, db, password, tls) of a `redis+sentinel://` URL."""
    parsed = urlparse(url)
    password = unquote(parsed.password) if parsed.password else None
    hosts_part = parsed.netloc.rsplit("@", 1)[-1]
    sentinels = []
    for host in hosts_part.split(","):
        name, _, port = host.partition(":")
        if not name:
            raise ValueError(f"sentinel URL {url!r} names an empty host")
        sentinels.append((name, int(port or 26379)))
    path = [p for p in parsed.path.split("/") if p]
    if not path:
        raise ValueError(f"sentinel URL {url!r} needs the service name: redis+sentinel://host:26379/mymaster/0")
    db = int(path[1]) if len(path) > 1 else 0
    return sentinels, path[0], db, password, parsed.scheme.startswith("rediss")


def connect(url: str, *, redis_class: type[aioredis.Redis] = aioredis.Redis, **options: Any) -> aioredis.Redis:
    """A client of `redis_class` (a subclass may instrument its commands) for `url`."""
    scheme = urlparse(url).scheme
    if scheme in ("redis+sentinel", "rediss+sentinel"):
        sentinels, service, db, password, tls = parse_sentinel(url)
        sentinel = Sentinel(  # type: ignore[no-untyped-call]  # redis-py leaves Sentinel.__init__ unannotated
            sentinels, sentinel_kwargs={"password": password, "ssl": tls} if tls else
            ({"password": password} if password else None),
            password=password, ssl=tls, **options)
        # master_for is unannotated too; it builds a `redis_class`.
        master: aioredis.Redis = sentinel.master_for(service, db=db, redis_class=redis_class)
        return master
    return redis_class.from_url(url, **options)


async def close(client: aioredis.Redis) -> None:
    """Close a client from `connect`, and for Sentinel the connections to the sentinels too."""
    manager = getattr(client.connection_pool, "sentinel_manager", None)
    await client.aclose()
    for sentinel in getattr(manager, "sentinels", ()):
        await sentinel.aclose()
