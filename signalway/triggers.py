"""Event triggers (the event triggers API) in Redis: registered by workers, sent to by the gateway.

All keys of one project share a Redis Cluster hash tag (`{<project>}`), so every Lua script
below touches a single slot. Per project `P = signalway:trg:{<project>}:`:

- `P id:<id>` — hash: the trigger's fields; `request_payload`/`response_payload` are kept
  as raw JSON text so user payloads are never re-encoded;
- `P key:<event_key>` — the id of the key's latest trigger;
- `P all` — sorted set of ids by requested time (µs), for listing newest first;
- `P status:<status>` — sorted set of ids by the time they entered that status;
- `P waiting-keys` — sorted set (score 0) of the keys of waiting triggers, for prefix
  matches with ZRANGEBYLEX;
- `P run:<run_id>` — set of a run's trigger ids;
- `P stats` — received count and summed wait time, for `avg_wait_duration_secs`;
- `P early:<event_key>` — an event sent before its wait existed (bounded TTL), and
  `P early-index` — sorted set of held keys by expiry.

Status moves (waiting → received | timed_out | canceled) are Lua scripts, so however many
sends race, one wins.

This registry is an index, not the only truth: a waiting workflow re-registers its trigger
(idempotently, same id) on an interval, which restores it after Redis lost data.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, cast

import redis.asyncio as aioredis

from signalway.event_keys import MAX_EVENT_KEY_LENGTH, RESERVED_KEYS, invalid_event_key
from signalway.times import us_to_rfc3339

__all__ = [
    "MAX_EVENT_KEY_LENGTH",
    "RESERVED_KEYS",
    "STATUSES",
    "TERMINAL",
    "Registered",
    "Trigger",
    "TriggerStore",
    "invalid_event_key",
    "iso_us",
    "now_us",
    "prefix",
]

STATUSES = ("waiting", "received", "timed_out", "canceled")
TERMINAL = ("received", "timed_out", "canceled")


def prefix(project: str) -> str:
    return f"signalway:trg:{{{project}}}:"


def now_us() -> int:
    return time.time_ns() // 1000


# The event triggers API's one time format (microseconds: its date-time cursor names an item).
iso_us = us_to_rfc3339


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
  end
  if to == 'received' then
    local waited = (now - tonumber(redis.call('HGET', h, 'requested_us'))) / 1000000
    redis.call('HINCRBY', P .. 'stats', 'received', 1)
    redis.call('HINCRBYFLOAT', P .. 'stats', 'wait_sum', waited)
  end
end
"""

# KEYS: none (one project slot). ARGV: P, event_key, payload, fingerprint, now_us.
# Returns {outcome, id, fingerprint}: outcome is received-now | missing | <current status>.
_SEND = _MOVE + """
local P, key, payload, fp, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local id = redis.call('GET', P .. 'key:' .. key)
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

# ARGV: P, id, fingerprint. Undo a receive whose signal could not be delivered.
_UNSEND = """
local P, id, fp = ARGV[1], ARGV[2], ARGV[3]
local h = P .. 'id:' .. id
if redis.call('HGET', h, 'status') ~= 'received' or redis.call('HGET', h, 'fingerprint') ~= fp then return 0 end
local waited = (tonumber(redis.call('HGET', h, 'received_us')) - tonumber(redis.call('HGET', h, 'requested_us'))) / 1000000
redis.call('HSET', h, 'status', 'waiting')
redis.call('HDEL', h, 'response_payload', 'fingerprint', 'received_us')
redis.call('ZREM', P .. 'status:received', id)
redis.call('ZADD', P .. 'status:waiting', tonumber(redis.call('HGET', h, 'requested_us')), id)
redis.call('ZADD', P .. 'waiting-keys', 0, redis.call('HGET', h, 'event_key'))
redis.call('HINCRBY', P .. 'stats', 'received', -1)
redis.call('HINCRBYFLOAT', P .. 'stats', 'wait_sum', -waited)
return 1
"""

# ARGV: P, id, to (timed_out | canceled | received), now_us, error, payload. Only from waiting.
_SETTLE = _MOVE + """
local P, id, to, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local h = P .. 'id:' .. id
local status = redis.call('HGET', h, 'status')
if not status then return 'missing' end
if status ~= 'waiting' then return status end
local extra = {}
if ARGV[5] ~= '' then extra['error'] = ARGV[5] end
if to == 'received' then extra['response_payload'] = ARGV[6]; extra['received_us'] = now end
move(P, id, to, now, extra)
return 'ok'
"""

# ARGV: P, id, event_key, fields JSON (flat strings), run_id, requested_us, early?(1/0).
# Creates the trigger unless it exists (then returns its status); another waiting trigger
# on the same key is a conflict. A held early event is consumed at once. A third element
# 'new' marks the call that created the trigger (a re-registration returns two).
_REGISTER = _MOVE + """
local P, id, key, fields, run, requested = ARGV[1], ARGV[2], ARGV[3], cjson.decode(ARGV[4]), ARGV[5], tonumber(ARGV[6])
local h = P .. 'id:' .. id
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

    @classmethod
    def from_redis(cls, raw: dict[bytes, bytes]) -> Trigger:
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


