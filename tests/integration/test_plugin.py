"""`SignalwayPlugin` on a worker of a team's: the steps' activities, the converter they need,
its settings, and the Redis connections it opens only while the worker runs."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import redis.asyncio as aioredis
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from signalway.plugin import SignalwayConfigError, SignalwayPlugin
from signalway.steps.contract import RESUME_SIGNAL, TRIGGER_SIGNAL
from signalway.updates import updates_key
from signalway.workflow import search_attributes
from tests.e2e.team.team_workflows import TeamOrder
from tests.helpers.gateway import WEBHOOK_SECRET
from tests.helpers.polling import eventually
from tests.helpers.stack import Stack


async def _plugin_connections(redis: aioredis.Redis, name: str) -> int:
    clients: list[dict[str, Any]] = await redis.client_list()
    return sum(1 for c in clients if c.get("name") == name)


async def _waiting_for(handle: WorkflowHandle[Any, Any], activity: str) -> bool:
    history = await handle.fetch_history()
    return any(e.activity_task_completed_event_attributes.scheduled_event_id
               for e in history.events if e.HasField("activity_task_completed_event_attributes")) and any(
        e.activity_task_scheduled_event_attributes.activity_type.name == activity
        for e in history.events if e.HasField("activity_task_scheduled_event_attributes"))


async def test_a_plugin_given_to_the_worker_alone_runs_every_step_in_a_sandboxed_workflow(
        stack: Stack, redis: aioredis.Redis) -> None:
    # A client of the team's own: Temporal's default converter, no plugin.
    client = await Client.connect(stack.temporal_address)
    name = f"plugin-{uuid.uuid4().hex[:8]}"
    plugin = SignalwayPlugin(redis_url=f"{stack.redis_url}?client_name={name}", resume_secret="r" * 32,
                             webhook_secret=WEBHOOK_SECRET, webhook_allowed_networks="127.0.0.1/32")
    task_queue = str(uuid.uuid4())
    order = uuid.uuid4().hex[:8]
    # TeamOrder imports signalway.workflow at its top, not passed through: the sandbox imports it.
    async with Worker(client, task_queue=task_queue, workflows=[TeamOrder], plugins=[plugin]):
        handle = await client.start_workflow(
            TeamOrder.run, {"order_id": order, "webhook_url": "http://127.0.0.1:9/hook"}, id=str(uuid.uuid4()),
            task_queue=task_queue, search_attributes=search_attributes(project="alpha"))
        await eventually(lambda: _waiting_for(handle, "openResumeStep"), what="the resume step to open")
        assert await _plugin_connections(redis, name) >= 1
        # Plain JSON, as the gateway's (or another SDK's) signal is on the wire.
        await handle.signal(RESUME_SIGNAL, {"step": "approve", "action": "resume", "variables": {"approved": True}})
        await eventually(lambda: _waiting_for(handle, "registerTrigger"), what="the trigger to register")
        await handle.signal(TRIGGER_SIGNAL, {"event_key": f"team:{order}:paid", "action": "received",
                                             "payload": {"amount": 3}})
        assert await handle.result() == {"approved": True, "paid": {"amount": 3}, "notes": []}
        run_id = handle.result_run_id
        assert await redis.zcard(updates_key(run_id)) == 2  # both publish_update calls
    # Stopped: the connections it opened are closed.
    assert await _plugin_connections(redis, name) == 0


def test_settings_come_from_the_environment_and_arguments_override_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNALWAY_PUBLIC_URL", "https://signalway.example")
    monkeypatch.setenv("SIGNALWAY_TRIGGER_SHARDS", "4")
    plugin = SignalwayPlugin(trigger_shards=8)
    assert plugin.settings.public_url == "https://signalway.example"
    assert plugin.settings.trigger_buckets == 8
    with pytest.raises(SignalwayConfigError) as refused:
        SignalwayPlugin(resume_secret="too short")
    assert "SIGNALWAY_RESUME_SECRET must be at least 32 bytes" in str(refused.value)
    assert "too short" not in str(refused.value)
