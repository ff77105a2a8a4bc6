"""A workflow that uses every step once, as a team's workflow would: its recorded histories
(tests/histories/*.json) pin the commands the steps issue."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from signalway.workflow import (
        EventTimedOut,
        ResumeTimedOut,
        publish_update,
        wait_for_event,
        webhook_and_wait,
    )


class StepsInput(BaseModel):
    webhook_url: str
    event_key: str
    timeout_secs: float


class StepsResult(BaseModel):
    answer: Any = None
    event: Any = None


@workflow.defn
class StepsWorkflow:
    @workflow.run
    async def run(self, input: StepsInput) -> StepsResult:
        timeout = timedelta(seconds=input.timeout_secs)
        await publish_update("PROGRESS", "asking", details={"step": 1})
        result = StepsResult()
        try:
            result.answer = (await webhook_and_wait(input.webhook_url, {"answer": "string"}, timeout=timeout,
                                                    step="ask", prompt="Anything to add?"))["answer"]
        except ResumeTimedOut:
            result.answer = None
        await publish_update("PROGRESS", "waiting for the event", details={"step": 2})
        try:
            result.event = await wait_for_event(input.event_key, timeout=timeout, request_payload={"why": "test"})
        except EventTimedOut:
            result.event = None
        await publish_update("DONE", "done", details=result.model_dump())
        return result
