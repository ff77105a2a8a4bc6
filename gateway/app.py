"""`create_app(settings)`: the gateway's Starlette application."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware

from gateway.auth import Authenticator
from gateway.deps import Services
from gateway.errors import EXCEPTION_HANDLERS
from gateway.middleware import BodyLimitMiddleware, Metrics, RequestContextMiddleware
from gateway.redis_service import RedisService
from gateway.routes import durable, events, resume, runs, system, updates
from gateway.settings import GatewaySettings
from gateway.temporal_service import TemporalService
from gateway.updates_hub import RunClosed, UpdatesHub
from signalway.resume import ResumeStore
from signalway.temporal import connect
from signalway.triggers import TriggerStore
from signalway.updates import UpdateStore

log = logging.getLogger("signalway.gateway")


def create_app(settings: GatewaySettings | None = None) -> Starlette:
    settings = settings or GatewaySettings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        # Lazy: the gateway starts (and answers 503 with retry advice) while Temporal is down.
        client = await connect(settings, lazy=True, identity=f"signalway-gateway@{socket.gethostname()}")
        redis = RedisService.from_url(settings.redis_url, retry_after_seconds=settings.retry_after_seconds)
        temporal = TemporalService(
            client,
            task_queue=settings.task_queue,
            rpc_timeout=settings.rpc_timeout_seconds,
            retry_after_seconds=settings.retry_after_seconds,
            query_timeout=settings.query_timeout_seconds,
            update_timeout=settings.update_timeout_seconds,
        )

        async def wait_closed(workflow_id: str, run_id: str) -> RunClosed:
            status, new_run_id = await temporal.wait_closed(workflow_id, run_id)
            return RunClosed(status, new_run_id)

        hub = UpdatesHub(redis.redis, wait_closed=wait_closed, buffer=settings.stream_buffer)
        await hub.start()
        services = Services(
            settings=settings,
            temporal=temporal,
            redis=redis,
            auth=Authenticator(settings),
            metrics=metrics,
            hub=hub,
            updates=UpdateStore(redis.redis, max_per_run=settings.updates_max_per_run,
                                ttl_seconds=settings.updates_ttl_seconds),
            resume=ResumeStore(redis.redis),
            triggers=TriggerStore(redis.redis),
        )
        log.info("gateway ready: temporal=%s redis=%s", settings.temporal_address, settings.redis_url)
        try:
            yield {"services": services}
        finally:
            await hub.stop()
            await redis.close()

    return Starlette(
        # The hottest routes first: Starlette matches them in order.
        routes=[*updates.ROUTES, *system.ROUTES, *durable.ROUTES, *runs.ROUTES, *resume.ROUTES, *events.ROUTES],
        middleware=[
            Middleware(RequestContextMiddleware, metrics=metrics, access_log=settings.access_log),
            Middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
