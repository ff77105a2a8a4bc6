"""Waits for `order:<id>:paid`, then `order:<id>:shipped`, within one overall timeout.

Events arrive as the `event_received` signal (the event-trigger surface sends it).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows._common import EventReceived
    from workflows.order_fulfillment.models import OrderInput, OrderResult


@workflow.defn
class OrderFulfillmentWorkflow:
    @workflow.init
    def __init__(self, input: OrderInput) -> None:
        self._events: dict[str, Any] = {}

    @workflow.run
    async def run(self, input: OrderInput) -> OrderResult:
        deadline = workflow.now() + timedelta(seconds=input.timeout_secs)
        outcome: dict[str, Any] = {}
        try:
            for step in ("paid", "shipped"):
                key = f"order:{input.order_id}:{step}"
                remaining = (deadline - workflow.now()).total_seconds()
                try:
                    await workflow.wait_condition(
                        lambda key=key: key in self._events, timeout=timedelta(seconds=max(remaining, 0.001))
                    )
                except TimeoutError:
                    return OrderResult(status="timed_out", **outcome)
                outcome[step] = self._events[key]
        except asyncio.CancelledError:
            # A cancelled order is a business outcome, reported as a result.
            return OrderResult(status="canceled", **outcome)
        return OrderResult(status="fulfilled", **outcome)

    @workflow.signal
    def event_received(self, input: EventReceived) -> None:
        self._events.setdefault(input.event_key, input.payload)

    @workflow.query
    def get_received_events(self) -> dict[str, Any]:
        return dict(self._events)
