"""`SignalwayPlugin`: Signalway's step activities (and the data converter they need) on a worker.

    from signalway.plugin import SignalwayPlugin

    client = await Client.connect("localhost:7233", plugins=[SignalwayPlugin()])
    worker = Worker(client, task_queue="orders", workflows=[OrderWorkflow], activities=[...])

or `Worker(client, ..., plugins=[SignalwayPlugin()])` on a client connected without it. The
plugin adds the activities of `publish_update`, `webhook_and_wait` and `wait_for_event`
(`publishUpdate`, `openResumeStep`, `deliverWebhook`, `extendResumeStep`, `registerTrigger`,
`settleTrigger`) to the worker, and makes the client's payload converter the pydantic one when it
is Temporal's default (a payload codec the client has is kept). It opens its Redis and HTTP
clients when a worker starts running and closes them when the last one stops.

`SignalwayPlugin()` reads the settings `signalway worker` reads (`SIGNALWAY_REDIS_URL`,
`SIGNALWAY_RESUME_SECRET`, `SIGNALWAY_WEBHOOK_SECRET`, `SIGNALWAY_PUBLIC_URL`, ...; see
docs/configuration.md); keyword arguments override them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from pydantic import ValidationError
from pydantic_settings import SettingsError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from temporalio import activity
from temporalio.client import Client
from temporalio.contrib.pydantic import PydanticPayloadConverter, pydantic_data_converter
from temporalio.converter import DataConverter, DefaultPayloadConverter
from temporalio.plugin import SimplePlugin
from temporalio.runtime import Runtime
from temporalio.worker import Worker, WorkerConfig

from signalway._config_errors import problems
from signalway.redis_connect import RedisClient, close, connect
from signalway.steps.contract import (
    DELIVER_WEBHOOK_ACTIVITY,
    EXTEND_RESUME_STEP_ACTIVITY,
    OPEN_RESUME_STEP_ACTIVITY,
    PUBLISH_UPDATE_ACTIVITY,
    REGISTER_TRIGGER_ACTIVITY,
    SETTLE_TRIGGER_ACTIVITY,
    DeliverWebhookInput,
    ExtendResumeStepInput,
    OpenResumeStepInput,
    PublishUpdateInput,
    RegisterTriggerInput,
    ResumeStepOpened,
    SettleTriggerInput,
    TriggerRegistered,
)
from signalway.triggers import TriggerStore
from signalway.worker.activities import UpdateActivities
from signalway.worker.metrics import WorkerMetrics
from signalway.worker.resume import ResumeActivities
from signalway.worker.settings import WorkerSettings
from signalway.worker.triggers import TriggerActivities

__all__ = ["SignalwayConfigError", "SignalwayPlugin"]

log = logging.getLogger("signalway.worker")
PLUGIN_NAME = "signalway.SignalwayPlugin"


class SignalwayConfigError(ValueError):
    """Settings the plugin cannot run with, one line per problem (values never shown)."""


def with_pydantic(existing: DataConverter | None) -> DataConverter:
    """`existing` with the pydantic payload converter when it has Temporal's default one (its
    codec and failure converter kept); a custom payload converter is left as it is."""
    if existing is None:
        return pydantic_data_converter
    if existing.payload_converter_class is DefaultPayloadConverter:
        return dataclasses.replace(existing, payload_converter_class=PydanticPayloadConverter)
    return existing


class _Live:
    """The activities' implementations while a worker runs, on the clients opened for it."""

    def __init__(self, settings: WorkerSettings, redis: RedisClient, http: httpx.AsyncClient,
                 metrics: WorkerMetrics) -> None:
        self.updates = UpdateActivities(redis, max_per_run=settings.updates_max_per_run,
                                        ttl_seconds=settings.updates_ttl_seconds)
        secret = settings.resume_secret.get_secret_value().encode() if settings.resume_secret else None
        self.resume = ResumeActivities(
            redis, http, resume_secret=secret,
            webhook_secret=settings.webhook_secret.get_secret_value() if settings.webhook_secret else None,
            public_url=settings.public_url, allowed_networks=settings.webhook_networks, metrics=metrics)
        self.triggers = TriggerActivities(redis, metrics, shards=settings.trigger_buckets,
                                          unattributed_project=settings.unattributed_runs_project)


class _StepActivities:
    """The activities as registered: each hands its input to the running worker's `_Live`."""

    def __init__(self) -> None:
        self.live: _Live | None = None

    def _now(self) -> _Live:
        if self.live is None:
            raise RuntimeError("Signalway's activities run only while a worker with SignalwayPlugin runs")
        return self.live

    @activity.defn(name=PUBLISH_UPDATE_ACTIVITY)
    async def publish_update(self, input: PublishUpdateInput) -> None:
        await self._now().updates.publish_update(input)

    @activity.defn(name=OPEN_RESUME_STEP_ACTIVITY)
    async def open_resume_step(self, input: OpenResumeStepInput) -> ResumeStepOpened:
        return await self._now().resume.open_step(input)

    @activity.defn(name=DELIVER_WEBHOOK_ACTIVITY)
    async def deliver_webhook(self, input: DeliverWebhookInput) -> None:
        await self._now().resume.deliver(input)

    @activity.defn(name=EXTEND_RESUME_STEP_ACTIVITY)
    async def extend_resume_step(self, input: ExtendResumeStepInput) -> None:
        await self._now().resume.extend_step(input)

    @activity.defn(name=REGISTER_TRIGGER_ACTIVITY)
    async def register_trigger(self, input: RegisterTriggerInput) -> TriggerRegistered:
        return await self._now().triggers.register(input)

    @activity.defn(name=SETTLE_TRIGGER_ACTIVITY)
    async def settle_trigger(self, input: SettleTriggerInput) -> None:
        await self._now().triggers.settle(input)

    def all(self) -> list[Callable[..., Any]]:
        return [self.publish_update, self.open_resume_step, self.deliver_webhook, self.extend_resume_step,
                self.register_trigger, self.settle_trigger]


