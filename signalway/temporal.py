"""Temporal client construction shared by the gateway and the worker."""

from __future__ import annotations

from collections.abc import Sequence

from temporalio.client import Client, Interceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from signalway import tracing
from signalway.settings import CommonSettings


async def connect(settings: CommonSettings, *, lazy: bool = False, identity: str | None = None,
                  interceptors: Sequence[Interceptor] = (), runtime: Runtime | None = None) -> Client:
    """Connect with the pydantic data converter, so payloads are the workflows' own models.

    With tracing on (`signalway.tracing`), the Temporal SDK's tracing interceptor comes first:
    client calls get CLIENT spans whose context travels in the calls' headers, and a worker
    built on this client (its interceptors apply to workers too) continues that trace in its
    workflow and activity spans. Off, no interceptor is added.
    """
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        api_key=api_key,
        tls=settings.temporal_tls or api_key is not None,
        data_converter=pydantic_data_converter,
        interceptors=[*tracing.temporal_interceptors(), *interceptors],
        lazy=lazy,
        identity=identity,
        runtime=runtime,
    )


def metrics_runtime(address: str | None) -> Runtime | None:
    """A Temporal runtime serving the SDK's metrics (and meters made from it) at
    `http://<address>/metrics`; None (the default runtime, no metrics) without an address.

    Counters end in `_total` and durations are seconds, as Prometheus names them, so the SDK's
    series sit beside Signalway's own in one naming scheme.
    """
    if not address:
        return None
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(
        bind_address=address, counters_total_suffix=True, durations_as_seconds=True, unit_suffix=True)))
