"""Waits for `order:<id>:paid`, then `order:<id>:shipped`, within one overall timeout.

Each is a `wait_for_event` trigger (send with `POST /v1/events/order:<id>:paid/send`); the
`event_received` signal delivers an event by another path (e.g. the durable surface).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from signalway.workflow import (
        EventCanceled,
        EventReceived,
        EventTimedOut,
        deliver_event,
        wait_for_event,
    )

    from .models import OrderInput, OrderResult


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
                remaining = max(deadline - workflow.now(), timedelta(milliseconds=1))
                try:
                    outcome[step] = await wait_for_event(
                        f"order:{input.order_id}:{step}", timeout=remaining,
                        request_payload={"order_id": input.order_id, "step": step},
                        reregister_every=timedelta(seconds=input.reregister_secs),
                    )
                except EventTimedOut:
                    return OrderResult(status="timed_out", **outcome)
                except EventCanceled:
                    return OrderResult(status="canceled", **outcome)
        except asyncio.CancelledError:
            # A cancelled order is a business outcome, reported as a result.
            return OrderResult(status="canceled", **outcome)
        return OrderResult(status="fulfilled", **outcome)

    @workflow.signal
    def event_received(self, input: EventReceived) -> None:
        self._events.setdefault(input.event_key, input.payload)
        deliver_event(input.event_key, input.payload)

    @workflow.query
    def get_received_events(self) -> dict[str, Any]:
        return dict(self._events)
