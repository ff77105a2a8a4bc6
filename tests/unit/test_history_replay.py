"""Histories recorded from real runs (tests/histories/*.json, re-recorded on purpose with
`python -m tests.histories.record`) replay unchanged with today's workflow and step code.

A step or example that issues other commands than a recorded run did would fail every such
run in flight after an upgrade with a non-determinism error; here it fails first. A change to a
step's commands goes behind `workflow.patched`, with a new recorded history beside the old ones.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from signalway_examples.registry import WORKFLOWS
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from signalway.plugin import SignalwayPlugin
from tests.histories.steps_workflow import StepsWorkflow

HISTORIES = sorted((Path(__file__).resolve().parents[1] / "histories").glob("*.json"))
STEP_ACTIVITIES = {"publishUpdate", "openResumeStep", "deliverWebhook", "extendResumeStep", "registerTrigger",
                   "settleTrigger"}


def _events(path: Path) -> list[dict[str, object]]:
    events: list[dict[str, object]] = json.loads(path.read_text())["events"]
    return events


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_recorded_history_replays_with_todays_code(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())  # noqa: ASYNC240 - a small local file
    # As a team replays its own: the plugin brings the converter the steps' payloads need.
    replayer = Replayer(workflows=[*WORKFLOWS, StepsWorkflow], plugins=[SignalwayPlugin()])
    result = await replayer.replay_workflow(history,
                                            raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"


def test_the_histories_cover_every_step_and_every_example() -> None:
    types: set[str] = set()
    activities: set[str] = set()
    for path in HISTORIES:
        for event in _events(path):
            started = event.get("workflowExecutionStartedEventAttributes")
            if isinstance(started, dict):
                types.add(started["workflowType"]["name"])
            scheduled = event.get("activityTaskScheduledEventAttributes")
            if isinstance(scheduled, dict):
                activities.add(scheduled["activityType"]["name"])
    assert {"ApprovalWorkflow", "ConversationWorkflow", "StandardContentIngestion", "OrderFulfillmentWorkflow",
            "StepsWorkflow"} <= types
    assert activities >= STEP_ACTIVITIES
