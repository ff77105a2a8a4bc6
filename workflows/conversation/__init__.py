from .models import ConversationInput, ConversationResult, UserInput
from .workflows import ConversationWorkflow

__all__ = ["ConversationInput", "ConversationResult", "ConversationWorkflow", "UserInput"]
