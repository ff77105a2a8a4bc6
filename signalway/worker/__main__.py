"""`python -m signalway.worker`: run one worker until SIGINT/SIGTERM, then drain."""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import signal
import sys

from signalway import tracing
from signalway._config_errors import load_settings, warn_unknown_variables
from signalway.logging_setup import configure as configure_logging
from signalway.plugin import SignalwayConfigError
from signalway.temporal import connect as connect_temporal
from signalway.temporal import metrics_runtime
from signalway.worker.build import build_worker
from signalway.worker.settings import WorkerSettings

log = logging.getLogger("signalway.worker")
SERVICE_NAME = "signalway-worker"


class WorkflowsNotFound(ValueError):
    pass


def load_workflows(spec: str) -> list[type]:
    """`module:attr` naming a workflow class, or a list or tuple of them; the module is imported
    from the current directory first (as `uvicorn module:app` does)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise WorkflowsNotFound(f"--workflows {spec!r}: expected module:attribute, e.g. myteam.workflows:WORKFLOWS")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise WorkflowsNotFound(f"--workflows {spec!r}: cannot import {module_name!r} ({exc})") from None
    value = getattr(module, attribute, None)
    if value is None:
        raise WorkflowsNotFound(f"--workflows {spec!r}: {module_name!r} has no attribute {attribute!r}")
    classes = list(value) if isinstance(value, list | tuple) else [value]
    wrong = [repr(c) for c in classes if not (isinstance(c, type) and hasattr(c, "__temporal_workflow_definition"))]
    if not classes or wrong:
        raise WorkflowsNotFound(f"--workflows {spec!r}: not a @workflow.defn class or a list of them: "
                                f"{', '.join(wrong) or 'an empty list'}")
    return classes


async def run(settings: WorkerSettings, *, workflows: list[type] | None = None, task_queue: str | None = None) -> None:
    # The SDK's metrics and Signalway's worker counters, at http://<address>/metrics when set.
    runtime = metrics_runtime(settings.worker_metrics_address)
    client = await connect_temporal(settings, identity=None, runtime=runtime)
    worker = build_worker(client, None, settings, task_queue=task_queue, workflows=workflows)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        if settings.worker_metrics_address:
            log.info("worker metrics on http://%s/metrics", settings.worker_metrics_address)
        log.info("worker polling task queue %r on %s", task_queue or settings.task_queue, settings.temporal_address)
        await stop.wait()
        # Leaving the block stops polling and gives in-flight activities
        # shutdown_grace_seconds to finish.
        log.info("worker draining")
    log.info("worker stopped")


def main(settings: WorkerSettings | None = None, *, workflows: str | None = None,
         task_queue: str | None = None) -> None:
    # A bad environment ends here with one line per problem and exit code 2, no traceback.
    settings = settings or load_settings(WorkerSettings)
    try:
        classes = load_workflows(workflows) if workflows else None
    except WorkflowsNotFound as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    tracing.configure_or_exit(SERVICE_NAME)
    configure_logging(settings.log_level, settings.log_format)
    warn_unknown_variables()
    try:
        asyncio.run(run(settings, workflows=classes, task_queue=task_queue))
    except SignalwayConfigError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(2) from None
    finally:
        tracing.shutdown()  # the last spans, before the CLI's os._exit skips atexit


if __name__ == "__main__":
    from signalway.cli import main as cli_main

    sys.exit(cli_main(["worker", *sys.argv[1:]]))
