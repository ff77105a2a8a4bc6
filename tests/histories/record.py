"""Record the histories `tests/unit/test_history_replay.py` replays.

    .venv/bin/python -m tests.histories.record            # every scenario
    .venv/bin/python -m tests.histories.record NAME ...   # some of them

Starts its own Temporal dev server and Redis (as the test session does), a worker with
Signalway's activities and a webhook receiver on loopback, drives each scenario through a real
run, and writes its history (`WorkflowHistory.to_json`) to `tests/histories/<scenario>.json`.

Re-record only on purpose: a history is the proof that the code of today still issues the
commands runs started by an older release recorded (docs/your-workflows.md, "Upgrading").
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import tempfile
import threading
from collections.abc import Awaitable, Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis
from signalway_examples.approval import (
    ApprovalInput,
    ApprovalWorkflow,
    ApproveInput,
    ExtendDeadlineInput,
)
from signalway_examples.content_ingestion import IngestionInput, StandardContentIngestion
from signalway_examples.conversation import ConversationInput, ConversationWorkflow, UserInput
from signalway_examples.order_fulfillment import OrderFulfillmentWorkflow, OrderInput
from signalway_examples.plugin import examples_plugin
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.worker import Worker

from signalway import search_attributes as sa
from signalway.localstack import free_port, start_redis, start_temporal
from signalway.plugin import SignalwayPlugin
from signalway.settings import CommonSettings
from signalway.steps.contract import RESUME_SIGNAL, TRIGGER_SIGNAL, ResumeSignal, TriggerMessage
from signalway.temporal import connect
from signalway.worker.settings import WorkerSettings
from signalway.workflow import EventReceived
from tests.helpers.gateway import WEBHOOK_SECRET
from tests.histories.steps_workflow import StepsInput, StepsWorkflow

HERE = Path(__file__).resolve().parent
TASK_QUEUE = "histories"
# What the gateway records on the runs it starts.
ATTRIBUTES = TypedSearchAttributes([
    SearchAttributePair(sa.PROJECT, "alpha"), SearchAttributePair(sa.API, "durable"),
    SearchAttributePair(sa.INITIATED_BY, "alice"), SearchAttributePair(sa.VISIBILITY, "project"),
])


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Recorder:
    def __init__(self, client: Client, receiver_url: str) -> None:
        self.client = client
        self.webhook = receiver_url
        # Nothing listens there: deliveries fail and are retried until the step ends.
        self.unreachable = f"http://127.0.0.1:{free_port()}/hook"

    async def start(self, run: Any, arg: Any, name: str, *, attributes: bool = True) -> WorkflowHandle[Any, Any]:
        return await self.client.start_workflow(
            run, arg, id=f"history-{name}", task_queue=TASK_QUEUE,
            search_attributes=ATTRIBUTES if attributes else TypedSearchAttributes.empty)


def _completed(activity: str, times: int = 1) -> Callable[[Sequence[HistoryEvent]], bool]:
    def check(events: Sequence[HistoryEvent]) -> bool:
        scheduled = {e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name
                     for e in events if e.HasField("activity_task_scheduled_event_attributes")}
        done = [e for e in events if e.HasField("activity_task_completed_event_attributes")
                and scheduled.get(e.activity_task_completed_event_attributes.scheduled_event_id) == activity]
        return len(done) >= times
    return check


def _started(activity: str) -> Callable[[Sequence[HistoryEvent]], bool]:
    def check(events: Sequence[HistoryEvent]) -> bool:
        return any(e.activity_task_scheduled_event_attributes.activity_type.name == activity
                   for e in events if e.HasField("activity_task_scheduled_event_attributes"))
    return check


async def _until(handle: WorkflowHandle[Any, Any], check: Callable[[Sequence[HistoryEvent]], bool]) -> None:
    for _ in range(600):
        if check((await handle.fetch_history()).events):
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{handle.id}: the run never got there")


async def steps_resumed_and_event_sent(r: Recorder, name: str) -> WorkflowHandle[Any, Any]:
    handle = await r.start(StepsWorkflow.run, StepsInput(webhook_url=r.webhook, event_key="steps:sent",
                                                         timeout_secs=600), name)
    await _until(handle, _completed("deliverWebhook"))
    await handle.signal(RESUME_SIGNAL, ResumeSignal(step="ask", action="resume", variables={"answer": "42"}))
    await _until(handle, _completed("registerTrigger"))
    await handle.signal(TRIGGER_SIGNAL, TriggerMessage(event_key="steps:sent", action="received", payload={"n": 1}))
    return handle


async def steps_timed_out(r: Recorder, name: str) -> WorkflowHandle[Any, Any]:
    return await r.start(StepsWorkflow.run, StepsInput(webhook_url=r.webhook, event_key="steps:late",
                                                       timeout_secs=2), name)


async def approval_webhook_resumed(r: Recorder, name: str) -> WorkflowHandle[Any, Any]:
    handle = await r.start(ApprovalWorkflow.run, ApprovalInput(subject="ship it?", timeout_secs=600,
                                                               webhook_url=r.webhook), name)
    await _until(handle, _completed("deliverWebhook"))
    await handle.signal(RESUME_SIGNAL, ResumeSignal(step="approval", action="resume",
                                                    variables={"user_response": "yes"}))
    return handle


async def approval_webhook_extended_then_revoked(r: Recorder, name: str) -> WorkflowHandle[Any, Any]:
    handle = await r.start(ApprovalWorkflow.run, ApprovalInput(subject="extend me", timeout_secs=600,
                                                               webhook_url=r.webhook), name)
    await _until(handle, _completed("deliverWebhook"))
    await handle.execute_update(ApprovalWorkflow.extend_deadline, ExtendDeadlineInput(seconds=60))
    await handle.signal(RESUME_SIGNAL, ResumeSignal(step="approval", action="revoke"))
    return handle


async def approval_webhook_timed_out(r: Recorder, name: str) -> WorkflowHandle[Any, Any]:
    return await r.start(ApprovalWorkflow.run, ApprovalInput(subject="too late", timeout_secs=2,
                                                             webhook_url=r.webhook), name)


async def approval_signal_while_delivery_retries(r: Recorder, name: str) -> WorkflowHandle[Any, Any]:
    handle = await r.start(ApprovalWorkflow.run, ApprovalInput(subject="receiver down", timeout_secs=600,
                                                               webhook_url=r.unreachable), name)
    await _until(handle, _started("deliverWebhook"))
    await asyncio.sleep(1.5)  # a failed attempt or two
    await handle.signal(ApprovalWorkflow.approve, ApproveInput(approver="dana"))
    return handle


async def approval_signal_with_deadline(r: Recorder, name: str) -> WorkflowHandle[Any, Any]:
    handle = await r.start(ApprovalWorkflow.run, ApprovalInput(subject="plain", timeout_secs=600), name)
    await handle.execute_update(ApprovalWorkflow.extend_deadline, ExtendDeadlineInput(seconds=60))
    await handle.signal(ApprovalWorkflow.approve, ApproveInput(approver="dana"))
    return handle


async def conversation(r: Recorder, name: str) -> WorkflowHandle[Any, Any]:
    handle = await r.start(ConversationWorkflow.run, ConversationInput(), name)
    for text in ("hello", "bye"):
        await handle.signal(ConversationWorkflow.user_input, UserInput(message=text))
    return handle


async def content_ingestion(r: Recorder, name: str) -> WorkflowHandle[Any, Any]:
    return await r.start(StandardContentIngestion.run, IngestionInput(documentId="doc-1", parts=2), name)


async def order_fulfilled(r: Recorder, name: str) -> WorkflowHandle[Any, Any]:
    handle = await r.start(OrderFulfillmentWorkflow.run, OrderInput(order_id="o1", timeout_secs=600), name)
    await _until(handle, _completed("registerTrigger"))
    # As the gateway's send does (it recorded the event itself), then by the workflow's own signal.
    await handle.signal(TRIGGER_SIGNAL, TriggerMessage(event_key="order:o1:paid", action="received",
                                                       payload={"amount": 10}))
    await _until(handle, _completed("registerTrigger", 2))
    await handle.signal(OrderFulfillmentWorkflow.event_received,
                        EventReceived(event_key="order:o1:shipped", payload={"carrier": "ups"}))
    return handle


async def order_without_search_attributes(r: Recorder, name: str) -> WorkflowHandle[Any, Any]:
    """A run started elsewhere, without Signalway's search attributes, as releases before the
    project-from-the-run rule let it wait."""
    handle = await r.start(OrderFulfillmentWorkflow.run, OrderInput(order_id="o2", timeout_secs=600), name,
                           attributes=False)
    for step in ("paid", "shipped"):
        await handle.signal(OrderFulfillmentWorkflow.event_received,
                            EventReceived(event_key=f"order:o2:{step}", payload=step))
    return handle


async def order_without_search_attributes_refused(r: Recorder, name: str) -> WorkflowHandle[Any, Any]:
    """The same run since a trigger's project is the run's: `RunWithoutProject` (workflow.patched)."""
    return await r.start(OrderFulfillmentWorkflow.run, OrderInput(order_id="o6", timeout_secs=600), name,
                         attributes=False)


async def order_timed_out(r: Recorder, name: str) -> WorkflowHandle[Any, Any]:
    return await r.start(OrderFulfillmentWorkflow.run, OrderInput(order_id="o3", timeout_secs=2), name)


async def order_trigger_canceled(r: Recorder, name: str) -> WorkflowHandle[Any, Any]:
    handle = await r.start(OrderFulfillmentWorkflow.run, OrderInput(order_id="o4", timeout_secs=600), name)
    await _until(handle, _completed("registerTrigger"))
    await handle.signal(TRIGGER_SIGNAL, TriggerMessage(event_key="order:o4:paid", action="canceled"))
    return handle


async def order_workflow_cancelled(r: Recorder, name: str) -> WorkflowHandle[Any, Any]:
    handle = await r.start(OrderFulfillmentWorkflow.run, OrderInput(order_id="o5", timeout_secs=600), name)
    await _until(handle, _completed("registerTrigger"))
    await handle.cancel()
    return handle


SCENARIOS: dict[str, Callable[[Recorder, str], Awaitable[WorkflowHandle[Any, Any]]]] = {
    f.__name__: f for f in (
        steps_resumed_and_event_sent, steps_timed_out, approval_webhook_resumed,
        approval_webhook_extended_then_revoked, approval_webhook_timed_out, approval_signal_while_delivery_retries,
        approval_signal_with_deadline, conversation, content_ingestion, order_fulfilled,
        order_without_search_attributes, order_without_search_attributes_refused, order_timed_out, order_trigger_canceled, order_workflow_cancelled,
    )
}


async def record(names: Sequence[str], temporal_address: str, redis_url: str) -> None:
    client = await connect(CommonSettings(temporal_address=temporal_address, redis_url=redis_url))
    settings = WorkerSettings(temporal_address=temporal_address, redis_url=redis_url, shutdown_grace_seconds=2,
                              resume_secret=secrets.token_urlsafe(32), webhook_secret=WEBHOOK_SECRET,
                              webhook_allowed_networks="127.0.0.1/32", webhook_timeout_seconds=1)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    redis = aioredis.Redis.from_url(redis_url)
    recorder = Recorder(client, f"http://127.0.0.1:{server.server_address[1]}/hook")
    try:
        async with httpx.AsyncClient(timeout=1) as http, Worker(
                client, task_queue=TASK_QUEUE, workflows=[StepsWorkflow],
                # Signalway's worker (the examples beside the steps' activities), and the steps workflow.
                plugins=[SignalwayPlugin(settings, redis=redis, http=http), examples_plugin(settings, redis)]):
            await _record(recorder, names)
    finally:
        server.shutdown()
        await redis.aclose()


async def _record(recorder: Recorder, names: Sequence[str]) -> None:
    handles = await asyncio.gather(*(SCENARIOS[name](recorder, name) for name in names))
    for name, handle in zip(names, handles, strict=True):
        try:
            await handle.result()
        except Exception as exc:  # a failed or cancelled run is a history too
            print(f"{name}: the run ended with {type(exc).__name__}")
        history = await handle.fetch_history()
        (HERE / f"{name}.json").write_text(history.to_json() + "\n")
        print(f"{name}: {len(history.events)} events")


def main(argv: Sequence[str]) -> int:
    names = list(argv) or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        print(f"unknown scenario(s): {', '.join(unknown)}; known: {', '.join(SCENARIOS)}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as data:
        temporal_port, redis_port = free_port(), free_port()
        temporal = start_temporal(Path(data) / "temporal", port=temporal_port, ui_port=None)
        try:
            redis = start_redis(Path(data) / "redis", port=redis_port, persistent=False)
            try:
                asyncio.run(record(names, f"127.0.0.1:{temporal_port}", f"redis://127.0.0.1:{redis_port}/0"))
            finally:
                redis.stop()
        finally:
            temporal.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
