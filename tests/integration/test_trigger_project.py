"""A trigger's project is the run's (its SignalwayProject search attribute), never a silent default."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
from temporalio import workflow
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from signalway.plugin import SignalwayPlugin
from signalway.triggers import TriggerStore
from signalway.workflow import RunWithoutProject, search_attributes, wait_for_event
from tests.helpers.stack import Stack


@workflow.defn(sandboxed=False)  # defined in a test module, which the sandbox would re-import
class WaitOnce:
    @workflow.run
    async def run(self, key: str) -> Any:
        return await wait_for_event(key, timeout=timedelta(seconds=30))


async def _run(client: Client, stack: Stack, key: str, **start: Any) -> tuple[Any, TriggerStore]:
    plugin_settings = start.pop("plugin", {})
    task_queue = str(uuid.uuid4())
    plugin = SignalwayPlugin(redis_url=stack.redis_url, **plugin_settings)
    redis = aioredis.Redis.from_url(stack.redis_url)
    store = TriggerStore(redis)
    async with Worker(client, task_queue=task_queue, workflows=[WaitOnce], plugins=[plugin]):
        handle = await client.start_workflow(WaitOnce.run, key, id=str(uuid.uuid4()), task_queue=task_queue, **start)
        try:
            return await asyncio.wait_for(_outcome(handle, store, key), 30), store
        finally:
            await redis.aclose()


async def _outcome(handle: Any, store: TriggerStore, key: str) -> Any:
    """Where the run's trigger was filed (project), or how the run failed."""
    while True:
        for project in ("alpha", "mapped", "default"):
            if await store.by_key(project, key) is not None:
                await handle.terminate("seen")
                return project
        try:
            await asyncio.wait_for(asyncio.shield(handle.result()), 0.2)
        except TimeoutError:
            continue
        except WorkflowFailureError as exc:
            return exc.cause


async def test_the_trigger_of_a_run_with_a_project_is_filed_under_it(client: Client, stack: Stack) -> None:
    key = f"proj:{uuid.uuid4().hex}"
    outcome, _ = await _run(client, stack, key, search_attributes=search_attributes(project="alpha", user="alice"))
    assert outcome == "alpha"


async def test_a_run_without_a_project_fails_clearly_instead_of_waiting_under_default(
        client: Client, stack: Stack) -> None:
    key = f"proj:{uuid.uuid4().hex}"
    outcome, _ = await _run(client, stack, key)
    assert isinstance(outcome, ApplicationError) and outcome.type == "RunWithoutProject"
    assert outcome.non_retryable and "search_attributes(project=...)" in outcome.message
    assert isinstance(RunWithoutProject(key), ApplicationError)


async def test_the_workers_mapping_files_runs_without_a_project_under_it(client: Client, stack: Stack) -> None:
    key = f"proj:{uuid.uuid4().hex}"
    outcome, _ = await _run(client, stack, key, plugin={"unattributed_runs_project": "mapped"})
    assert outcome == "mapped"


def test_search_attributes_are_what_the_gateway_records() -> None:
    attributes = search_attributes(project="alpha", user="alice", visibility="private", api="runs")
    assert {pair.key.name: pair.value for pair in attributes} == {
        "SignalwayProject": "alpha", "SignalwayApi": "runs", "SignalwayVisibility": "private",
        "SignalwayInitiatedBy": "user:alice"}
    with pytest.raises(ValueError):
        search_attributes(project="")
