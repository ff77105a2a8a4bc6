"""What a request handler needs, built once in the lifespan and reached through `request.state`."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from gateway.auth import Authenticator, Principal
from gateway.middleware import Metrics
from gateway.redis_service import RedisService
from gateway.settings import GatewaySettings
from gateway.temporal_service import TemporalService


@dataclass
class Services:
    settings: GatewaySettings
    temporal: TemporalService
    redis: RedisService
    auth: Authenticator
    metrics: Metrics


def services(request: Request) -> Services:
    svc: Services = request.state.services
    return svc


def principal(request: Request, *, allow_api_key: bool = False) -> Principal:
    return services(request).auth.authenticate(
        request.headers.get("authorization"), allow_api_key=allow_api_key
    )
