"""The Temporal worker process (`signalway worker`): `worker.build.build_worker` builds it."""
