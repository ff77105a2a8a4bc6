"""The metric names docs/grafana-dashboard.json queries, and which of them the Temporal SDK serves."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json"

# The Temporal SDK's own series the dashboard uses (served by a worker with
# SIGNALWAY_WORKER_METRICS_ADDRESS; tests/e2e/test_observability.py checks they are).
SDK_METRICS = (
    "temporal_workflow_task_schedule_to_start_latency_seconds_bucket",
    "temporal_activity_schedule_to_start_latency_seconds_bucket",
    "temporal_activity_execution_latency_seconds_bucket",
    "temporal_worker_task_slots_available",
    "temporal_workflow_completed_total",
)

_NAME = re.compile(r"\b((?:signalway|temporal)_[a-z0-9_]+)\b")


def _exprs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["expr"]] if isinstance(node.get("expr"), str) else []
        return found + [e for value in node.values() for e in _exprs(value)]
    if isinstance(node, list):
        return [e for item in node for e in _exprs(item)]
    return []


def queried_metrics() -> set[str]:
    """Every metric name in the dashboard's PromQL expressions."""
    return {name for expr in _exprs(json.loads(DASHBOARD.read_text())) for name in _NAME.findall(expr)}
