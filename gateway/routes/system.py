"""`/healthz`, `/readyz`, `/metrics`, `/openapi.json`."""

from __future__ import annotations

import asyncio

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway import openapi
from gateway.deps import services
from gateway.errors import Problem
from gateway.routing import ApiRoute, Operation
from gateway.schemas import Health
from signalway._version import __version__


async def healthz(request: Request) -> Response:
    return JSONResponse(Health(status="ok").model_dump())


async def readyz(request: Request) -> Response:
    """Ready when both Temporal and Redis answer; 503 naming the one that does not."""
    svc = services(request)

    async def check(name: str, probe: asyncio.Future[object] | object) -> tuple[str, str]:
        try:
            await asyncio.wait_for(probe, timeout=3)  # type: ignore[arg-type]
            return name, "ok"
        except (Problem, TimeoutError, OSError, RuntimeError) as exc:
            return name, f"unavailable: {exc}"

    results = dict(await asyncio.gather(
        check("temporal", svc.temporal.count("WorkflowType = '__signalway_readyz__'")),
        check("redis", svc.redis.ping()),
    ))
    ready = all(v == "ok" for v in results.values())
    body = Health(status="ok" if ready else "unavailable", checks=results).model_dump()
    if ready:
        return JSONResponse(body)
    retry = svc.settings.retry_after_seconds
    body["retry_after_seconds"] = retry
    return JSONResponse(body, status_code=503, headers={"Retry-After": str(retry)})


async def metrics(request: Request) -> Response:
    return Response(generate_latest(services(request).metrics.registry), media_type=CONTENT_TYPE_LATEST)


async def openapi_json(request: Request) -> Response:
    doc = openapi.build(request.app.routes, title="Signalway", version=__version__)
    return JSONResponse(doc)


ROUTES = [
    ApiRoute("/healthz", healthz, method="GET", operation=Operation(
        "healthz", "Process is up", ("system",), responses={200: Health}, security=False)),
    ApiRoute("/readyz", readyz, method="GET", operation=Operation(
        "readyz", "Temporal and Redis are reachable", ("system",), responses={200: Health, 503: Health},
        security=False)),
    ApiRoute("/metrics", metrics, method="GET", operation=Operation(
        "metrics", "Prometheus metrics", ("system",), responses={200: None}, security=False,
        content_type="text/plain")),
    ApiRoute("/openapi.json", openapi_json, method="GET", operation=Operation(
        "openapi", "This OpenAPI document", ("system",), responses={200: None}, security=False)),
]
