"""OpenTelemetry tracing for a Signalway process, configured by the standard `OTEL_*` variables.

Off unless asked for: with no `OTEL_TRACES_EXPORTER` and no OTLP endpoint in the environment
nothing of the OpenTelemetry SDK is imported, no tracer provider is installed and no Temporal
interceptor is added, so an untraced process pays nothing per request.

On (`OTEL_TRACES_EXPORTER=otlp`, or an `OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`): spans go in
batches to the OTLP/HTTP exporter, which reads its own variables (`OTEL_EXPORTER_OTLP_ENDPOINT`,
`..._HEADERS`, `..._TIMEOUT`, ...); the sampler is `OTEL_TRACES_SAMPLER` (parent-based
always-on by default) and `service.name` is `OTEL_SERVICE_NAME` when set, else the process's
own (`signalway-gateway`, `signalway-worker`).

The provider is process-wide state, as OpenTelemetry's own global provider is: `configure`
runs once at process start (the CLI), `shutdown` flushes what is batched before the process
exits (the CLI ends with `os._exit`, which skips atexit hooks; a process exiting normally is
flushed by the SDK's own atexit hook).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Tracer

EXPORTERS = ("otlp", "console")
PROTOCOL = "http/protobuf"

_provider: TracerProvider | None = None


class TracingConfigError(ValueError):
    """An `OTEL_*` variable asks for something this process cannot do (said in one line)."""


def _exporters(env: Mapping[str, str]) -> list[str]:
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    named = [e.strip().lower() for e in env.get("OTEL_TRACES_EXPORTER", "").split(",") if e.strip()]
    if not named:
        # The SDK's own default exporter is otlp; here an endpoint must say where it goes, so a
        # process with no OTEL_* variable at all stays untraced.
        endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        return ["otlp"] if endpoint else []
    unknown = [e for e in named if e not in (*EXPORTERS, "none")]
    if unknown:
        raise TracingConfigError(f"OTEL_TRACES_EXPORTER: {', '.join(unknown)} is not supported "
                                 f"(use {', '.join(EXPORTERS)} or none)")
    return [e for e in named if e != "none"]


def wanted(env: Mapping[str, str] | None = None) -> bool:
    """Whether the environment asks for traces."""
    return bool(_exporters(os.environ if env is None else env))


def _check_protocol(env: Mapping[str, str]) -> None:
    protocol = (env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
                or PROTOCOL).strip()
    if protocol != PROTOCOL:
        raise TracingConfigError(f"OTEL_EXPORTER_OTLP_PROTOCOL: {protocol} is not supported "
                                 f"(Signalway ships the {PROTOCOL} exporter)")


def configure(service_name: str, env: Mapping[str, str] | None = None) -> TracerProvider | None:
    """Install a tracer provider when the environment asks for traces; None when it does not.

    Raises `TracingConfigError` for an exporter or protocol that is not shipped.
    """
    global _provider
    env = os.environ if env is None else env
    exporters = _exporters(env)
    if not exporters:
        return None
    if "otlp" in exporters:
        _check_protocol(env)
    # Imported here: an untraced process never loads the SDK.
    from opentelemetry import trace
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    # Resource.create reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES itself; an attribute
    # passed here would win over them, so the process's own name is passed only as a fallback.
    named = env.get("OTEL_SERVICE_NAME") or "service.name=" in env.get("OTEL_RESOURCE_ATTRIBUTES", "")
    resource = Resource.create({} if named else {SERVICE_NAME: service_name})
    # The CLI's own exit (os._exit) skips atexit, so it calls `shutdown`; the atexit hook still
    # flushes a process that exits normally (each of `signalway gateway --workers N`).
    provider = TracerProvider(resource=resource)
    for name in exporters:
        exporter: SpanExporter
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter()
        else:
            exporter = ConsoleSpanExporter()
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _provider = provider
    return provider


def configure_or_exit(service_name: str) -> None:
    """`configure`, or a one-line configuration error and exit code 2, like a bad SIGNALWAY_* setting."""
    try:
        configure(service_name)
    except TracingConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def tracer() -> Tracer | None:
    """Signalway's tracer when tracing is on; None (and nothing imported) when it is off."""
    return _provider.get_tracer("signalway") if _provider is not None else None


def enabled() -> bool:
    return _provider is not None


def shutdown() -> None:
    """Export what is still batched and stop; a no-op when tracing is off."""
    global _provider
    if _provider is not None:
        _provider.shutdown()
        _provider = None


def temporal_interceptors() -> list[Any]:
    """The Temporal SDK's tracing interceptor when tracing is on (client spans, and on a worker
    the workflow and activity spans), else none."""
    if _provider is None:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor(_provider.get_tracer("temporalio"))]


def inject(headers: MutableMapping[str, str]) -> None:
    """Add the current span's `traceparent` (and baggage) to outgoing HTTP headers, when on."""
    if _provider is not None:
        from opentelemetry import propagate

        propagate.inject(headers)


def current_ids() -> tuple[str, str] | None:
    """(trace id, span id) of the current span as hex, or None (tracing off, or no span)."""
    if _provider is None:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")
