"""Activities of the "wait for an event" step: register and settle triggers in Redis."""

from __future__ import annotations

import json
from datetime import datetime

from signalway_examples.event_wait import (
    REGISTER_TRIGGER_ACTIVITY,
    SETTLE_TRIGGER_ACTIVITY,
    InvalidEventKey,
    RegisterTriggerInput,
    SettleTriggerInput,
    TriggerRegistered,
)
from temporalio import activity

from signalway.redis_connect import RedisClient
from signalway.triggers import TriggerStore, invalid_event_key
from signalway.worker.metrics import WorkerMetrics


def _us(value: datetime) -> int:
    return int(value.timestamp() * 1_000_000)


class TriggerActivities:
    def __init__(self, redis: RedisClient, metrics: WorkerMetrics | None = None, *, shards: int = 1) -> None:
        self._store = TriggerStore(redis, shards=shards)
        self._metrics = metrics

    @activity.defn(name=REGISTER_TRIGGER_ACTIVITY)
    async def register(self, input: RegisterTriggerInput) -> TriggerRegistered:
        # The workflow step checks first; this guards any other caller of the activity (and
        # histories from before that check), and is not retried: the key will not change.
        reason = invalid_event_key(input.event_key)
        if reason is not None:
            raise InvalidEventKey(reason)
        registered = await self._store.register(
            project=input.project, id=input.trigger_id, event_key=input.event_key, source_type="workflow_step",
            workflow_id=input.workflow_id, run_id=input.run_id, step_run_id=input.step_run_id, job_run_id=None,
            request_payload=input.request_payload, timeout_secs=input.timeout_secs,
            requested_us=_us(input.requested_at), expires_us=_us(input.expires_at),
        )
        if registered.created and self._metrics is not None:
            # A re-registration (the step renews it) is not a transition; an early event
            # consumed at once is the trigger's receipt.
            self._metrics.trigger(registered.status)
        return TriggerRegistered(status=registered.status, payload=registered.payload)

    @activity.defn(name=SETTLE_TRIGGER_ACTIVITY)
    async def settle(self, input: SettleTriggerInput) -> None:
        payload = json.dumps(input.payload) if input.status == "received" else ""
        # A run from before the step passed its event key settles without one: the store
        # then asks every bucket where the trigger is.
        outcome = await self._store.settle(input.project, input.trigger_id, input.status, event_key=input.event_key,
                                           error=input.error or "", payload=payload)
        if outcome == "ok" and self._metrics is not None:
            self._metrics.trigger(input.status)
