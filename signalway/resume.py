"""Resume steps ("webhook and wait") in Redis: written by the worker, resumed by the gateway.

The resume URL is `<public url>/public/send-user-signal/<token>`. The token is
HMAC-SHA256(resume secret, nonce) — 256 bits, with a 128-bit nonce from `secrets` — so it
can be re-derived by any worker for a retried webhook delivery, yet the token itself is
never written anywhere: Temporal history holds only the nonce, Redis only the token's
SHA-256. Per step, in Redis:

- `signalway:resume:<sha256(token)>` — hash: workflow_id, run_id, step, project, variables
  (JSON {name: type}), deadline_ms, created_ms, status (waiting | resumed | revoked), prompt
  (optional: what the step asks, shown on the resume page), and once resumed: fingerprint
  (of the variables), resumed_ms, client_ip, user_agent;
- `signalway:resume-run:{<run_id>}` — hash step → sha256(token), to list and manage a run's steps;
- `signalway:resume-nonce:{<run_id>}:<step>` — the step's nonce, so a retried open is idempotent.

Status changes are Lua scripts, so concurrent resumes of one URL resume it exactly once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import cast

from redis.typing import EncodableT, FieldT

from signalway.redis_connect import RedisClient

PATH_PREFIX = "/public/send-user-signal/"
# Records outlive their deadline a while, so a late caller hears "expired" (410), not "unknown".
KEEP_AFTER_DEADLINE_SECONDS = 7 * 24 * 3600


def token_for(secret: bytes, nonce: str) -> str:
    digest = hmac.new(secret, nonce.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def resume_url(public_url: str, token: str) -> str:
    return public_url.rstrip("/") + PATH_PREFIX + token


def step_key(hashed: str) -> str:
    return f"signalway:resume:{hashed}"


def run_steps_key(run_id: str) -> str:
    return f"signalway:resume-run:{{{run_id}}}"


def nonce_key(run_id: str, step: str) -> str:
    return f"signalway:resume-nonce:{{{run_id}}}:{step}"


# KEYS: record. ARGV: now_ms, fingerprint, client_ip, user_agent.
_RESUME = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'missing', ''} end
if status == 'waiting' then
  local deadline = tonumber(redis.call('HGET', KEYS[1], 'deadline_ms') or '') or 0
  if deadline > 0 and tonumber(ARGV[1]) >= deadline then return {'expired', ''} end
  redis.call('HSET', KEYS[1], 'status', 'resumed', 'fingerprint', ARGV[2], 'resumed_ms', ARGV[1],
             'client_ip', ARGV[3], 'user_agent', ARGV[4])
  return {'resumed-now', ARGV[2]}
end
return {status, redis.call('HGET', KEYS[1], 'fingerprint') or ''}
"""

# KEYS: record. ARGV: fingerprint. Undo a resume whose signal could not be delivered.
_REVERT = """
if redis.call('HGET', KEYS[1], 'status') == 'resumed' and redis.call('HGET', KEYS[1], 'fingerprint') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'status', 'waiting')
  redis.call('HDEL', KEYS[1], 'fingerprint', 'resumed_ms', 'client_ip', 'user_agent')
  return 1
end
return 0
"""

# KEYS: record. ARGV: action (revoke | extend), now_ms, new deadline_ms, ttl seconds.
_MANAGE = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'missing' end
if status ~= 'waiting' then return status end
local deadline = tonumber(redis.call('HGET', KEYS[1], 'deadline_ms') or '') or 0
if deadline > 0 and tonumber(ARGV[2]) >= deadline then return 'expired' end
if ARGV[1] == 'revoke' then
  redis.call('HSET', KEYS[1], 'status', 'revoked')
else
  redis.call('HSET', KEYS[1], 'deadline_ms', ARGV[3])
  redis.call('EXPIRE', KEYS[1], ARGV[4])
