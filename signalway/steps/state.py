"""Per-run state of a step, kept on the workflow instance."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from temporalio import workflow


class SignalState(Protocol):
    def on_signal(self, message: Any) -> None: ...


S = TypeVar("S", bound=SignalState)


def run_state(attribute: str, make: Callable[[], S], signal: str) -> S:
    """State a step keeps for the current run, with its signal handler registered once.

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
