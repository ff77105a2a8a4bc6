from .models import (
    ApprovalInput,
    ApprovalResult,
    ApprovalState,
    ApproveInput,
    ExtendDeadlineInput,
    RejectInput,
)
from .workflows import ApprovalWorkflow

__all__ = [
    "ApprovalInput",
    "ApprovalResult",
    "ApprovalState",
    "ApprovalWorkflow",
    "ApproveInput",
    "ExtendDeadlineInput",
    "RejectInput",
]
