from workflows.approval.models import (
    ApprovalInput,
    ApprovalResult,
    ApprovalState,
    ApproveInput,
    ExtendDeadlineInput,
    RejectInput,
)
from workflows.approval.workflows import ApprovalWorkflow

__all__ = [
    "ApprovalInput",
    "ApprovalResult",
    "ApprovalState",
    "ApprovalWorkflow",
    "ApproveInput",
    "ExtendDeadlineInput",
    "RejectInput",
]
