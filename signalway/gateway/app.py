"""`create_app(settings)`: the gateway's Starlette application."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from redis.exceptions import ResponseError as RedisResponseError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from signalway import tracing
from signalway.gateway.adapters.redis import REDIS_FAILURES, REDIS_TIMEOUTS, RedisService
from signalway.gateway.adapters.telemetry import SignalTelemetry, TemporalCallTimer
from signalway.gateway.adapters.temporal import TemporalService
from signalway.gateway.adapters.updates_hub import RunClosed, UpdatesHub
from signalway.gateway.auth import Authenticator, KeyRefreshMiddleware
from signalway.gateway.deps import Services
from signalway.gateway.errors import (
    EXCEPTION_HANDLERS,
    BackendUnavailable,
    OutcomeUnknown,
    Problem,
    problem_handler,
)
from signalway.gateway.middleware import (
    AdmissionMiddleware,
    Metrics,
    RequestContextMiddleware,
    RequestLimitsMiddleware,
)
from signalway.gateway.quotas import Quotas
from signalway.gateway.routes import durable, events, resume, runs, system, tokens, updates
from signalway.gateway.settings import GatewaySettings
from signalway.gateway.sse import EventStreams, StreamSendMiddleware
from signalway.gateway.streams import StreamLimiter, StreamSlotsMiddleware
from signalway.gateway.telemetry import GatewayTelemetry
from signalway.resume import ResumeStore
from signalway.temporal import connect
from signalway.triggers import TriggerStore, check_layout_at_start
from signalway.updates import UpdateStore

log = logging.getLogger("signalway.gateway")


def create_app(settings: GatewaySettings | None = None) -> Starlette:
    settings = settings or GatewaySettings()
    metrics = Metrics()
    telemetry = GatewayTelemetry(metrics.registry)
    # Set by the CLI at process start when OTEL_* asks for traces; None: no span is made.
    tracer = tracing.tracer()

    async def redis_unavailable(request: Request, exc: Exception) -> Response:
        # Every Redis call's failure becomes one answer, here rather than at each call. A
        # command that timed out may have run: for a write, that outcome is unknown.
        problem: Problem = BackendUnavailable("Redis is unavailable; retry shortly.",
                                              retry_after_seconds=settings.retry_after_seconds)
        if isinstance(exc, REDIS_TIMEOUTS) and request.method not in ("GET", "HEAD"):
            problem = OutcomeUnknown("Redis did not answer in time: the request may have acted. Retry with the "
                                     "same Idempotency-Key to act at most once.")
        return await problem_handler(request, problem)

    async def redis_refused(request: Request, exc: Exception) -> Response:
        # Redis answered with an error (a key of another type than expected, out of memory
        # under `maxmemory`, a script error): the gateway's or the operator's fault, never the
        # caller's, and never a 500 with a stack trace; logged for the operator.
        log.error("Redis refused a command: %s", exc)
        return await problem_handler(request, BackendUnavailable(
            "Redis refused the command; retry shortly.", retry_after_seconds=settings.retry_after_seconds))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        # Lazy: the gateway starts (and answers 503 with retry advice) while Temporal is down.
        client = await connect(settings, lazy=True, identity=f"signalway-gateway@{socket.gethostname()}",
                               interceptors=[TemporalCallTimer(telemetry)])
        redis = RedisService.from_url(settings.redis_url, retry_after_seconds=settings.retry_after_seconds,
                                      timeout=settings.redis_timeout_seconds, telemetry=telemetry)
        temporal = TemporalService(
            client,
            task_queue=settings.task_queue,
            rpc_timeout=settings.rpc_timeout_seconds,
            retry_after_seconds=settings.retry_after_seconds,
            query_timeout=settings.query_timeout_seconds,
            update_timeout=settings.update_timeout_seconds,
            signal_hook=SignalTelemetry(telemetry, tracer),
            unattributed_project=settings.unattributed_runs_project,
        )

        async def wait_closed(workflow_id: str, run_id: str) -> RunClosed:
            status, new_run_id = await temporal.wait_closed(workflow_id, run_id)
            return RunClosed(status, new_run_id)

        triggers = TriggerStore(redis.redis, shards=settings.trigger_buckets)
        await check_layout_at_start(triggers, log)
        hub = UpdatesHub(redis.redis, wait_closed=wait_closed, buffer=settings.stream_buffer, telemetry=telemetry,
                         node_client=redis.node_client)
        auth = Authenticator(settings)
        await auth.start()  # the identity provider's keys, when SIGNALWAY_JWT_JWKS_URL is set
        # Pings, send deadlines and the shutdown farewell of every open SSE stream (one task).
        event_streams = EventStreams(ping_seconds=settings.sse_ping_seconds, send_timeout=30)
        await event_streams.start()
        quotas = Quotas(redis.redis, triggers, settings, metrics.registry)
        streams = StreamLimiter(settings.max_streams_per_principal, retry_after_seconds=settings.retry_after_seconds,
                                per_project=settings.max_streams_per_project,
                                per_process=settings.max_streams_per_process,
                                on_change=quotas.observe_streams, on_refused=quotas.refused)
        telemetry.streams_open.set_function(streams.total)
        services = Services(
            settings=settings,
            temporal=temporal,
            redis=redis,
            auth=auth,
            metrics=metrics,
            telemetry=telemetry,
            hub=hub,
            updates=UpdateStore(redis.redis, max_per_run=settings.updates_max_per_run,
                                ttl_seconds=settings.updates_ttl_seconds),
            resume=ResumeStore(redis.redis),
            triggers=triggers,
            streams=streams,
            event_streams=event_streams,
            quotas=quotas,
        )
        log.info("gateway ready: temporal=%s redis=%s", settings.temporal_address, settings.redis_url)
        try:
            yield {"services": services}
        finally:
            await event_streams.stop()
            await auth.close()
            await hub.stop()
            await redis.close()

    return Starlette(
        routes=_hottest_first([*updates.ROUTES, *system.ROUTES, *durable.ROUTES, *runs.ROUTES, *resume.ROUTES,
                               *events.ROUTES, *tokens.ROUTES]),
        middleware=[
            # First: SSE frames are sent from here, past the middlewares below (gateway.sse).
            Middleware(StreamSendMiddleware),
            Middleware(RequestContextMiddleware, metrics=metrics, access_log=settings.access_log, telemetry=telemetry,
                       tracer=tracer),
            # Before anything reads a header or the body: oversized ones get their 431/413 (with a request id).
            Middleware(RequestLimitsMiddleware, max_header_bytes=settings.max_header_bytes,
                       max_body_bytes=settings.max_body_bytes),
            Middleware(AdmissionMiddleware, max_in_flight=settings.max_in_flight, max_queued=settings.max_queued,
                       queue_timeout=settings.queue_timeout_seconds, per_principal=settings.max_in_flight_per_principal,
                       request_timeout=settings.request_timeout, metrics=metrics),
            Middleware(StreamSlotsMiddleware),
            Middleware(KeyRefreshMiddleware),
        ],
        exception_handlers={**EXCEPTION_HANDLERS, **{failure: redis_unavailable for failure in REDIS_FAILURES},
                            RedisResponseError: redis_refused},
        lifespan=lifespan,
    )


# Starlette tries routes in order, a regex per route until one matches: a signal behind 20
# other routes paid ~20 regex matches per request. No two of these paths overlap, so moving
# them ahead changes no answer.
_HOTTEST = ("signalRun", "sendDurableSignal", "postRunUpdate", "streamRunUpdates")


def _hottest_first(routes: list[BaseRoute]) -> list[BaseRoute]:
    hot = {getattr(route, "name", None): route for route in routes if getattr(route, "name", None) in _HOTTEST}
    return [*(hot[name] for name in _HOTTEST if name in hot), *(r for r in routes if r not in hot.values())]
