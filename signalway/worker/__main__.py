"""`python -m signalway.worker`: run one worker until SIGINT/SIGTERM, then drain."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

import httpx

from signalway import tracing
from signalway._config_errors import load_settings, warn_unknown_variables
from signalway.logging_setup import configure as configure_logging
from signalway.redis_connect import close as close_redis
from signalway.redis_connect import connect
from signalway.temporal import connect as connect_temporal
from signalway.temporal import metrics_runtime
from signalway.triggers import TriggerStore, check_layout_at_start
from signalway.worker.build import WorkerDeps, build_worker
from signalway.worker.settings import WorkerSettings

log = logging.getLogger("signalway.worker")
SERVICE_NAME = "signalway-worker"


async def run(settings: WorkerSettings) -> None:
    # The SDK's metrics and Signalway's worker counters, at http://<address>/metrics when set.
    runtime = metrics_runtime(settings.worker_metrics_address)
    client = await connect_temporal(settings, identity=None, runtime=runtime)
    redis = connect(settings.redis_url)
    http = httpx.AsyncClient(timeout=settings.webhook_timeout_seconds, follow_redirects=False)
    try:
        await check_layout_at_start(TriggerStore(redis, shards=settings.trigger_buckets), log)
        worker = build_worker(client, WorkerDeps(redis=redis, http=http), settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with worker:
            if settings.worker_metrics_address:
                log.info("worker metrics on http://%s/metrics", settings.worker_metrics_address)
            log.info("worker polling task queue %r on %s", settings.task_queue, settings.temporal_address)
            await stop.wait()
            # Leaving the block stops polling and gives in-flight activities
            # shutdown_grace_seconds to finish.
            log.info("worker draining")
        log.info("worker stopped")
    finally:
        await http.aclose()
        await close_redis(redis)


def main(settings: WorkerSettings | None = None) -> None:
    # A bad environment ends here with one line per problem and exit code 2, no traceback.
    settings = settings or load_settings(WorkerSettings)
    tracing.configure_or_exit(SERVICE_NAME)
    configure_logging(settings.log_level, settings.log_format)
    warn_unknown_variables()
    try:
        asyncio.run(run(settings))
    finally:
        tracing.shutdown()  # the last spans, before the CLI's os._exit skips atexit


if __name__ == "__main__":
    from signalway.cli import main as cli_main

    sys.exit(cli_main(["worker"]))
