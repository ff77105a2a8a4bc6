"""Quotas per project: what one project's callers may store in Redis and start, whoever they are.

Each is a setting with a generous default (docs/operations.md#quotas says why each and how to
size Redis), on by default; 0 turns one off. Past a quota the request is refused before
anything is written: `429 quota_exceeded` with `retry_after_seconds` when the usage goes down
by itself, `413 payload_too_large` for one payload over its bound. Each refusal names the quota
and its setting.

- `SIGNALWAY_QUOTA_UPDATE_BYTES_PER_PROJECT`: progress-update bytes posted through the API
  within the updates' retention (`SIGNALWAY_UPDATES_TTL_SECONDS`), counted in time buckets
  that expire with the retention: an upper bound of what the project keeps stored.
- `SIGNALWAY_QUOTA_WAITING_TRIGGERS_PER_PROJECT` and
  `SIGNALWAY_QUOTA_WAITING_TRIGGER_BYTES_PER_PROJECT`: waiting triggers, and the bytes of
  their `request_payload`s, read from the trigger registry itself (kept exact by its scripts).
- `SIGNALWAY_QUOTA_RUNS_PER_MINUTE_PER_PROJECT`: runs started per clock minute.
- Streams per process and per project: `gateway.streams.StreamLimiter`.

Redis layout, cluster-safe: a project's quota keys share one hash tag,
`signalway:quota:{<project>}:…` (`%` and `}` of the name written `%25`, `%7D`, so no name
ends the tag early or spells another project's keys), and each script touches one project's
keys only.
"""

from __future__ import annotations

import math
import time

from prometheus_client import CollectorRegistry, Counter, Gauge

from signalway.gateway.errors import AllowedAction, PayloadTooLarge, QuotaExceeded
from signalway.gateway.settings import GatewaySettings
from signalway.redis_connect import RedisClient
from signalway.triggers import TriggerStore


def quota_tag(project: str) -> str:
    """The hash tag of a project's quota keys."""
    return "{" + project.replace("%", "%25").replace("}", "%7D") + "}"


# KEYS[1]: this minute's counter. ARGV: limit. Counts the start unless it is over the limit.
_COUNT_START = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], 120) end
if n > tonumber(ARGV[1]) then
  redis.call('DECR', KEYS[1])
  return -n
