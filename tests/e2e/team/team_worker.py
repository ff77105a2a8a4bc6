"""A team's worker process: its own workflows on its own task queue, Signalway's steps through
`SignalwayPlugin` (settings from SIGNALWAY_*), the Temporal client its own."""

import asyncio
import os
import signal
import sys

from temporalio.client import Client
from temporalio.worker import Worker

import workflows
from signalway.plugin import SignalwayPlugin


async def main() -> None:
    client = await Client.connect(os.environ["TEAM_TEMPORAL_ADDRESS"], plugins=[SignalwayPlugin()])
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    async with Worker(client, task_queue=os.environ["TEAM_TASK_QUEUE"], workflows=workflows.WORKFLOWS):
        print(f"team worker polling; workflows from {workflows.__file__}; sys.path {sys.path}", flush=True)
        await stop.wait()
    print("team worker stopped", flush=True)


asyncio.run(main())
