from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from ..payload import Payload


class ApprovalInput(Payload):
    subject: str = Field(min_length=1, max_length=10_000)
    timeout_secs: float | None = Field(None, gt=0, le=365 * 24 * 3600)
    # With a webhook URL the approval is asked for by a "webhook and wait" step expecting
    # `user_response`; approve/reject signals still decide it too.
    webhook_url: str | None = Field(None, max_length=2048, pattern=r"^https?://")


class ApproveInput(Payload):
    approver: str = Field(min_length=1, max_length=1_000)


class RejectInput(Payload):
    reason: str = Field("", max_length=10_000)


class ExtendDeadlineInput(Payload):
    seconds: float = Field(gt=0, le=365 * 24 * 3600)


class ApprovalState(Payload):
    subject: str
    state: Literal["pending", "approved", "rejected", "timed_out"]
    user_response: str | None = None
    approver: str | None = None
    reason: str | None = None
    deadline: datetime | None = None


class ApprovalResult(Payload):
    approved: bool
    approver: str | None = None
    reason: str | None = None
    user_response: str | None = None
    timed_out: bool = False
