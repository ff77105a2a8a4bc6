from workflows.webhook_wait.models import (
    DELIVER_WEBHOOK_ACTIVITY,
    OPEN_RESUME_STEP_ACTIVITY,
    RESUME_SIGNAL,
    DeliverWebhookInput,
    OpenResumeStepInput,
    ResumeAudit,
    ResumeSignal,
    ResumeStepOpened,
    VariableType,
)
from workflows.webhook_wait.steps import ResumeRevoked, ResumeTimedOut, webhook_and_wait

__all__ = [
    "DELIVER_WEBHOOK_ACTIVITY",
    "OPEN_RESUME_STEP_ACTIVITY",
    "RESUME_SIGNAL",
    "DeliverWebhookInput",
    "OpenResumeStepInput",
    "ResumeAudit",
    "ResumeRevoked",
    "ResumeSignal",
    "ResumeStepOpened",
    "ResumeTimedOut",
    "VariableType",
    "webhook_and_wait",
]
