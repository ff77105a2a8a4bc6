"""Event triggers (the event triggers API) in Redis: registered by workers, sent to by the gateway.

Layout. A project's triggers are spread over `shards` buckets by event key (`bucket_of`: the
CRC-32 of the key's UTF-8 bytes modulo `shards`). A bucket is a key prefix `P` with a Redis
Cluster hash tag of its own, so it sits in one slot and a project's load spreads over up to
`shards` slots:

- `shards == 1`: `P = signalway:trg:{<project>}:`, the names from before buckets, so a
  single-Redis deployment keeps its data; a project whose name holds `}` is written as
  below (`%25`, `%7D`) with `~` after the tag, `signalway:trg:{<escaped>}~:`, so its name
  can neither end the tag early nor spell another project's keys;
- `shards > 1`: `P = signalway:trg:{<bucket>/<project>}:` with `%` and `}` of the project
  written `%25` and `%7D`. The hash tag (from the first `{` to the next `}`) is then exactly
  bucket and project: no two buckets share a tag, and no project's keys spell another's.

The count is recorded once in `signalway:trg-layout` (`check_layout`), and every process must
be configured with it: changing it moves almost every key to another bucket (a migration).

In each bucket:

- `P id:<id>` — hash: the trigger's fields; `request_payload`/`response_payload` are kept
  as raw JSON text so user payloads are never re-encoded;
- `P key:<event_key>` — the id of the key's latest trigger;
- `P all` — sorted set of ids by requested time (µs), for listing newest first;
- `P status:<status>` — sorted set of ids by the time they entered that status;
- `P waiting-keys` — sorted set (score 0) of the keys of waiting triggers, for prefix
  matches with ZRANGEBYLEX;
- `P run:<run_id>` — set of a run's trigger ids (those in this bucket);
- `P stats` — received count and summed wait time, for `avg_wait_duration_secs`, and
  `waiting_bytes`, the request payloads' bytes of the waiting triggers (a quota's usage);
- `P early:<event_key>` — an event sent before its wait existed (bounded TTL), and
  `P early-index` — sorted set of held keys by expiry.

Everything that changes together (a trigger's hash, its key pointer and run entry, the
bucket's sets and stats) is in the trigger's bucket. Status moves (waiting → received |
timed_out | canceled), registration, early events and purges are Lua scripts over one bucket
that declare a key of it (KEYS[1]), so a cluster client sends them to the slot's node, and
however many sends race, one wins.

Operations on one key (`by_key`, `send`, `register`, `hold`, `drop_held`) go to its bucket.
Operations on one id (`get`, `unsend`, `settle`) are given the event key to find the bucket;
without it (the settle of a run that started before the key was passed) one pipeline of EXISTS
over the buckets finds it. Project-wide operations fan out; in round trips, where a pipeline
is one round trip on a single Redis and one per node, concurrently, on a cluster:

- `page` (list): one pipeline of ZREVRANGEBYSCORE (one per bucket), merged newest first with
  ties by id, descending (the order of one bucket's ZREVRANGEBYSCORE), then one pipeline of
  HGETALL for the page. A page holds only times every bucket's read covered whole and ends on
  a whole instant (every trigger requested in its last µs is in it), so the next page,
  strictly before that time, misses none; only when the newest instant left fills a bucket's
  read does one more pipeline read that instant whole.
- `stats`: one pipeline (six reads per bucket), summed; the average wait is the summed wait
  over the summed received count.
- `purge`: the dry run, one pipeline of ZCOUNT (one per bucket and terminal status); the real
  run, one script call per bucket per `_PURGE_BATCH` triggers, the buckets concurrently. Both
  count the same index entries, so a dry run says what the real run deletes.
- `waiting_keys` (prefix send): one pipeline of ZRANGEBYLEX, merged in byte order, cut at the limit.
- `held`: one pipeline (expired entries dropped and the index read, per bucket), then one of GET.
- `of_run`: one pipeline of SMEMBERS, then one of HGETALL.

With `shards == 1` the pipelines hold one bucket's commands: no operation takes more round trips
than before buckets, and listing and `held` take fewer (their per-item reads are pipelined).

This registry is an index, not the only truth: a waiting workflow re-registers its trigger
(idempotently, same id) on an interval, which restores it after Redis lost data.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from signalway.event_keys import MAX_EVENT_KEY_LENGTH, RESERVED_KEYS, invalid_event_key
from signalway.redis_connect import RedisClient
from signalway.times import us_to_rfc3339

__all__ = [
    "LAYOUT_KEY",
    "MAX_EVENT_KEY_LENGTH",
    "MAX_SHARDS",
    "RESERVED_KEYS",
    "STATUSES",
    "TERMINAL",
    "Page",
    "Registered",
    "Trigger",
    "TriggerStore",
    "bucket_of",
    "invalid_event_key",
    "iso_us",
    "now_us",
    "prefix",
]

STATUSES = ("waiting", "received", "timed_out", "canceled")
TERMINAL = ("received", "timed_out", "canceled")
# Where the bucket count is recorded (`TriggerStore.check_layout`).
LAYOUT_KEY = "signalway:trg-layout"
MAX_SHARDS = 1024
# Triggers one purge script call deletes at most, so that no call blocks Redis for long.
_PURGE_BATCH = 500


def _escaped(project: str) -> str:
    return project.replace("%", "%25").replace("}", "%7D")


def prefix(project: str, bucket: int | None = None) -> str:
    """The key prefix of a project's bucket; `None` is the one-bucket layout (`shards == 1`).

    One bucket: a project without `}` keeps the names from before buckets; one with `}`
    (which would end the hash tag inside the name and spell another project's keys) is
    escaped as in the bucketed layout and marked by `~` after the tag, which no unescaped
    name has there, so no two projects share a key."""
    if bucket is None:
        if "}" in project:
            return f"signalway:trg:{{{_escaped(project)}}}~:"
        return f"signalway:trg:{{{project}}}:"
    return f"signalway:trg:{{{bucket}/{_escaped(project)}}}:"


def bucket_of(event_key: str, shards: int) -> int:
    """The bucket of an event key: stable across processes and versions (CRC-32, not `hash`)."""
    return zlib.crc32(event_key.encode()) % shards


def now_us() -> int:
    return time.time_ns() // 1000


# The event triggers API's one time format (microseconds: its date-time cursor names an item).
iso_us = us_to_rfc3339


# Every script below works in one bucket: ARGV[1] is its prefix P, and KEYS[1] one of its keys
# (the one the script is about), declared so that a cluster client routes the call to its slot.

# Moves a trigger between statuses and keeps every index in step. Used inside other scripts.
_MOVE = """
local function move(P, id, to, now, extra)
  local h = P .. 'id:' .. id
  local from = redis.call('HGET', h, 'status')
  redis.call('HSET', h, 'status', to)
  for k, v in pairs(extra) do redis.call('HSET', h, k, v) end
  redis.call('ZREM', P .. 'status:' .. from, id)
  redis.call('ZADD', P .. 'status:' .. to, now, id)
  if from == 'waiting' then
    redis.call('ZREM', P .. 'waiting-keys', redis.call('HGET', h, 'event_key'))
    local size = redis.call('HSTRLEN', h, 'request_payload')
    if size > 0 then redis.call('HINCRBY', P .. 'stats', 'waiting_bytes', 0 - size) end
  end
  if to == 'received' then
    local waited = (now - tonumber(redis.call('HGET', h, 'requested_us'))) / 1000000
    redis.call('HINCRBY', P .. 'stats', 'received', 1)
    redis.call('HINCRBYFLOAT', P .. 'stats', 'wait_sum', waited)
  end
end
"""

# KEYS: P key:<event_key>. ARGV: P, event_key, payload, fingerprint, now_us.
# Returns {outcome, id, fingerprint}: outcome is received-now | missing | <current status>.
_SEND = _MOVE + """
local P, key, payload, fp, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local id = redis.call('GET', KEYS[1])
if not id then return {'missing', '', ''} end
local h = P .. 'id:' .. id
local status = redis.call('HGET', h, 'status')
if not status then return {'missing', '', ''} end
if status == 'waiting' then
  local expires = tonumber(redis.call('HGET', h, 'expires_us') or '0')
  if expires > 0 and now >= expires then
    move(P, id, 'timed_out', now, {error = 'timed out before the event arrived'})
    return {'timed_out', id, ''}
  end
  move(P, id, 'received', now, {response_payload = payload, fingerprint = fp, received_us = now})
  return {'received-now', id, fp, redis.call('HGETALL', h)}
end
return {status, id, redis.call('HGET', h, 'fingerprint') or '', redis.call('HGETALL', h)}
"""

# KEYS: P id:<id>. ARGV: P, id, fingerprint. Undo a receive whose signal could not be delivered.
_UNSEND = """
local P, id, fp = ARGV[1], ARGV[2], ARGV[3]
local h = KEYS[1]
if redis.call('HGET', h, 'status') ~= 'received' or redis.call('HGET', h, 'fingerprint') ~= fp then return 0 end
local waited = (tonumber(redis.call('HGET', h, 'received_us')) - tonumber(redis.call('HGET', h, 'requested_us'))) / 1000000
redis.call('HSET', h, 'status', 'waiting')
redis.call('HDEL', h, 'response_payload', 'fingerprint', 'received_us')
redis.call('ZREM', P .. 'status:received', id)
redis.call('ZADD', P .. 'status:waiting', tonumber(redis.call('HGET', h, 'requested_us')), id)
redis.call('ZADD', P .. 'waiting-keys', 0, redis.call('HGET', h, 'event_key'))
redis.call('HINCRBY', P .. 'stats', 'waiting_bytes', redis.call('HSTRLEN', h, 'request_payload'))
redis.call('HINCRBY', P .. 'stats', 'received', -1)
redis.call('HINCRBYFLOAT', P .. 'stats', 'wait_sum', -waited)
return 1
"""

# KEYS: P id:<id>. ARGV: P, id, to (timed_out | canceled | received), now_us, error, payload.
# Only from waiting.
_SETTLE = _MOVE + """
local P, id, to, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'missing' end
if status ~= 'waiting' then return status end
local extra = {}
if ARGV[5] ~= '' then extra['error'] = ARGV[5] end
if to == 'received' then extra['response_payload'] = ARGV[6]; extra['received_us'] = now end
move(P, id, to, now, extra)
return 'ok'
"""

# KEYS: P id:<id>. ARGV: P, id, event_key, fields JSON (flat strings), run_id, requested_us, now_us.
# Creates the trigger unless it exists (then returns its status); another waiting trigger
# on the same key is a conflict. A held early event is consumed at once. A third element
# 'new' marks the call that created the trigger (a re-registration returns two).
_REGISTER = _MOVE + """
local P, id, key, fields, run, requested = ARGV[1], ARGV[2], ARGV[3], cjson.decode(ARGV[4]), ARGV[5], tonumber(ARGV[6])
local h = KEYS[1]
local status = redis.call('HGET', h, 'status')
if status then return {status, redis.call('HGET', h, 'response_payload') or ''} end
local current = redis.call('GET', P .. 'key:' .. key)
if current and current ~= id and redis.call('HGET', P .. 'id:' .. current, 'status') == 'waiting' then
  return {'conflict', current}
end
for k, v in pairs(fields) do redis.call('HSET', h, k, v) end
redis.call('HSET', h, 'status', 'waiting')
redis.call('SET', P .. 'key:' .. key, id)
redis.call('ZADD', P .. 'all', requested, id)
redis.call('ZADD', P .. 'status:waiting', requested, id)
redis.call('ZADD', P .. 'waiting-keys', 0, key)
local size = redis.call('HSTRLEN', h, 'request_payload')
if size > 0 then redis.call('HINCRBY', P .. 'stats', 'waiting_bytes', size) end
if run ~= '' then redis.call('SADD', P .. 'run:' .. run, id) end
local early = redis.call('GET', P .. 'early:' .. key)
if early then
  redis.call('DEL', P .. 'early:' .. key)
  redis.call('ZREM', P .. 'early-index', key)
  local now = tonumber(ARGV[7])
  move(P, id, 'received', now, {response_payload = early, received_us = now, fingerprint = 'early'})
  return {'received', early, 'new'}
end
return {'waiting', '', 'new'}
"""

# KEYS: P all. ARGV: P, older_than_us, limit. Deletes at most `limit` triggers whose terminal
# status began at or before older_than_us, with their index entries; returns how many entries
# of the terminal status sets it removed (what a dry run's ZCOUNT counts).
_PURGE = """
local P, cutoff, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])
local removed = 0
for _, status in ipairs({'received', 'timed_out', 'canceled'}) do
  if removed >= limit then break end
  local ids = redis.call('ZRANGEBYSCORE', P .. 'status:' .. status, '-inf', cutoff, 'LIMIT', 0, limit - removed)
  for _, id in ipairs(ids) do
    local h = P .. 'id:' .. id
    local fields = redis.call('HMGET', h, 'status', 'event_key', 'workflow_run_id')
    redis.call('ZREM', P .. 'status:' .. status, id)
    -- A trigger in another status now keeps its hash; a lost hash leaves no entry behind.
    if fields[1] == status or not fields[1] then
      redis.call('DEL', h)
      redis.call('ZREM', KEYS[1], id)
      if fields[3] and fields[3] ~= '' then redis.call('SREM', P .. 'run:' .. fields[3], id) end
      -- The key points at its latest trigger; drop it only if that was this one.
      if fields[2] and redis.call('GET', P .. 'key:' .. fields[2]) == id then
        redis.call('DEL', P .. 'key:' .. fields[2])
      end
    end
    removed = removed + 1
  end
