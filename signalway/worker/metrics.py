"""Signalway's own worker counters, made from the Temporal runtime's metric meter.

They are served with the Temporal SDK's metrics on one endpoint
(`SIGNALWAY_WORKER_METRICS_ADDRESS`, see `signalway.temporal.metrics_runtime`); without it
the meter is the SDK's no-op one and counting costs nothing. Labels stay low-cardinality:
outcomes, attempt buckets, statuses — never a run id or a URL.
"""

from __future__ import annotations

from temporalio.common import MetricMeter

# Names as exported (the runtime appends `_total` to counters).
WEBHOOK_DELIVERIES = "signalway_webhook_deliveries"
TRIGGER_TRANSITIONS = "signalway_trigger_transitions"
EXPORTED = (f"{WEBHOOK_DELIVERIES}_total", f"{TRIGGER_TRANSITIONS}_total")

# How one webhook delivery attempt ended.
# rejected: the receiver answered 3xx-5xx; unreachable: no answer (connection failed or timed out);
# refused: the target's address is not allowed (SIGNALWAY_WEBHOOK_ALLOWED_NETWORKS); error:
# anything else (the attempt was cancelled, or failed unexpectedly).
WEBHOOK_OUTCOMES = ("delivered", "rejected", "unreachable", "refused", "not_configured", "error")
_LAST_ATTEMPT_BUCKET = 5


def attempt_bucket(attempt: int) -> str:
    """`1` … `4`, then `5+`: retries past the fifth are one series, not one per attempt."""
    return str(attempt) if attempt < _LAST_ATTEMPT_BUCKET else f"{_LAST_ATTEMPT_BUCKET}+"


class WorkerMetrics:
    def __init__(self, meter: MetricMeter) -> None:
        self._webhooks = meter.create_counter(
            WEBHOOK_DELIVERIES, "Webhook delivery attempts by outcome and attempt number (1-4, 5+).")
        self._triggers = meter.create_counter(
            TRIGGER_TRANSITIONS, "Event triggers entering a status through this worker: waiting (registered), "
            "received (an early event consumed at registration, or recorded after a send), timed_out, canceled.")

    def webhook(self, outcome: str, attempt: int) -> None:
        self._webhooks.add(1, {"outcome": outcome, "attempt": attempt_bucket(attempt)})

    def trigger(self, to: str) -> None:
        self._triggers.add(1, {"to": to})
