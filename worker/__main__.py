"""`python -m worker`: run one worker until SIGINT/SIGTERM, then drain."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

import httpx

from signalway._config_errors import load_settings
from signalway.redis_connect import close as close_redis
from signalway.redis_connect import connect
from signalway.temporal import connect as connect_temporal
from worker.build import WorkerDeps, build_worker
from worker.settings import WorkerSettings

log = logging.getLogger("signalway.worker")


async def run(settings: WorkerSettings) -> None:
    client = await connect_temporal(settings, identity=None)
    redis = connect(settings.redis_url)
    http = httpx.AsyncClient(timeout=settings.webhook_timeout_seconds, follow_redirects=False)
    try:
        worker = build_worker(client, WorkerDeps(redis=redis, http=http), settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with worker:
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
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(run(settings))


if __name__ == "__main__":
    from signalway.cli import main as cli_main

    sys.exit(cli_main(["worker"]))
