from .models import (
    DELIVER_WEBHOOK_ACTIVITY,
    EXTEND_RESUME_STEP_ACTIVITY,
    OPEN_RESUME_STEP_ACTIVITY,
    RESUME_SIGNAL,
    DeliverWebhookInput,
    ExtendResumeStepInput,
    OpenResumeStepInput,
    ResumeAudit,
    ResumeSignal,
    ResumeStepOpened,
    VariableType,
)
from .steps import (
    ResumeRevoked,
    ResumeTimedOut,
    extend_step,
    step_deadline,
    webhook_and_wait,
)

__all__ = [
    "DELIVER_WEBHOOK_ACTIVITY",
    "EXTEND_RESUME_STEP_ACTIVITY",
    "OPEN_RESUME_STEP_ACTIVITY",
    "RESUME_SIGNAL",
    "DeliverWebhookInput",
    "ExtendResumeStepInput",
    "OpenResumeStepInput",
    "ResumeAudit",
    "ResumeRevoked",
    "ResumeSignal",
    "ResumeStepOpened",
    "ResumeTimedOut",
    "VariableType",
    "extend_step",
    "step_deadline",
    "webhook_and_wait",
]