# redis-py types replies as `bytes | str` (and sorted-set ranges as members or pairs); our
# clients never set decode_responses, so the casts below name the bytes that actually arrive.
_Scored = list[tuple[bytes, float]]


class TriggerStore:
    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis
        self._send = redis.register_script(_SEND)
        self._unsend = redis.register_script(_UNSEND)
        self._settle = redis.register_script(_SETTLE)
        self._register = redis.register_script(_REGISTER)

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
        status, payload, *created = await self._register(keys=[], args=[
            prefix(project), id, event_key, json.dumps(fields), run_id or "", requested_us, now_us()])
        status = status.decode() if isinstance(status, bytes) else status
        payload = payload.decode() if isinstance(payload, bytes) else payload
        return Registered(status=status, payload=json.loads(payload) if payload and status == "received" else None,
                          created=bool(created))

    async def get(self, project: str, id: str) -> Trigger | None:
        raw = cast(dict[bytes, bytes], await self._redis.hgetall(prefix(project) + "id:" + id))
        return Trigger.from_redis(raw) if raw else None

    async def by_key(self, project: str, event_key: str) -> Trigger | None:
        id = cast(bytes | None, await self._redis.get(prefix(project) + "key:" + event_key))
        return await self.get(project, id.decode()) if id else None

    async def send(
        self, project: str, event_key: str, payload: str, fingerprint: str
    ) -> tuple[str, str, str, Trigger | None]:
        """One round trip: (outcome, id, earlier fingerprint, the trigger after the send)."""
        result = await self._send(keys=[], args=[prefix(project), event_key, payload, fingerprint, now_us()])
        outcome, id, earlier = (x.decode() if isinstance(x, bytes) else x for x in result[:3])
        trigger = None
        if len(result) > 3 and result[3]:
            flat = result[3]
            trigger = Trigger.from_redis(dict(zip(flat[::2], flat[1::2], strict=True)))
        return outcome, id, earlier, trigger

    async def unsend(self, project: str, id: str, fingerprint: str) -> None:
        await self._unsend(keys=[], args=[prefix(project), id, fingerprint])

    async def settle(self, project: str, id: str, to: str, *, error: str = "", payload: str = "") -> str:
        result = await self._settle(keys=[], args=[prefix(project), id, to, now_us(), error, payload])
        return result.decode() if isinstance(result, bytes) else str(result)

    async def waiting_keys(self, project: str, key_prefix: str, *, limit: int = 10_000) -> list[str]:
        # Bounds as bytes: Redis compares members byte by byte (UTF-8), and 0xFF never occurs
        # in UTF-8, so `prefix + 0xFF` sorts after every key that starts with the prefix. A str
        # "\xff" would be encoded as C3 BF and miss keys whose next character encodes higher
        # (anything from U+0100 on).
        raw = key_prefix.encode()
        low, high = b"[" + raw, b"[" + raw + b"\xff"
        keys = cast(list[bytes], await self._redis.zrangebylex(prefix(project) + "waiting-keys", low, high,
                                                               start=0, num=limit))
        return [k.decode() for k in keys]

    async def page(self, project: str, *, before_us: int | None, batch: int) -> list[tuple[str, int]]:
        """Ids newest first, requested strictly before `before_us`."""
        high = f"({before_us}" if before_us is not None else "+inf"
        items = cast(_Scored, await self._redis.zrevrangebyscore(prefix(project) + "all", high, "-inf", start=0,
                                                                 num=batch, withscores=True))
        return [(i.decode(), int(s)) for i, s in items]

    async def of_run(self, project: str, run_id: str) -> list[Trigger]:
        ids = cast(set[bytes], await self._redis.smembers(prefix(project) + "run:" + run_id))
        triggers = [await self.get(project, i.decode()) for i in ids]
        return sorted((t for t in triggers if t is not None), key=lambda t: t.requested_us)

    async def stats(self, project: str) -> dict[str, Any]:
        P = prefix(project)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zcard(P + "all")
            for status in STATUSES:
                pipe.zcard(P + "status:" + status)
            pipe.hmget(P + "stats", "received", "wait_sum")
            total, *counts, (received, wait_sum) = await pipe.execute()
        received_n = int(received or 0)
        return {
            "total_count": total,
            **{f"{status}_count": count for status, count in zip(STATUSES, counts, strict=True)},
            "avg_wait_duration_secs": (float(wait_sum or 0) / received_n) if received_n else 0.0,
        }

    async def purge(self, project: str, *, older_than_us: int, dry_run: bool) -> int:
        P = prefix(project)
        ids: list[str] = []
        for status in TERMINAL:
            members = cast(list[bytes], await self._redis.zrangebyscore(P + "status:" + status, "-inf", older_than_us))
            ids += [i.decode() for i in members]
        if dry_run or not ids:
            return len(ids)
        for id in ids:
            trigger = await self.get(project, id)
            if trigger is None or trigger.status not in TERMINAL:
                continue
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(P + "id:" + id)
                pipe.zrem(P + "all", id)
                pipe.zrem(P + "status:" + trigger.status, id)
                if trigger.workflow_run_id:
                    pipe.srem(P + "run:" + trigger.workflow_run_id, id)
                await pipe.execute()
            # The key points at its latest trigger; drop it only if that was this one.
            await self._redis.eval(
                "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
                1, P + "key:" + trigger.event_key, id)
        return len(ids)

    # -- early events ---------------------------------------------------------------------

    async def hold(self, project: str, event_key: str, payload: str, *, ttl_seconds: int) -> int:
        """Keep an event for a wait that does not exist yet; returns its expiry (µs)."""
        P = prefix(project)
        expires = now_us() + ttl_seconds * 1_000_000
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(P + "early:" + event_key, payload, ex=ttl_seconds)
            pipe.zadd(P + "early-index", {event_key: expires})
            pipe.zremrangebyscore(P + "early-index", "-inf", now_us())
            await pipe.execute()
        return expires

    async def held(self, project: str) -> list[dict[str, Any]]:
        P = prefix(project)
        await self._redis.zremrangebyscore(P + "early-index", "-inf", now_us())
        out = []
        for key, expires in cast(_Scored, await self._redis.zrange(P + "early-index", 0, -1, withscores=True)):
            payload = await self._redis.get(P + "early:" + key.decode())
            if payload is not None:
                out.append({"event_key": key.decode(), "payload": json.loads(payload),
                            "expires_at": iso_us(int(expires))})
        return out

    async def drop_held(self, project: str, event_key: str) -> bool:
        P = prefix(project)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(P + "early:" + event_key)
            pipe.zrem(P + "early-index", event_key)
            deleted, _ = await pipe.execute()
        return bool(deleted)