end
return n
"""

# KEYS: the window's buckets, oldest first, the current one last. ARGV: limit, size, ttl.
# Adds `size` to the current bucket unless the window's sum would pass the limit; returns the
# new sum, or -(the sum) when refused.
_ADD_BYTES = """
local used = 0
for i = 1, #KEYS do used = used + tonumber(redis.call('GET', KEYS[i]) or '0') end
local size = tonumber(ARGV[2])
if used + size > tonumber(ARGV[1]) then return -used - 1 end
redis.call('INCRBY', KEYS[#KEYS], size)
redis.call('EXPIRE', KEYS[#KEYS], ARGV[3])
return used + size
"""

_BUCKETS = 16


class Quotas:
    def __init__(self, redis: RedisClient, triggers: TriggerStore, settings: GatewaySettings,
                 registry: CollectorRegistry) -> None:
        self._triggers = triggers
        self._settings = settings
        self._count_start = redis.register_script(_COUNT_START)
        self._add_bytes = redis.register_script(_ADD_BYTES)
        self._retention = settings.updates_ttl_seconds
        # Buckets of the updates' retention: usage is the sum of those inside it.
        self._bucket_seconds = max(60, math.ceil(self._retention / _BUCKETS))
        self.limits = {
            "update_bytes": settings.quota_update_bytes_per_project,
            "waiting_triggers": settings.quota_waiting_triggers_per_project,
            "waiting_trigger_bytes": settings.quota_waiting_trigger_bytes_per_project,
            "runs_per_minute": settings.quota_runs_per_minute_per_project,
            "trigger_payload_bytes": settings.max_trigger_payload_bytes,
            "streams_per_project": settings.max_streams_per_project,
            "streams_per_process": settings.max_streams_per_process,
        }
        limit = Gauge("signalway_quota_limit", "Each quota's limit (0: off).", ["quota"], registry=registry)
        for name, value in self.limits.items():
            limit.labels(name).set(value)
        self._usage = Gauge(
            "signalway_quota_usage", "Each quota's usage: the highest any project reached at its latest check "
            "on this process (streams: now).", ["quota"], registry=registry)
        self._exceeded = Counter("signalway_quota_exceeded", "Requests refused by a quota.", ["quota"],
                                 registry=registry)
        # The latest usage seen per quota and project; the gauge shows the highest.
        self._seen: dict[str, dict[str, float]] = {name: {} for name in self.limits}

    def _observe(self, quota: str, project: str, usage: float) -> None:
        seen = self._seen[quota]
        if len(seen) > 10_000:
            seen.clear()
        seen[project] = usage
        self._usage.labels(quota).set(max(seen.values()))

    def observe_streams(self, project: str, of_project: int, total: int) -> None:
        self._observe("streams_per_project", project, of_project)
        self._usage.labels("streams_per_process").set(total)

    def refused(self, quota: str) -> None:
        self._exceeded.labels(quota).inc()

    def _refuse(self, quota: str, setting: str, detail: str, retry_after: int) -> QuotaExceeded:
        self.refused(quota)
        return QuotaExceeded(
            f"{detail} (quota {quota}, SIGNALWAY_{setting}).", retry_after_seconds=max(1, retry_after),
            allowed_actions=[AllowedAction(rel="retry-later", hint=f"the {quota} quota frees up over time")])

    def payload_bound(self, what: str, size: int) -> None:
        """413 for one trigger payload over `SIGNALWAY_MAX_TRIGGER_PAYLOAD_BYTES`."""
        limit = self.limits["trigger_payload_bytes"]
        if limit and size > limit:
            self.refused("trigger_payload_bytes")
            raise PayloadTooLarge(f"A trigger's {what} is limited to {limit} bytes of JSON; this one has {size} "
                                  "(quota trigger_payload_bytes, SIGNALWAY_MAX_TRIGGER_PAYLOAD_BYTES).")

    async def start_run(self, project: str) -> None:
        limit = self.limits["runs_per_minute"]
        if not limit:
            return
        now = time.time()
        minute = int(now // 60)
        started = int(await self._count_start(keys=[f"signalway:quota:{quota_tag(project)}:starts:{minute}"],
                                              args=[limit]))
        self._observe("runs_per_minute", project, abs(started) - (started < 0))
        if started < 0:
            raise self._refuse("runs_per_minute", "QUOTA_RUNS_PER_MINUTE_PER_PROJECT",
                               f"This project started {limit} runs this minute, its quota",
                               math.ceil(60 - now % 60))

    async def add_update_bytes(self, project: str, size: int) -> None:
        limit = self.limits["update_bytes"]
        if not limit:
            return
        now = int(time.time())
        width = self._bucket_seconds
        current = now // width
        first = (now - self._retention) // width
        keys = [f"signalway:quota:{quota_tag(project)}:update-bytes:{b}" for b in range(first, current + 1)]
        used = int(await self._add_bytes(keys=keys, args=[limit, size, self._retention + width]))
        self._observe("update_bytes", project, used if used >= 0 else -used - 1)
        if used < 0:
            # The oldest bucket leaves the window first.
            raise self._refuse("update_bytes", "QUOTA_UPDATE_BYTES_PER_PROJECT",
                               f"This project's progress updates of the last {self._retention} s reached "
                               f"{-used - 1} bytes; its quota is {limit}",
                               (first + 1) * width + self._retention - now)

    async def register_trigger(self, project: str, payload_bytes: int) -> None:
        count_limit, bytes_limit = self.limits["waiting_triggers"], self.limits["waiting_trigger_bytes"]
        if not count_limit and not bytes_limit:
            return
        waiting, waiting_bytes = await self._triggers.waiting_usage(project)
        self._observe("waiting_triggers", project, waiting)
        self._observe("waiting_trigger_bytes", project, waiting_bytes)
        if count_limit and waiting + 1 > count_limit:
            raise self._refuse("waiting_triggers", "QUOTA_WAITING_TRIGGERS_PER_PROJECT",
                               f"This project has {waiting} waiting triggers; its quota is {count_limit}", 60)
        if bytes_limit and waiting_bytes + payload_bytes > bytes_limit:
            raise self._refuse("waiting_trigger_bytes", "QUOTA_WAITING_TRIGGER_BYTES_PER_PROJECT",
                               f"This project's waiting triggers hold {waiting_bytes} bytes of request_payload; "
                               f"with this one's {payload_bytes} that passes its quota of {bytes_limit}", 60)