def _settings(overrides: dict[str, Any]) -> WorkerSettings:
    try:
        return WorkerSettings(**overrides)
    except (ValidationError, SettingsError) as exc:
        lines = problems(exc)
    raise SignalwayConfigError("\n".join(lines))


class SignalwayPlugin(SimplePlugin):
    """Signalway's step activities and data converter, for `Client.connect(plugins=[...])` or
    `Worker(plugins=[...])`.

    Every argument is optional. Without one, its `SIGNALWAY_*` variable is read, as
    `signalway worker` does; `settings` is a ready `WorkerSettings` instead (no other argument
    then). `redis` and `http` are clients of yours to use (the plugin neither opens nor closes
    them); by default it opens its own when a worker starts and closes them when it stops.
    Raises `SignalwayConfigError` for settings it cannot run with.
    """

    def __init__(
        self,
        settings: WorkerSettings | None = None,
        *,
        redis_url: str | None = None,
        public_url: str | None = None,
        resume_secret: str | None = None,
        webhook_secret: str | None = None,
        webhook_allowed_networks: str | None = None,
        webhook_timeout_seconds: float | None = None,
        trigger_shards: int | None = None,
        updates_max_per_run: int | None = None,
        updates_ttl_seconds: int | None = None,
        unattributed_runs_project: str | None = None,
        redis: RedisClient | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        given = {
            "redis_url": redis_url, "public_url": public_url, "resume_secret": resume_secret,
            "webhook_secret": webhook_secret, "webhook_allowed_networks": webhook_allowed_networks,
            "webhook_timeout_seconds": webhook_timeout_seconds, "trigger_shards": trigger_shards,
            "updates_max_per_run": updates_max_per_run, "updates_ttl_seconds": updates_ttl_seconds,
            "unattributed_runs_project": unattributed_runs_project,
        }
        overrides = {name: value for name, value in given.items() if value is not None}
        if settings is not None and overrides:
            raise TypeError(f"SignalwayPlugin: give settings or {', '.join(sorted(overrides))}, not both")
        self.settings: WorkerSettings = settings or _settings(overrides)
        self._redis = redis
        self._http = http
        self._steps = _StepActivities()
        self._users = 0
        self._opened: tuple[RedisClient, httpx.AsyncClient] | None = None
        self._lock = asyncio.Lock()
        super().__init__(PLUGIN_NAME, data_converter=with_pydantic, activities=self._steps.all())

    def configure_worker(self, config: WorkerConfig) -> WorkerConfig:
        config = super().configure_worker(config)
        # A plugin given to the Worker only: the worker's payloads go through its client's
        # converter, so the worker gets a client like it with the converter the steps need.
        client = config.get("client")
        if client is not None:
            active = client.config(active_config=True)
            wanted = with_pydantic(active["data_converter"])
            if wanted is not active["data_converter"]:
                config["client"] = Client(
                    active["service_client"], namespace=active["namespace"], data_converter=wanted,
                    interceptors=active["interceptors"],
                    default_workflow_query_reject_condition=active["default_workflow_query_reject_condition"],
                    header_codec_behavior=active["header_codec_behavior"])
        return config

    async def run_worker(self, worker: Worker, next: Callable[[Worker], Awaitable[None]]) -> None:
        async with self._running(worker.client):
            await next(worker)

    @asynccontextmanager
    async def _running(self, client: Client) -> AsyncIterator[None]:
        async with self._lock:
            if self._users == 0:
                await self._open(client)
            self._users += 1
        try:
            yield
        finally:
            async with self._lock:
                self._users -= 1
                if self._users == 0:
                    await self._close()

    async def _open(self, client: Client) -> None:
        settings = self.settings
        redis = self._redis or connect(settings.redis_url)
        http = self._http or httpx.AsyncClient(timeout=settings.webhook_timeout_seconds, follow_redirects=False)
        try:
            await _check_layout(TriggerStore(redis, shards=settings.trigger_buckets))
        except BaseException:
            await self._release(redis, http)
            raise
        # The client runtime's meter: exported where that runtime exports metrics, else a no-op.
        meter = (client.service_client.config.runtime or Runtime.default()).metric_meter
        self._opened = (redis, http)
        self._steps.live = _Live(settings, redis, http, WorkerMetrics(meter))

    async def _close(self) -> None:
        self._steps.live = None
        if self._opened is not None:
            redis, http = self._opened
            self._opened = None
            await self._release(redis, http)

    async def _release(self, redis: RedisClient, http: httpx.AsyncClient) -> None:
        if self._http is None:
            await http.aclose()
        if self._redis is None:
            await close(redis)


async def _check_layout(store: TriggerStore) -> None:
    """SIGNALWAY_TRIGGER_SHARDS against the count Redis recorded (see `check_layout_at_start`)."""
    try:
        await store.check_layout()
    except ValueError as exc:
        raise SignalwayConfigError(f"configuration error: SIGNALWAY_TRIGGER_SHARDS: {exc}") from None
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        log.warning("could not check the trigger registry's layout in Redis (%s); going on", exc)