end
return 'ok'
"""


@dataclass(frozen=True)
class ResumeStep:
    hashed: str
    workflow_id: str
    run_id: str
    step: str
    project: str | None
    variables: dict[str, str]
    deadline_ms: int | None
    created_ms: int
    status: str  # waiting | resumed | revoked (and "expired", derived from the deadline)
    fingerprint: str | None = None
    resumed_ms: int | None = None
    client_ip: str | None = None
    user_agent: str | None = None
    # What the step asks, in the workflow's words; shown to whoever holds the URL.
    prompt: str | None = None

    @classmethod
    def from_redis(cls, hashed: str, raw: dict[bytes, bytes]) -> ResumeStep:
        data = {k.decode(): v.decode() for k, v in raw.items()}
        deadline = int(data["deadline_ms"]) if data.get("deadline_ms") else None
        status = data["status"]
        if status == "waiting" and deadline is not None and time.time() * 1000 >= deadline:
            status = "expired"
        return cls(
            hashed=hashed, workflow_id=data["workflow_id"], run_id=data["run_id"], step=data["step"],
            project=data.get("project") or None, variables=json.loads(data["variables"]),
            deadline_ms=deadline, created_ms=int(data["created_ms"]), status=status,
            fingerprint=data.get("fingerprint"), resumed_ms=int(data["resumed_ms"]) if data.get("resumed_ms") else None,
            client_ip=data.get("client_ip") or None, user_agent=data.get("user_agent") or None,
            prompt=data.get("prompt") or None,
        )


def _ttl(deadline_ms: int | None) -> int:
    if deadline_ms is None:
        return 90 * 24 * 3600
    return max(int(deadline_ms / 1000 - time.time()), 1) + KEEP_AFTER_DEADLINE_SECONDS


class ResumeStore:
    def __init__(self, redis: RedisClient) -> None:
        self._redis = redis
        self._resume = redis.register_script(_RESUME)
        self._revert = redis.register_script(_REVERT)
        self._manage = redis.register_script(_MANAGE)

    # -- worker side -------------------------------------------------------------------------

    async def open(self, *, workflow_id: str, run_id: str, step: str, project: str | None,
                   variables: dict[str, str], deadline_ms: int | None, secret: bytes,
                   prompt: str | None = None) -> str:
        """Record a step (idempotently: a retried open keeps the first nonce); returns the nonce."""
        ttl = _ttl(deadline_ms)
        await self._redis.set(nonce_key(run_id, step), secrets.token_hex(16), nx=True, ex=ttl)
        # Set just above (NX keeps a retried open's nonce); bytes, as our clients never decode.
        nonce = cast(bytes, await self._redis.get(nonce_key(run_id, step))).decode()
        hashed = token_hash(token_for(secret, nonce))
        record: dict[FieldT, EncodableT] = {
            "workflow_id": workflow_id, "run_id": run_id, "step": step, "project": project or "",
            "variables": json.dumps(variables), "deadline_ms": deadline_ms or "",
            "created_ms": int(time.time() * 1000), "status": "waiting",
        }
        if prompt:
            record["prompt"] = prompt
        if not await self._redis.exists(step_key(hashed)):
            # Not a MULTI: the two keys live in different Redis Cluster slots.
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hset(step_key(hashed), mapping=record)
                pipe.expire(step_key(hashed), ttl)
                pipe.hset(run_steps_key(run_id), step, hashed)
                pipe.expire(run_steps_key(run_id), ttl)
                await pipe.execute()
        return nonce

    async def extend_step(self, run_id: str, step: str, *, deadline_ms: int) -> str:
        """Move a run's step's deadline (the workflow's own extension): 'ok', 'missing' or why not."""
        hashed = cast(bytes | None, await self._redis.hget(run_steps_key(run_id), step))
        if hashed is None:
            return "missing"
        return await self.extend(hashed.decode(), deadline_ms=deadline_ms)

    # -- gateway side ------------------------------------------------------------------------

    async def get(self, hashed: str) -> ResumeStep | None:
        raw = cast(dict[bytes, bytes], await self._redis.hgetall(step_key(hashed)))
        return ResumeStep.from_redis(hashed, raw) if raw else None

    async def of_run(self, run_id: str) -> list[ResumeStep]:
        steps = []
        by_step = cast(dict[bytes, bytes], await self._redis.hgetall(run_steps_key(run_id)))
        for hashed in by_step.values():
            step = await self.get(hashed.decode())
            if step is not None:
                steps.append(step)
        return sorted(steps, key=lambda s: s.created_ms)

    async def resume(self, hashed: str, *, fingerprint: str, client_ip: str, user_agent: str) -> tuple[str, str]:
        """Move waiting → resumed once: ('resumed-now', fp) for the winner, else (status, fp)."""
        result = await self._resume(keys=[step_key(hashed)],
                                    args=[int(time.time() * 1000), fingerprint, client_ip, user_agent])
        status, earlier = (x.decode() if isinstance(x, bytes) else x for x in result)
        return status, earlier

    async def revert(self, hashed: str, *, fingerprint: str) -> None:
        await self._revert(keys=[step_key(hashed)], args=[fingerprint])

    async def revoke(self, hashed: str) -> str:
        result = await self._manage(keys=[step_key(hashed)], args=["revoke", int(time.time() * 1000), 0, 0])
        return result.decode() if isinstance(result, bytes) else str(result)

    async def extend(self, hashed: str, *, deadline_ms: int) -> str:
        result = await self._manage(keys=[step_key(hashed)],
                                    args=["extend", int(time.time() * 1000), deadline_ms, _ttl(deadline_ms)])
        return result.decode() if isinstance(result, bytes) else str(result)
