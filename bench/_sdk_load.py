"""The SDK load generator, run as its own process by signal_latency.py (never by hand).

Reads a JSON job on stdin: {"address", "namespace", "targets": [[workflow_id, run_id], ...],
"concurrency", "seconds", "warmup"}; signals `event_received` with {"event_key": "bench",
"payload": n} from `concurrency` asyncio tasks, each cycling through the targets from its own
offset, until the deadline; prints one JSON line with the counts and latency percentiles.
With {"mode": "breakdown", "iterations": n} it instead times, one call at a time, each Temporal
call the gateway's signal path makes (signal, describe, reverse history page, metadata query).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
import time
from typing import Any

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryReverseRequest
from temporalio.client import Client


def percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return 0.0
    rank = max(0, min(len(sorted_values) - 1, math.ceil(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[rank]


async def run(job: dict[str, Any]) -> dict[str, Any]:
    client = await Client.connect(job["address"], namespace=job.get("namespace", "default"))
    handles = [client.get_workflow_handle(wid, run_id=rid) for wid, rid in job["targets"]]
    concurrency, seconds = int(job["concurrency"]), float(job["seconds"])
    counter = 0
    errors = 0
    first_error: str | None = None

    async def one(handle: Any) -> float | None:
        nonlocal counter, errors, first_error
        counter += 1
        began = time.perf_counter()
        try:
            await handle.signal("event_received", {"event_key": "bench", "payload": counter})
        except Exception as exc:  # reported, and fails the run
            errors += 1
            first_error = first_error or f"{type(exc).__name__}: {exc}"
            return None
        return time.perf_counter() - began

    # Untimed warm-up: the connection and the core's first calls.
    warmup = int(job.get("warmup", 0))
    for index in range(warmup):
        await one(handles[index % len(handles)])
    warm_errors, errors = errors, 0

    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def task(offset: int) -> None:
        index = offset
        while time.perf_counter() < deadline:
            took = await one(handles[index % len(handles)])
            if took is not None:
                latencies.append(took)
            index += 1

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(task(i * 7919) for i in range(concurrency)))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    latencies.sort()
    return {
        # CPU of this process (all threads: the SDK's Rust core too) over the measured window.
        "requests": len(latencies), "seconds": elapsed, "cpu_seconds": cpu, "errors": errors + warm_errors,
        "first_error": first_error, "warmup_sent": warmup - warm_errors,
        "p50_ms": percentile(latencies, 50) * 1000, "p99_ms": percentile(latencies, 99) * 1000,
    }


async def breakdown(job: dict[str, Any]) -> dict[str, Any]:
    """One call at a time, each Temporal call the gateway's signal path makes, timed alone."""
    client = await Client.connect(job["address"], namespace=job.get("namespace", "default"))
    targets = job["targets"]
    iterations = int(job["iterations"])
    timings: dict[str, list[float]] = {"metadata_query": [], "describe": [], "signal": [], "history_reverse": []}
    signals = 0
    for index in range(iterations):
        wid, rid = targets[index % len(targets)]
        handle = client.get_workflow_handle(wid, run_id=rid)

        async def signal(handle: Any = handle) -> None:
            await handle.signal("event_received", {"event_key": "bench", "payload": -1})

        async def history_reverse(wid: str = wid, rid: str = rid) -> None:
            await client.workflow_service.get_workflow_execution_history_reverse(
                GetWorkflowExecutionHistoryReverseRequest(
                    namespace=client.namespace, execution=WorkflowExecution(workflow_id=wid, run_id=rid),
                    maximum_page_size=16))

        async def metadata_query(handle: Any = handle) -> None:
            await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)

        # In the order the gateway makes them (a query waits behind a pending workflow task).
        calls = {"metadata_query": metadata_query, "describe": handle.describe, "signal": signal,
                 "history_reverse": history_reverse}
        for name, call in calls.items():
            began = time.perf_counter()
            await call()
            if index >= 3:  # the first few warm the connection
                timings[name].append(time.perf_counter() - began)
        signals += 1
    out: dict[str, Any] = {"signals_sent": signals}
    for name, values in timings.items():
        values.sort()
        out[name] = {"p50_ms": percentile(values, 50) * 1000, "p99_ms": percentile(values, 99) * 1000}
    return out


def main() -> int:
    job = json.loads(sys.stdin.read())
    action = breakdown if job.get("mode") == "breakdown" else run
    print(json.dumps(asyncio.run(action(job))), flush=True)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stderr.flush()
    # Skip interpreter finalization: the SDK's core threads can abort it
    # ("PyGILState_Release: thread state ... must be current") after the answer was printed.
    os._exit(code)
