"""docs/grafana-dashboard.json queries only metrics that exist.

Signalway's own names come from their definitions (the gateway's registry as `create_app`
fills it, the worker's counters); the Temporal SDK's are the ones
tests/e2e/test_observability.py finds on a real worker's endpoint.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from signalway.gateway.middleware import Metrics
from signalway.gateway.telemetry import GatewayTelemetry
from signalway.worker.metrics import EXPORTED
from tests.helpers.dashboard import DASHBOARD, SDK_METRICS, queried_metrics


def _series(registry: CollectorRegistry) -> set[str]:
    """Every series name the registry can expose, labelled children or not."""
    names: set[str] = set()
    for family in registry.collect():
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
        names.update(family.name + suffix for suffix in suffixes.get(family.type, ("",)))
    return names


def _gateway_series() -> set[str]:
    metrics = Metrics()
    GatewayTelemetry(metrics.registry)
    return _series(metrics.registry)


def test_every_metric_the_dashboard_queries_exists() -> None:
    known = _gateway_series() | set(EXPORTED) | set(SDK_METRICS)
    queried = queried_metrics()
    assert queried, f"no PromQL found in {DASHBOARD}"
    assert queried - known == set()


def test_the_dashboard_shows_every_operational_metric() -> None:
    # A metric added for on-call without a panel is one nobody looks at.
    queried = {name.removesuffix("_bucket") for name in queried_metrics()}
    defined = {name.removesuffix("_bucket") for name in _gateway_series() if not name.endswith(("_count", "_sum"))}
    assert defined - queried == set()
