"""Payloads and helpers shared by several workflows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from temporalio import workflow

# Activity names the worker registers; workflows call them by name so that this package
# never imports the worker.
PUBLISH_UPDATE_ACTIVITY = "publishUpdate"


class Payload(BaseModel):
    """Base for every workflow message: unknown fields refused, so typos surface as 422."""

    model_config = ConfigDict(extra="forbid")


class PublishUpdateInput(Payload):
    run_id: str
    type: str = "UPDATE"
    message: str | None = None
    details: Any = None
    workstream_id: str | None = None


class EventReceived(Payload):
    """An external event delivered to a waiting workflow."""

    event_key: str = Field(min_length=1, max_length=1024)
    payload: Any = None


async def publish_update(
    type: str, message: str | None = None, details: Any = None, workstream_id: str | None = None
) -> None:
    """Publish a progress message for the current run through an activity, so that a replay
    never publishes it twice."""
    await workflow.execute_activity(
        PUBLISH_UPDATE_ACTIVITY,
        PublishUpdateInput(
            run_id=workflow.info().run_id,
            type=type,
            message=message,
            details=details,
            workstream_id=workstream_id,
        ),
        start_to_close_timeout=timedelta(seconds=10),
    )


class SignalState(Protocol):
    def on_signal(self, message: Any) -> None: ...


S = TypeVar("S", bound=SignalState)


def run_state(attribute: str, make: Callable[[], S], signal: str) -> S:
    """State a step helper keeps for the current run, with its signal handler registered once.

    It lives on the workflow instance: module state would be shared by every run the worker
    hosts. Signals that came before the handler are delivered when it is registered.
    """
    instance = workflow.instance()
    state: S | None = getattr(instance, attribute, None)
    if state is None:
        state = make()
        setattr(instance, attribute, state)
        workflow.set_signal_handler(signal, state.on_signal)
    return state
