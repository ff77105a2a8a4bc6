"""The workflows the default worker registers, and their payload types.

The gateway reads this for names and input/signal models (to validate before anything
reaches Temporal); which signals a *running* workflow accepts is asked of the workflow
itself at run time.
"""

from __future__ import annotations

import inspect
import typing
from typing import Any

from pydantic import BaseModel
from temporalio import workflow

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


def _first_param_model(fn: Any) -> type[BaseModel] | None:
    params = list(inspect.signature(fn).parameters.values())[1:]  # drop self
    if not params:
        return None
    hint = typing.get_type_hints(fn).get(params[0].name)
    return hint if isinstance(hint, type) and issubclass(hint, BaseModel) else None


class WorkflowTypeInfo:
    """Name and payload models of one registered workflow class."""

    def __init__(self, cls: type) -> None:
        # temporalio keeps the definition on the class; reading it here means names and
        # payload types come from the decorators themselves, not a second hand-kept list.
        definition = workflow._Definition.must_from_class(cls)
        self.name: str = definition.name or cls.__name__
        self.input_model = _first_param_model(definition.run_fn)
        self.signal_models: dict[str, type[BaseModel] | None] = {
            name: _first_param_model(sig.fn) for name, sig in definition.signals.items() if name
        }
        self.update_models: dict[str, type[BaseModel] | None] = {
            name: _first_param_model(upd.fn) for name, upd in definition.updates.items() if name
        }


TYPES: dict[str, WorkflowTypeInfo] = {info.name: info for info in map(WorkflowTypeInfo, WORKFLOWS)}
