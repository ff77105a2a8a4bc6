"""What a request handler needs, built once in the lifespan and reached through `request.state`."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from gateway.adapters.redis import RedisService
from gateway.adapters.temporal import TemporalService
from gateway.adapters.updates_hub import UpdatesHub
from gateway.auth import Authenticator, Principal
from gateway.middleware import Metrics
from gateway.settings import GatewaySettings
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
    hub: UpdatesHub
    updates: UpdateStore
    resume: ResumeStore
    triggers: TriggerStore


def services(request: Request) -> Services:
    svc: Services = request.state.services
    return svc


def principal(request: Request, *, allow_api_key: bool = False, allow_query_token: bool = False) -> Principal:
    authorization = request.headers.get("authorization")
    if not authorization and allow_query_token:
        # Browsers' EventSource cannot set headers: streams also take `?access_token=`.
        token = request.query_params.get("access_token")
        authorization = f"Bearer {token}" if token else None
    return services(request).auth.authenticate(authorization, allow_api_key=allow_api_key)