end
return removed
"""

# KEYS: P early:<event_key>. ARGV: P, event_key, payload, ttl_seconds, expires_us, now_us.
_HOLD = """
redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[4])
redis.call('ZADD', ARGV[1] .. 'early-index', ARGV[5], ARGV[2])
redis.call('ZREMRANGEBYSCORE', ARGV[1] .. 'early-index', '-inf', ARGV[6])
return 1
"""

# KEYS: P early:<event_key>. ARGV: P, event_key. Returns 1 when an event was held.
_DROP_HELD = """
local deleted = redis.call('DEL', KEYS[1])
redis.call('ZREM', ARGV[1] .. 'early-index', ARGV[2])
return deleted
"""


@dataclass(frozen=True)
class Trigger:
    id: str
    event_key: str
    project_id: str
    source_type: str
    workflow_id: str | None
    workflow_run_id: str | None
    workflow_step_run_id: str | None
    job_run_id: str | None
    status: str
    request_payload: Any
    response_payload: Any
    timeout_secs: float | None
    requested_us: int
    received_us: int | None
    expires_us: int | None
    error: str | None
    fingerprint: str | None
    # The stored JSON text of both payloads, in bytes: what loading them costs. A trigger read
    # without its payloads (`TriggerStore.page(payloads=False)`) has both None and this set.
    payload_bytes: int = 0

    @classmethod
    def from_redis(cls, raw: dict[bytes, bytes], *, payload_bytes: int | None = None) -> Trigger:
        d = {k.decode(): v.decode() for k, v in raw.items()}

        def opt(name: str) -> str | None:
            return d.get(name) or None

        return cls(
            id=d["id"], event_key=d["event_key"], project_id=d["project_id"], source_type=d["source_type"],
            workflow_id=opt("workflow_id"), workflow_run_id=opt("workflow_run_id"),
            workflow_step_run_id=opt("workflow_step_run_id"), job_run_id=opt("job_run_id"), status=d["status"],
            request_payload=json.loads(d["request_payload"]) if d.get("request_payload") else None,
            response_payload=json.loads(d["response_payload"]) if d.get("response_payload") else None,
            timeout_secs=float(d["timeout_secs"]) if d.get("timeout_secs") else None,
            requested_us=int(d["requested_us"]), received_us=int(d["received_us"]) if d.get("received_us") else None,
            expires_us=int(d["expires_us"]) if d.get("expires_us") else None, error=opt("error"),
            fingerprint=opt("fingerprint"),
            payload_bytes=payload_bytes if payload_bytes is not None else
            len(raw.get(b"request_payload", b"")) + len(raw.get(b"response_payload", b"")),
        )

    @property
    def expired(self) -> bool:
        return self.status == "waiting" and self.expires_us is not None and now_us() >= self.expires_us

    def as_api(self) -> dict[str, Any]:
        """The trigger as the event triggers API shows it (the wire object of `GET /v1/events/{key}`)."""
        return {
            "id": self.id, "event_key": self.event_key, "project_id": self.project_id,
            "source_type": self.source_type, "workflow_run_id": self.workflow_run_id,
            "workflow_step_run_id": self.workflow_step_run_id, "job_run_id": self.job_run_id,
            "status": "timed_out" if self.expired else self.status,
            "request_payload": self.request_payload, "response_payload": self.response_payload,
            "timeout_secs": self.timeout_secs, "requested_at": iso_us(self.requested_us),
            "received_at": iso_us(self.received_us), "expires_at": iso_us(self.expires_us), "error": self.error,
        }


@dataclass(frozen=True)
class Registered:
    status: str  # waiting | received | timed_out | canceled | conflict
    payload: Any = None
    created: bool = False  # this call created the trigger (not a re-registration)


@dataclass(frozen=True)
class Page:
    """A page of a project's triggers, newest first (`TriggerStore.page`)."""

    triggers: list[Trigger]
    # Pass as `before_us` for the next page; None when nothing older is left.
    next_before_us: int | None


