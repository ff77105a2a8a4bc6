"""Activities of the "wait for an event" step: register and settle triggers in Redis."""

from __future__ import annotations

import json
from datetime import datetime

from temporalio import activity
from temporalio.exceptions import ApplicationError

from signalway.redis_connect import RedisClient
from signalway.steps.contract import (
    REGISTER_TRIGGER_ACTIVITY,
    SETTLE_TRIGGER_ACTIVITY,
    RegisterTriggerInput,
    SettleTriggerInput,
    TriggerRegistered,
)
from signalway.steps.event_wait import RUN_WITHOUT_PROJECT, InvalidEventKey
from signalway.triggers import TriggerStore, invalid_event_key
from signalway.worker.metrics import WorkerMetrics


def _us(value: datetime) -> int:
    return int(value.timestamp() * 1_000_000)


class TriggerActivities:
    def __init__(self, redis: RedisClient, metrics: WorkerMetrics | None = None, *, shards: int = 1,
                 unattributed_project: str | None = None) -> None:
        self._store = TriggerStore(redis, shards=shards)
        self._metrics = metrics
        self._unattributed = unattributed_project

    def _project(self, given: str | None) -> str:
        """The run's project; for a run without one, the operator's project for such runs."""
        project = given or self._unattributed
        if project is None:
            raise ApplicationError(
                "this run has no SignalwayProject search attribute, so its event trigger belongs to no project: "
                "start it with signalway.workflow.search_attributes(project=...) (or through Signalway), or set "
                "SIGNALWAY_UNATTRIBUTED_RUNS_PROJECT on the worker", type=RUN_WITHOUT_PROJECT, non_retryable=True)
        return project

    @activity.defn(name=REGISTER_TRIGGER_ACTIVITY)
    async def register(self, input: RegisterTriggerInput) -> TriggerRegistered:
        # The workflow step checks first; this guards any other caller of the activity (and
        # histories from before that check), and is not retried: the key will not change.
        reason = invalid_event_key(input.event_key)
        if reason is not None:
            raise InvalidEventKey(reason)
        registered = await self._store.register(
            project=self._project(input.project), id=input.trigger_id, event_key=input.event_key, source_type="workflow_step",
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
        project = input.project or self._unattributed
        if project is None:
            return  # registering it failed (RunWithoutProject) or never ran: nothing was filed
        outcome = await self._store.settle(project, input.trigger_id, input.status, event_key=input.event_key,
                                           error=input.error or "", payload=payload)
        if outcome == "ok" and self._metrics is not None:
            self._metrics.trigger(input.status)
