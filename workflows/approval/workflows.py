"""Waits for `approve` or `reject`, optionally with a deadline an Update can extend."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.approval.models import (
        ApprovalInput,
        ApprovalResult,
        ApprovalState,
        ApproveInput,
        ExtendDeadlineInput,
        RejectInput,
    )


@workflow.defn
class ApprovalWorkflow:
    @workflow.init
    def __init__(self, input: ApprovalInput) -> None:
        self._state = ApprovalState(subject=input.subject, state="pending")
        if input.timeout_secs is not None:
            self._state.deadline = workflow.now() + timedelta(seconds=input.timeout_secs)

    @workflow.run
    async def run(self, input: ApprovalInput) -> ApprovalResult:
        while self._state.state == "pending":
            deadline = self._state.deadline
            if deadline is None:
                await workflow.wait_condition(lambda: self._state.state != "pending")
                break
            remaining = (deadline - workflow.now()).total_seconds()
            if remaining <= 0:
                self._state.state = "timed_out"
                break
            try:
                # Wake on a decision or a deadline change, whichever comes first.
                await workflow.wait_condition(
                    lambda deadline=deadline: self._state.state != "pending" or self._state.deadline != deadline,
                    timeout=timedelta(seconds=remaining),
                )
            except TimeoutError:
                continue
        await workflow.wait_condition(workflow.all_handlers_finished)
        return ApprovalResult(
            approved=self._state.state == "approved",
            approver=self._state.approver,
            reason=self._state.reason,
            timed_out=self._state.state == "timed_out",
        )

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
        return self._state

    @workflow.update
    def extend_deadline(self, input: ExtendDeadlineInput) -> ApprovalState:
        assert self._state.deadline is not None  # guaranteed by the validator
        self._state.deadline += timedelta(seconds=input.seconds)
        return self._state

    @extend_deadline.validator
    def _validate_extend_deadline(self, input: ExtendDeadlineInput) -> None:
        if self._state.state != "pending":
            raise ApplicationError(
                f"approval is already {self._state.state}", type="ApprovalDecided", non_retryable=True
            )
        if self._state.deadline is None:
            raise ApplicationError(
                "approval has no deadline to extend", type="NoDeadline", non_retryable=True
            )