# Every field of a trigger's hash but its payloads (read apart, when wanted).
_META_FIELDS = ("id", "event_key", "project_id", "source_type", "workflow_id", "workflow_run_id",
                "workflow_step_run_id", "job_run_id", "status", "timeout_secs", "requested_us", "received_us",
                "expires_us", "error", "fingerprint")
_META_KEYS = tuple(name.encode() for name in _META_FIELDS)

# redis-py types replies as `bytes | str` (and sorted-set ranges as members or pairs); our
# clients never set decode_responses, so the casts below name the bytes that actually arrive.
_Scored = list[tuple[bytes, float]]
# An entry of a bucket's time index: (requested µs, id, the bucket's prefix).
_Entry = tuple[int, bytes, str]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class TriggerStore:
    def __init__(self, redis: RedisClient, *, shards: int = 1) -> None:
        if not 1 <= shards <= MAX_SHARDS:
            raise ValueError(f"The trigger registry's shard count must be 1 to {MAX_SHARDS}, not {shards}.")
        self._redis = redis
        self._shards = shards
        self._send = redis.register_script(_SEND)
        self._unsend = redis.register_script(_UNSEND)
        self._settle = redis.register_script(_SETTLE)
        self._register = redis.register_script(_REGISTER)
        self._purge = redis.register_script(_PURGE)
        self._hold = redis.register_script(_HOLD)
        self._drop_held = redis.register_script(_DROP_HELD)

    @property
    def shards(self) -> int:
        return self._shards

    # -- layout ---------------------------------------------------------------------------

    async def check_layout(self) -> None:
        """Record the bucket count in Redis the first time; refuse to run with another one."""
        await self._redis.set(LAYOUT_KEY, self._shards, nx=True)
        raw = cast(bytes | None, await self._redis.get(LAYOUT_KEY))
        recorded = raw.decode() if raw is not None else None
        if recorded != str(self._shards):
            raise ValueError(
                f"The trigger registry in this Redis is laid out in {recorded} bucket(s) per project "
                f"(recorded in {LAYOUT_KEY!r}), but this process is configured with {self._shards}. "
                "Configure the recorded count: changing it moves triggers to other buckets and needs a "
                "migration of the registry's keys.")

    def _prefix(self, project: str, bucket: int) -> str:
        return prefix(project) if self._shards == 1 else prefix(project, bucket)

    def _prefixes(self, project: str) -> list[str]:
        return [self._prefix(project, b) for b in range(self._shards)]

    def _keyed(self, project: str, event_key: str) -> str:
        """The prefix of the event key's bucket."""
        return self._prefix(project, bucket_of(event_key, self._shards))

    async def _bucket_of_id(self, project: str, id: str, event_key: str | None) -> str | None:
        """The prefix of the bucket holding trigger `id`: by its key when known, else looked up."""
        if event_key is not None:
            return self._keyed(project, event_key)
        prefixes = self._prefixes(project)
        if len(prefixes) == 1:
            return prefixes[0]
        async with self._redis.pipeline(transaction=False) as pipe:
            for P in prefixes:
                pipe.exists(P + "id:" + id)
            found = await pipe.execute()
        return next((P for P, n in zip(prefixes, found, strict=True) if n), None)

    async def _load_meta(self, items: Sequence[tuple[str, bytes | str]]) -> list[Trigger]:
        """As `_load`, without the payloads: every other field, and the payloads' sizes."""
        if not items:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for P, id in items:
                h = P + "id:" + _text(id)
                pipe.hmget(h, _META_FIELDS)
                pipe.hstrlen(h, "request_payload")
                pipe.hstrlen(h, "response_payload")
            replies = await pipe.execute()
        found = []
        for i in range(0, len(replies), 3):
            values, request_size, response_size = replies[i:i + 3]
            raw = {name: value for name, value in zip(_META_KEYS, values, strict=True) if value is not None}
            if b"id" in raw:
                found.append(Trigger.from_redis(raw, payload_bytes=int(request_size) + int(response_size)))
        return found

    async def with_payloads(self, project: str, triggers: Sequence[Trigger]) -> list[Trigger]:
        """`triggers` read again whole, payloads included (those deleted meanwhile left out)."""
        return await self._load([(self._keyed(project, t.event_key), t.id) for t in triggers])

    async def _load(self, items: Sequence[tuple[str, bytes | str]]) -> list[Trigger]:
        """The triggers of (bucket prefix, id) pairs in one pipeline, in order; missing ones left out."""
        if not items:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for P, id in items:
                pipe.hgetall(P + "id:" + _text(id))
            raws = cast(list[dict[bytes, bytes]], await pipe.execute())
        return [Trigger.from_redis(raw) for raw in raws if raw]

    # -- one key or id --------------------------------------------------------------------

    async def register(
        self, *, project: str, id: str, event_key: str, source_type: str, workflow_id: str | None,
        run_id: str | None, step_run_id: str | None, job_run_id: str | None, request_payload: Any,
        timeout_secs: float | None, requested_us: int, expires_us: int | None,
    ) -> Registered:
        fields = {
            "id": id, "event_key": event_key, "project_id": project, "source_type": source_type,
            "workflow_id": workflow_id or "", "workflow_run_id": run_id or "",
            "workflow_step_run_id": step_run_id or "", "job_run_id": job_run_id or "",
            "request_payload": json.dumps(request_payload) if request_payload is not None else "",
            "timeout_secs": repr(timeout_secs) if timeout_secs is not None else "",
            "requested_us": str(requested_us), "expires_us": str(expires_us or ""),
        }
        P = self._keyed(project, event_key)
        status, payload, *created = await self._register(keys=[P + "id:" + id], args=[
            P, id, event_key, json.dumps(fields), run_id or "", requested_us, now_us()])
        status, payload = _text(status), _text(payload)
        return Registered(status=status, payload=json.loads(payload) if payload and status == "received" else None,
                          created=bool(created))

    async def get(self, project: str, id: str, *, event_key: str | None = None) -> Trigger | None:
        """Trigger `id`; pass its event key when known (else every bucket is asked)."""
        prefixes = [self._keyed(project, event_key)] if event_key is not None else self._prefixes(project)
        found = await self._load([(P, id) for P in prefixes])
        return found[0] if found else None

    async def by_key(self, project: str, event_key: str) -> Trigger | None:
        id = cast(bytes | None, await self._redis.get(self._keyed(project, event_key) + "key:" + event_key))
        return await self.get(project, id.decode(), event_key=event_key) if id is not None else None

    async def send(
        self, project: str, event_key: str, payload: str, fingerprint: str
    ) -> tuple[str, str, str, Trigger | None]:
        """One round trip: (outcome, id, earlier fingerprint, the trigger after the send)."""
        P = self._keyed(project, event_key)
        result = await self._send(keys=[P + "key:" + event_key],
                                  args=[P, event_key, payload, fingerprint, now_us()])
        outcome, id, earlier = (_text(x) for x in result[:3])
        trigger = None
        if len(result) > 3 and result[3]:
            flat = result[3]
            trigger = Trigger.from_redis(dict(zip(flat[::2], flat[1::2], strict=True)))
        return outcome, id, earlier, trigger

    async def unsend(self, project: str, id: str, fingerprint: str, *, event_key: str | None = None) -> None:
        P = await self._bucket_of_id(project, id, event_key)
        if P is not None:
            await self._unsend(keys=[P + "id:" + id], args=[P, id, fingerprint])

    async def settle(self, project: str, id: str, to: str, *, event_key: str | None = None, error: str = "",
                     payload: str = "") -> str:
        """Move a waiting trigger to `to`: 'ok', 'missing' or the status it already had.

        `event_key` names the bucket; without it (a run from before it was passed) every
        bucket is asked where the trigger is."""
        P = await self._bucket_of_id(project, id, event_key)
        if P is None:
            return "missing"
        return _text(await self._settle(keys=[P + "id:" + id], args=[P, id, to, now_us(), error, payload]))

    # -- the whole project ----------------------------------------------------------------

    async def waiting_keys(self, project: str, key_prefix: str, *, limit: int = 10_000) -> list[str]:
        """Keys of waiting triggers that start with `key_prefix`, in byte order, at most `limit`."""
        # Bounds as bytes: Redis compares members byte by byte (UTF-8), and 0xFF never occurs
        # in UTF-8, so `prefix + 0xFF` sorts after every key that starts with the prefix. A str
        # "\xff" would be encoded as C3 BF and miss keys whose next character encodes higher
        # (anything from U+0100 on).
        raw = key_prefix.encode()
        low, high = b"[" + raw, b"[" + raw + b"\xff"
        async with self._redis.pipeline(transaction=False) as pipe:
            for P in self._prefixes(project):
                pipe.zrangebylex(P + "waiting-keys", low, high, start=0, num=limit)
            replies = cast(list[list[bytes]], await pipe.execute())
        # Each bucket's first `limit` in byte order, so the merge's first `limit` are the project's.
        return [k.decode() for k in sorted(k for keys in replies for k in keys)[:limit]]

    async def by_keys(self, project: str, event_keys: Sequence[str]) -> list[Trigger]:
        """The latest trigger of each key, in order, without payloads (`payload_bytes` set)."""
        if not event_keys:
            return []
        prefixes = [self._keyed(project, k) for k in event_keys]
        async with self._redis.pipeline(transaction=False) as pipe:
            for P, k in zip(prefixes, event_keys, strict=True):
                pipe.get(P + "key:" + k)
            ids = cast(list[bytes | None], await pipe.execute())
        return await self._load_meta([(P, id) for P, id in zip(prefixes, ids, strict=True) if id is not None])

    async def page(self, project: str, *, before_us: int | None, batch: int, payloads: bool = True) -> Page:
        """About `batch` triggers requested strictly before `before_us`, newest first.

        The page ends on a whole instant: every trigger requested in the µs of its last one is
        in it (so it may hold more than `batch`), and `next_before_us` misses none. Without
        `payloads` the triggers carry only their payloads' sizes (`with_payloads` reads them)."""
        batch = max(batch, 1)
        high = f"({before_us}" if before_us is not None else "+inf"
        prefixes = self._prefixes(project)
        async with self._redis.pipeline(transaction=False) as pipe:
            for P in prefixes:
                pipe.zrevrangebyscore(P + "all", high, "-inf", start=0, num=batch, withscores=True)
            replies = cast(list[_Scored], await pipe.execute())
        entries: list[_Entry] = [(int(score), id, P) for P, items in zip(prefixes, replies, strict=True)
                                 for id, score in items]
        entries.sort(reverse=True)  # newest first; ties by id, descending, as ZREVRANGEBYSCORE has them
        # A bucket that filled its page may hold more triggers at or below its last time: only
        # the entries above the highest such time (the floor) are all the project has there.
        full = [int(items[-1][1]) for items in replies if len(items) == batch]
        floor = max(full) if full else None
        complete = [e for e in entries if floor is None or e[0] > floor]
        if len(complete) > batch:
            edge = complete[batch - 1][0]
            chosen, more = [e for e in complete if e[0] >= edge], True
        elif complete:
            chosen, more = complete, floor is not None
        elif floor is not None:
            # The newest instant left is the floor itself: read all of it.
            chosen, more = await self._instant(prefixes, floor), True
        else:
            return Page(triggers=[], next_before_us=None)
        load = self._load if payloads else self._load_meta
        triggers = await load([(P, id) for _, id, P in chosen])
        return Page(triggers=triggers, next_before_us=chosen[-1][0] if more else None)

    async def _instant(self, prefixes: list[str], at_us: int) -> list[_Entry]:
        """Every entry requested at `at_us`, in every bucket, in page order."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for P in prefixes:
                pipe.zrevrangebyscore(P + "all", at_us, at_us, withscores=True)
            replies = cast(list[_Scored], await pipe.execute())
        return sorted(((int(score), id, P) for P, items in zip(prefixes, replies, strict=True)
                       for id, score in items), reverse=True)

    async def of_run(self, project: str, run_id: str) -> list[Trigger]:
        """A run's triggers, oldest first."""
        prefixes = self._prefixes(project)
        async with self._redis.pipeline(transaction=False) as pipe:
            for P in prefixes:
                pipe.smembers(P + "run:" + run_id)
            replies = cast(list[set[bytes]], await pipe.execute())
        triggers = await self._load([(P, id) for P, ids in zip(prefixes, replies, strict=True) for id in sorted(ids)])
        return sorted(triggers, key=lambda t: (t.requested_us, t.id))

    async def stats(self, project: str) -> dict[str, Any]:
        prefixes = self._prefixes(project)
        async with self._redis.pipeline(transaction=False) as pipe:
            for P in prefixes:
                pipe.zcard(P + "all")
                for status in STATUSES:
                    pipe.zcard(P + "status:" + status)
                pipe.hmget(P + "stats", "received", "wait_sum")
            replies = await pipe.execute()
        step = 2 + len(STATUSES)
        total, counts, received, wait_sum = 0, [0] * len(STATUSES), 0, 0.0
        for i in range(0, len(replies), step):
            bucket_total, *bucket_counts, (bucket_received, bucket_wait) = replies[i:i + step]
            total += int(bucket_total)
            counts = [a + int(b) for a, b in zip(counts, bucket_counts, strict=True)]
            received += int(bucket_received or 0)
            wait_sum += float(bucket_wait or 0)
        return {
            "total_count": total,
            **{f"{status}_count": count for status, count in zip(STATUSES, counts, strict=True)},
            "avg_wait_duration_secs": wait_sum / received if received else 0.0,
        }

    async def waiting_usage(self, project: str) -> tuple[int, int]:
        """(waiting triggers, bytes of their request payloads) of the project: one pipeline.

        The bytes are kept by the scripts in each bucket's `stats` (`waiting_bytes`), in step
        with every move into and out of `waiting`; a trigger registered before they were kept
        counts 0 (and never below 0 once it leaves)."""
        prefixes = self._prefixes(project)
        async with self._redis.pipeline(transaction=False) as pipe:
            for P in prefixes:
                pipe.zcard(P + "status:waiting")
                pipe.hget(P + "stats", "waiting_bytes")
            replies = await pipe.execute()
        count = sum(int(n) for n in replies[0::2])
        size = sum(max(0, int(b or 0)) for b in replies[1::2])
        return count, size

    async def purge(self, project: str, *, older_than_us: int, dry_run: bool) -> int:
        """Delete (or with `dry_run` count) terminal triggers whose status began at or before
        `older_than_us`; both count the same index entries."""
        prefixes = self._prefixes(project)
        if dry_run:
            async with self._redis.pipeline(transaction=False) as pipe:
                for P in prefixes:
                    for status in TERMINAL:
                        pipe.zcount(P + "status:" + status, "-inf", older_than_us)
                return sum(int(n) for n in await pipe.execute())

        async def bucket(P: str) -> int:
            deleted = 0
            while True:
                n = int(await self._purge(keys=[P + "all"], args=[P, older_than_us, _PURGE_BATCH]))
                deleted += n
                if n < _PURGE_BATCH:
                    return deleted

        return sum(await asyncio.gather(*(bucket(P) for P in prefixes)))

    # -- early events ---------------------------------------------------------------------

    async def hold(self, project: str, event_key: str, payload: str, *, ttl_seconds: int) -> int:
        """Keep an event for a wait that does not exist yet; returns its expiry (µs)."""
        P = self._keyed(project, event_key)
        now = now_us()
        expires = now + ttl_seconds * 1_000_000
        await self._hold(keys=[P + "early:" + event_key], args=[P, event_key, payload, ttl_seconds, expires, now])
        return expires

    async def held(self, project: str) -> list[dict[str, Any]]:
        """The events held in the project, soonest expiry first."""
        prefixes = self._prefixes(project)
        now = now_us()
        async with self._redis.pipeline(transaction=False) as pipe:
            for P in prefixes:
                pipe.zremrangebyscore(P + "early-index", "-inf", now)
                pipe.zrange(P + "early-index", 0, -1, withscores=True)
            replies = await pipe.execute()
        indexed = sorted((int(expires), key, P) for P, items in zip(prefixes, replies[1::2], strict=True)
                         for key, expires in cast(_Scored, items))
        if not indexed:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for _, key, P in indexed:
                pipe.get(P + "early:" + key.decode())
            payloads = cast(list[bytes | None], await pipe.execute())
        return [{"event_key": key.decode(), "payload": json.loads(payload), "expires_at": iso_us(expires)}
                for (expires, key, _), payload in zip(indexed, payloads, strict=True) if payload is not None]

    async def drop_held(self, project: str, event_key: str) -> bool:
        P = self._keyed(project, event_key)
        return bool(await self._drop_held(keys=[P + "early:" + event_key], args=[P, event_key]))


async def check_layout_at_start(store: TriggerStore, log: logging.Logger) -> None:
    """A process's start-up check of `SIGNALWAY_TRIGGER_SHARDS` against what Redis recorded.

    Another count than the recorded one is a configuration error (exit 2, the reason on stderr):
    running with it would hide every trigger in a bucket the process no longer looks in. A
    Redis that does not answer yet is not: the process starts (and answers 503 meanwhile), and
    the check runs at its next start or in the next process that reaches Redis.
    """
    try:
        await store.check_layout()
    except ValueError as exc:
        print(f"configuration error: SIGNALWAY_TRIGGER_SHARDS: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        log.warning("could not check the trigger registry's layout in Redis (%s); going on", exc)
