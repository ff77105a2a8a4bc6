"""An in-process worker as the `worker` fixture (`tests/integration/conftest.py`) hands it out."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.client import Client


@dataclass(frozen=True)
class RunningWorker:
    client: Client
    task_queue: str
