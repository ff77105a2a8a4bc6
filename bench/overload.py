"""Overload: a flood of signals at high concurrency, with and without admission control.

    python bench/overload.py [--signals 2000] [--concurrency 256] [--clients 4]

Starts a throwaway local stack twice: once with admission control effectively off (bounds
of 100,000 and a 60 s request timeout, as the gateway behaved before it had any) and once
with the defaults. Each time, `--clients` separate processes send `--signals` runs' signals
at `--concurrency` in all (httpx, one connection per concurrent request) to a few
ConversationWorkflow runs, and the bench prints latency p50/p99/max and the statuses, then
checks that every 2xx signal is in the run's history exactly once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import sys
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._stack import local_stack, percentile, write_json  # noqa: E402

NO_ADMISSION = {"SIGNALWAY_MAX_IN_FLIGHT": "100000", "SIGNALWAY_MAX_QUEUED": "100000",
                "SIGNALWAY_MAX_IN_FLIGHT_PER_PRINCIPAL": "100000", "SIGNALWAY_REQUEST_TIMEOUT": "60",
                "SIGNALWAY_RPC_TIMEOUT_SECONDS": "10", "SIGNALWAY_UPDATE_TIMEOUT_SECONDS": "30"}


def _client(url: str, token: str, runs: list[tuple[str, str]], first: int, count: int, concurrency: int,
            out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    async def main() -> list[tuple[str, int, float]]:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        results: list[tuple[str, int, float]] = []
        gate = asyncio.Semaphore(concurrency)
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120,
                                     limits=limits) as http:
            async def send(i: int) -> None:
                workflow_id, run_id = runs[i % len(runs)]
                async with gate:
                    started = time.perf_counter()
                    try:
                        response = await http.post(
                            f"/api/v1/workflows/runs/{workflow_id}/{run_id}/signal/UserInput",
                            json={"message": f"s{i}"}, headers={"Prefer": "return=minimal"})
                        status = response.status_code
                    except httpx.HTTPError:
                        status = 0
                    results.append((f"s{i}", status, time.perf_counter() - started))

            await asyncio.gather(*[send(i) for i in range(first, first + count)])
        return results

    out.put(asyncio.run(main()))


async def _recorded(temporal_address: str, workflow_ids: list[str]) -> Counter[str]:
    """How many times each signal message is in the runs' histories."""
    from temporalio.api.enums.v1 import EventType
    from temporalio.client import Client

    client = await Client.connect(temporal_address)
    found: Counter[str] = Counter()
    for workflow_id in workflow_ids:
        async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
                payloads = event.workflow_execution_signaled_event_attributes.input.payloads
                if payloads:
                    found[json.loads(payloads[0].data).get("message", "")] += 1
    return found


def _gateway_latency(url: str) -> dict[str, float]:
    """The gateway's own latency histogram of the signal route (from reading the request to the answer)."""
    found: dict[str, float] = {}
    for line in httpx.get(url + "/metrics").text.splitlines():
        if line.startswith("signalway_http_request_duration_seconds_bucket") and "signal/{signal_name}" in line:
            found[line.split('le="', 1)[1].split('"', 1)[0]] = float(line.rsplit(" ", 1)[1])
    return found


def flood(label: str, args: argparse.Namespace, env: dict[str, str]) -> dict[str, object]:
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        with local_stack(log=False) as stack:
            runs = []
            with httpx.Client(base_url=stack.gateway_url, headers=stack.headers, timeout=30) as http:
                for _ in range(8):
                    [started] = http.post("/api/v1/workflows/execute/ConversationWorkflow", json={"vars": {}}).json()
                    runs.append((started["workflow_id"], started["run_id"]))
                    http.post(f"/api/v1/workflows/runs/{started['workflow_id']}/{started['run_id']}/signal/UserInput",
                              json={"message": "warm-up"}).raise_for_status()
            queue: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
            per_client = args.signals // args.clients
            clients = [multiprocessing.Process(target=_client, args=(
                stack.gateway_url, stack.token, runs, c * per_client, per_client, args.concurrency // args.clients,
                queue)) for c in range(args.clients)]
            wall = time.perf_counter()
            for process in clients:
                process.start()
            results = [item for _ in clients for item in queue.get()]
            for process in clients:
                process.join()
            wall = time.perf_counter() - wall
            statuses = Counter(status for _, status, _ in results)
            latencies = sorted(seconds for _, _, seconds in results)
            server = _gateway_latency(stack.gateway_url)
            recorded = asyncio.run(_recorded(stack.temporal_address or "", [w for w, _ in runs]))
            accepted = [message for message, status, _ in results if 200 <= status < 300]
            lost = [m for m in accepted if recorded[m] != 1]
            figures: dict[str, object] = {
                "signals": len(results), "seconds": wall, "p50_ms": percentile(latencies, 50) * 1000,
                "p99_ms": percentile(latencies, 99) * 1000, "max_ms": latencies[-1] * 1000,
                "statuses": {str(k): v for k, v in sorted(statuses.items())},
                "accepted": len(accepted), "accepted_recorded_once": len(accepted) - len(lost),
                "gateway_answers_within_s": {le: server.get(le, 0) for le in ("0.25", "1.0", "2.5", "+Inf")},
            }
            print(f"{label:>22}: {len(results)} signals in {wall:.1f}s, p50 {percentile(latencies, 50) * 1000:.0f} ms, "
                  f"p99 {percentile(latencies, 99) * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms, "
                  f"statuses {dict(sorted(statuses.items()))}; 2xx recorded exactly once: "
                  f"{len(accepted) - len(lost)}/{len(accepted)}; gateway-side answers within 0.25/1/2.5 s: "
                  f"{server.get('0.25', 0):.0f}/{server.get('1.0', 0):.0f}/{server.get('2.5', 0):.0f} "
                  f"of {server.get('+Inf', 0):.0f}")
            return figures
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--signals", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--clients", type=int, default=4, help="client processes sharing the concurrency")
    parser.add_argument("--env", action="append", default=[], help="also run with NAME=VALUE set (repeatable)")
    parser.add_argument("--json", metavar="PATH", default=None, help="also write the figures to PATH as JSON")
    args = parser.parse_args()
    runs = {"no admission control": flood("no admission control", args, NO_ADMISSION),
            "defaults": flood("defaults", args, {})}
    for extra in args.env:
        name, _, value = extra.partition("=")
        runs[extra] = flood(extra, args, {name: value})
    # Invalid: a 2xx signal missing from the history or recorded twice, or (with admission
    # control on) an answer other than 2xx / 429 / 503.
    valid = all(f["accepted"] == f["accepted_recorded_once"] for f in runs.values())
    for label, figures in runs.items():
        if label != "no admission control":
            statuses = figures["statuses"]
            assert isinstance(statuses, dict)
            valid &= all(code.startswith("2") or code in ("429", "503") for code in statuses)
    print("valid run" if valid else "INVALID run: a 2xx signal not recorded exactly once, or an unexpected status")
    write_json(args.json, {"valid": valid, "runs": runs})
    return 0 if valid else 1


if __name__ == "__main__":
    sys.exit(main())
