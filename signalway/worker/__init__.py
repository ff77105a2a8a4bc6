"""The Temporal worker process: runs the workflows of `workflows/` and their activities."""

from signalway.worker.build import build_worker

__all__ = ["build_worker"]
