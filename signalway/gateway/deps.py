"""What a request handler needs, built once in the lifespan and reached through `request.state`."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request

from signalway.gateway.adapters.memory import Memory
from signalway.gateway.adapters.redis import RedisService
from signalway.gateway.adapters.temporal import TemporalService
from signalway.gateway.adapters.updates_hub import UpdatesHub
from signalway.gateway.auth import Authenticator, Principal
from signalway.gateway.middleware import PROJECT, Metrics
from signalway.gateway.quotas import Quotas
from signalway.gateway.settings import GatewaySettings
from signalway.gateway.sse import EventStreams
from signalway.gateway.streams import StreamLimiter
from signalway.gateway.telemetry import GatewayTelemetry
from signalway.resume import ResumeStore
from signalway.triggers import TriggerStore
from signalway.updates import UpdateStore


@dataclass
class Services:
    settings: GatewaySettings
    temporal: TemporalService
    redis: RedisService
    auth: Authenticator
    metrics: Metrics
    telemetry: GatewayTelemetry
    hub: UpdatesHub
    updates: UpdateStore
    resume: ResumeStore
    triggers: TriggerStore
    streams: StreamLimiter
    event_streams: EventStreams
    quotas: Quotas
    # What this process remembers so that Temporal is not asked twice (gateway.adapters.memory).
    memory: Memory = field(default_factory=Memory)


def services(request: Request) -> Services:
    svc: Services = request.state.services
    return svc


def principal(request: Request, *, allow_api_key: bool = False, allow_query_token: bool = False,
              allow_stream_token: bool = False, opens_stream: bool = False) -> Principal:
    """The caller. `allow_stream_token`: a run-scoped stream token is accepted (the access layer
    keeps it to its run); `opens_stream`: the request counts as one of the caller's open
    streams until it ends (429 past SIGNALWAY_MAX_STREAMS_PER_PRINCIPAL)."""
    authorization = request.headers.get("authorization")
    if not authorization and allow_query_token:
        # Browsers' EventSource cannot set headers: streams also take `?access_token=`.
        token = request.query_params.get("access_token")
        authorization = f"Bearer {token}" if token else None
    svc = services(request)
    who = svc.auth.authenticate(authorization, allow_api_key=allow_api_key, allow_stream_token=allow_stream_token)
    request.scope[PROJECT] = who.project  # for the request's log lines
    if opens_stream:
        svc.streams.hold(who.project, who.user, request.scope)
    return who
