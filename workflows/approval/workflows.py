"""Waits for `approve` or `reject`, optionally with a deadline an Update can extend."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from signalway.workflow import (
        ResumeRevoked,
        ResumeTimedOut,
        extend_step,
        step_deadline,
        webhook_and_wait,
    )

    from .models import (
        ApprovalInput,
        ApprovalResult,
        ApprovalState,
        ApproveInput,
        ExtendDeadlineInput,
        RejectInput,
    )

# A `user_response` that approves; anything else rejects, with the response as the reason.
APPROVING = frozenset({"approve", "approved", "yes", "y", "ok", "true", "accept", "accepted"})
# The "webhook and wait" step's name: its resume URL is managed under it.
WEBHOOK_STEP = "approval"


@workflow.defn
class ApprovalWorkflow:
    @workflow.init
    def __init__(self, input: ApprovalInput) -> None:
        self._state = ApprovalState(subject=input.subject, state="pending")
        if input.timeout_secs is not None:
            self._state.deadline = workflow.now() + timedelta(seconds=input.timeout_secs)

    @workflow.run
    async def run(self, input: ApprovalInput) -> ApprovalResult:
        if input.webhook_url:
            await self._ask_by_webhook(input)
        while self._state.state == "pending":
            deadline = self._state.deadline
            if deadline is None:
                await workflow.wait_condition(lambda: self._state.state != "pending")
                break
            remaining = (deadline - workflow.now()).total_seconds()
            if remaining <= 0:
                self._state.state = "timed_out"
                break

            # Wake on a decision or a deadline change, whichever comes first.
            def decided_or_moved(deadline: datetime = deadline) -> bool:
                return self._state.state != "pending" or self._state.deadline != deadline

            try:
                await workflow.wait_condition(decided_or_moved, timeout=timedelta(seconds=remaining))
            except TimeoutError:
                continue
        await workflow.wait_condition(workflow.all_handlers_finished)
        return ApprovalResult(
            approved=self._state.state == "approved",
            approver=self._state.approver,
            reason=self._state.reason,
            user_response=self._state.user_response,
            timed_out=self._state.state == "timed_out",
        )

    async def _ask_by_webhook(self, input: ApprovalInput) -> None:
        """The step's deadline is the approval's: `get_state` shows it and `extend_deadline`
        moves it (the resume URL's with it); so does the resume-URL API's extend."""
        timeout = timedelta(seconds=input.timeout_secs) if input.timeout_secs else None
        # The step keeps the one deadline; a second copy here would drift from it.
        self._state.deadline = None
        step = asyncio.create_task(webhook_and_wait(
            input.webhook_url or "", {"user_response": "string"}, timeout=timeout, step=WEBHOOK_STEP,
            prompt=input.subject))
        await workflow.wait_condition(lambda: step.done() or self._state.state != "pending")
        if not step.done():
            step.cancel()  # decided by a signal meanwhile
            with contextlib.suppress(asyncio.CancelledError, ResumeTimedOut, ResumeRevoked):
                await step
            return
        try:
            variables = step.result()
        except ResumeTimedOut:
            self._state.state = "timed_out"
            return
        except ResumeRevoked:
            self._state.state, self._state.reason = "rejected", "the resume URL was revoked"
            return
        response = str(variables["user_response"])
        self._state.user_response = response
        if response.strip().lower() in APPROVING:
            self._state.state, self._state.approver = "approved", "webhook"
        else:
            self._state.state, self._state.reason = "rejected", response

    @workflow.signal
    def approve(self, input: ApproveInput) -> None:
        if self._state.state == "pending":
            self._state.state = "approved"
            self._state.approver = input.approver

    @workflow.signal
    def reject(self, input: RejectInput) -> None:
        if self._state.state == "pending":
            self._state.state = "rejected"
            self._state.reason = input.reason

    @workflow.query
    def get_state(self) -> ApprovalState:
        waiting_until = step_deadline(WEBHOOK_STEP)
        if waiting_until is not None and self._state.state == "pending":
            return self._state.model_copy(update={"deadline": waiting_until})
        return self._state

    # Replay: before the webhook step had a deadline here, the validator refused every
    # extension of a webhook run, and refused updates leave no history; the deadline-only
    # path below runs no command. So no recorded history takes another path: no patch needed.
    @workflow.update
    async def extend_deadline(self, input: ExtendDeadlineInput) -> ApprovalState:
        if step_deadline(WEBHOOK_STEP) is not None:
            await extend_step(WEBHOOK_STEP, input.seconds)
        else:
            assert self._state.deadline is not None  # guaranteed by the validator
            self._state.deadline += timedelta(seconds=input.seconds)
        return self.get_state()

    @extend_deadline.validator
    def _validate_extend_deadline(self, input: ExtendDeadlineInput) -> None:
        if self._state.state != "pending":
            raise ApplicationError(
                f"approval is already {self._state.state}", type="ApprovalDecided", non_retryable=True
            )
        if self._state.deadline is None and step_deadline(WEBHOOK_STEP) is None:
            raise ApplicationError(
                "approval has no deadline to extend", type="NoDeadline", non_retryable=True
            )
