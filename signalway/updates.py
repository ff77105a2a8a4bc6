"""Progress updates of a run, kept in Redis: the one format the worker writes and the gateway reads.

Per run, in the same Redis Cluster slot (the run id is the hash tag):

- `signalway:updates:{<run_id>}` — sorted set, score = the message id, member = the message JSON;
  at most `max_per_run` messages (oldest dropped), expiring `ttl` after the last write;
- `signalway:updates-meta:{<run_id>}` — hash with the last id (`seq`) and timestamp (`ts`);
- `signalway:updates-dedupe:{<run_id>}` — sorted set of publish keys (score = the id they
  got), trimmed with the messages: a publish that names a key already there stores nothing
  and answers the first id, so an activity retry or a client retry never publishes twice;
- channel `signalway:updates-ch:{<run_id>}` — every stored message is published there: with
  PUBLISH on a single Redis, with SPUBLISH on a cluster (sharded pub/sub: the message goes
  to the shard that owns the run's slot, not to every node).

A Lua script assigns the id and the timestamp and stores and publishes in one step, so ids
are gapless and increasing, timestamps are strictly increasing per run (a client resuming
from `since=<timestamp>` misses nothing and repeats nothing), and the set, the publish order
and the ids always agree.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio.cluster import RedisCluster

from signalway.redis_connect import RedisClient

MAX_PER_RUN = 1000
TTL_SECONDS = 90 * 24 * 3600


def updates_key(run_id: str) -> str:
    return f"signalway:updates:{{{run_id}}}"


def meta_key(run_id: str) -> str:
    return f"signalway:updates-meta:{{{run_id}}}"


def dedupe_key(run_id: str) -> str:
    return f"signalway:updates-dedupe:{{{run_id}}}"


def channel(run_id: str) -> str:
    return f"signalway:updates-ch:{{{run_id}}}"


CHANNEL_PREFIX = "signalway:updates-ch:{"

# KEYS: meta, updates, dedupe. ARGV: channel, now_ms, max_per_run, ttl_seconds, body (a JSON
# object without id and timestamp), publish key ('' for none), PUBLISH | SPUBLISH. Returns the
# message's id.
_PUBLISH = """
if ARGV[6] ~= '' then
  local earlier = redis.call('ZSCORE', KEYS[3], ARGV[6])
  if earlier then return tonumber(earlier) end
end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local last = tonumber(redis.call('HGET', KEYS[1], 'ts') or '0')
local ts = tonumber(ARGV[2])
if ts <= last then ts = last + 1 end
redis.call('HSET', KEYS[1], 'ts', ts)
local record = '{"id":' .. seq .. ',"timestamp":' .. string.format('%d', ts) .. ',' .. string.sub(ARGV[5], 2)
redis.call('ZADD', KEYS[2], seq, record)
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[3]) + 1))
redis.call('EXPIRE', KEYS[2], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[4])
if ARGV[6] ~= '' then
  redis.call('ZADD', KEYS[3], seq, ARGV[6])
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', seq - tonumber(ARGV[3]))
  redis.call('EXPIRE', KEYS[3], ARGV[4])
end
redis.call(ARGV[7], ARGV[1], record)
return seq
"""


@dataclass(frozen=True)
class Message:
    id: int
    timestamp: int
    raw: str  # the stored JSON, served as is

    @classmethod
    def parse(cls, raw: str | bytes) -> Message:
        text = raw.decode() if isinstance(raw, bytes) else raw
        data = json.loads(text)
        return cls(id=int(data["id"]), timestamp=int(data["timestamp"]), raw=text)


class UpdateStore:
    def __init__(self, redis: RedisClient, *, max_per_run: int = MAX_PER_RUN, ttl_seconds: int = TTL_SECONDS):
        self._redis = redis
        self._publish_command = "SPUBLISH" if isinstance(redis, RedisCluster) else "PUBLISH"
        self.max_per_run = max_per_run
        self.ttl_seconds = ttl_seconds
        self._publish = redis.register_script(_PUBLISH)

    async def publish(
        self,
        run_id: str,
        *,
        type: str = "UPDATE",
        message: str | None = None,
        details: Any = None,
        workstream_id: str | None = None,
        key: str | None = None,
    ) -> int:
        """Store and publish one message; returns its id.

        With `key`, a message published before under the same key (among the run's kept
        ones) is not published again: its id is returned.
        """
        body = json.dumps(
            {
                "workflow_run_id": run_id,
                "type": type,
                "message": message if message is not None else type,
                "details": details,
                "workstream_id": workstream_id,
            },
            separators=(",", ":"),
        )
        seq = await self._publish(
            keys=[meta_key(run_id), updates_key(run_id), dedupe_key(run_id)],
            args=[channel(run_id), int(time.time() * 1000), self.max_per_run, self.ttl_seconds, body, key or "",
                  self._publish_command],
        )
        return int(seq)

    async def after_id(self, run_id: str, after: int) -> list[Message]:
        # Members only (no scores), and bytes: our clients never set decode_responses.
        raw = cast(list[bytes], await self._redis.zrangebyscore(updates_key(run_id), f"({after}", "+inf"))
        return [Message.parse(r) for r in raw]

    async def since(self, run_id: str, since_ms: int) -> list[Message]:
        raw = cast(list[bytes], await self._redis.zrange(updates_key(run_id), 0, -1))
        messages = [Message.parse(r) for r in raw]
        return [m for m in messages if m.timestamp > since_ms]

    async def last_id(self, run_id: str) -> int:
        seq = await self._redis.hget(meta_key(run_id), "seq")
        return int(seq) if seq is not None else 0
