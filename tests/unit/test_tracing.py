"""signalway.tracing: which OTEL_* environments turn traces on, and which are refused.

Nothing here installs a provider: that is process-wide, and the e2e test does it in processes
of its own.
"""

from __future__ import annotations

import pytest

from signalway import tracing
from signalway.tracing import TracingConfigError


@pytest.mark.parametrize(("env", "on"), [
    ({}, False),
    ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
    ({"OTEL_TRACES_EXPORTER": "none"}, False),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
    ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
    ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, False),
    ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, False),
    ({"OTEL_TRACES_EXPORTER": "console"}, True),
])
def test_traces_are_on_only_when_the_environment_asks(env: dict[str, str], on: bool) -> None:
    assert tracing.wanted(env) is on


def test_an_unshipped_exporter_is_a_configuration_error() -> None:
    with pytest.raises(TracingConfigError, match="OTEL_TRACES_EXPORTER: zipkin is not supported"):
        tracing.wanted({"OTEL_TRACES_EXPORTER": "zipkin"})


@pytest.mark.parametrize("variable", ["OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"])
def test_only_the_http_protobuf_protocol_is_accepted(variable: str) -> None:
    with pytest.raises(TracingConfigError, match="grpc is not supported"):
        tracing.configure("signalway-test", {"OTEL_TRACES_EXPORTER": "otlp", variable: "grpc"})
    assert not tracing.enabled()


def test_off_installs_nothing() -> None:
    assert tracing.configure("signalway-test", {}) is None
    assert tracing.tracer() is None and tracing.temporal_interceptors() == [] and tracing.current_ids() is None
    headers: dict[str, str] = {}
    tracing.inject(headers)
    assert headers == {}
