from workflows.conversation.models import ConversationInput, ConversationResult, UserInput
from workflows.conversation.workflows import ConversationWorkflow

__all__ = ["ConversationInput", "ConversationResult", "ConversationWorkflow", "UserInput"]
