"""The workflows the default worker registers.

The gateway does not read this: it knows workflows through the catalog
(`signalway/examples_catalog.json`, generated from these classes by `signalway catalog
workflows.registry:WORKFLOWS --conversation ConversationWorkflow`; a unit test keeps it equal).
"""

from __future__ import annotations

from .approval import ApprovalWorkflow
from .content_ingestion import StandardContentIngestion
from .conversation import ConversationWorkflow
from .order_fulfillment import OrderFulfillmentWorkflow

WORKFLOWS: tuple[type, ...] = (
    ConversationWorkflow,
    ApprovalWorkflow,
    StandardContentIngestion,
    OrderFulfillmentWorkflow,
)

# Workflow types listed by the conversations endpoint.
CONVERSATION_TYPES = frozenset({"ConversationWorkflow"})
