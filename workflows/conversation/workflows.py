"""A conversation: every `UserInput` is answered with an `ANSWER` update; `bye` ends it."""

from __future__ import annotations

from collections import deque

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from signalway.workflow import publish_update

    from .models import ConversationInput, ConversationResult, UserInput


@workflow.defn
class ConversationWorkflow:
    @workflow.init
    def __init__(self, input: ConversationInput) -> None:
        self._turns = input.turns
        self._inbox: deque[str] = deque()

    @workflow.run
    async def run(self, input: ConversationInput) -> ConversationResult:
        while True:
            await workflow.wait_condition(lambda: bool(self._inbox))
            message = self._inbox.popleft()
            self._turns += 1
            await publish_update("ANSWER", f"echo: {message}")
            if message.strip().lower() == "bye":
                break
            # A run holds at most 10,000 signals: long conversations roll over to a new run.
            if workflow.info().is_continue_as_new_suggested() and not self._inbox:
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(ConversationInput(turns=self._turns))
        await workflow.wait_condition(workflow.all_handlers_finished)
        return ConversationResult(turns=self._turns)

    @workflow.signal(name="UserInput")
    def user_input(self, input: UserInput) -> None:
        self._inbox.append(input.message)

    @workflow.query
    def get_turns(self) -> int:
        return self._turns
