"""The durable API through the gateway under wrk, against a GET /healthz baseline of the same run.

Phases (each `--duration` seconds at `--connections`, after an untimed `--warmup`):
GET /healthz; GET /api/v1/durable/workflows/{id}; GET .../{id}/events; POST .../{id}/signal
(OrderFulfillmentWorkflow `event_received`, rotating over `--workflows` runs); POST create
(ApprovalWorkflow) last, since the worker's backlog of new runs slows what follows it.

    .venv/bin/python bench/durable.py                    # throwaway local stack
    .venv/bin/python bench/durable.py --duration 4 --connections 32
    .venv/bin/python bench/durable.py --url http://127.0.0.1:8000 --token $TOKEN
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from _stack import Stack, add_stack_args, create_durable, stack_from_args, write_json
from _wrk import LoadResult, WrkMissing, run_wrk, temp_dir, write_script, wrk_binary
from rich.console import Console
from rich.table import Table

console = Console(width=None if sys.stdout.isatty() else 160)
BASE = "/api/v1/durable/workflows"


@dataclass
class Phase:
    name: str
    method: str
    requests: list[tuple[str, str | None]]
    expected: int


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=8, help="seconds per phase")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--warmup", type=float, default=1, help="untimed seconds before each phase")
    parser.add_argument("--workflows", type=int, default=64,
                        help="runs the GET and signal phases rotate over (signals: ≤10,000 per run)")
    add_stack_args(parser)
    return parser.parse_args(argv)


async def prepare(stack: Stack, count: int) -> tuple[list[str], list[str]]:
    approvals = await create_durable(stack, "ApprovalWorkflow",
                                     [{"subject": f"bench read {i}"} for i in range(count)])
    orders = await create_durable(stack, "OrderFulfillmentWorkflow",
                                  [{"order_id": f"bench-{i}", "timeout_secs": 3600} for i in range(count)])
    return approvals, orders


def phases(approvals: list[str], orders: list[str]) -> list[Phase]:
    signal = '{"signal_type": "event_received", "payload": {"event_key": "bench", "payload": {n}}}'
    create = '{"workflow_type": "ApprovalWorkflow", "input": {"subject": "bench create {n}"}}'
    return [
        Phase("GET /healthz (baseline)", "GET", [("/healthz", None)], 200),
        Phase("GET /durable/workflows/{id}", "GET", [(f"{BASE}/{i}", None) for i in approvals], 200),
        Phase("GET /durable/workflows/{id}/events", "GET", [(f"{BASE}/{i}/events", None) for i in approvals], 200),
        Phase("POST /durable/workflows/{id}/signal", "POST", [(f"{BASE}/{i}/signal", signal) for i in orders], 202),
        # Last: a burst of new runs leaves the worker a backlog of first workflow tasks for
        # seconds, and the signal path's handler query waits behind it.
        Phase("POST /durable/workflows (create)", "POST", [(BASE, create)], 201),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        wrk_binary()
    except WrkMissing as exc:
        console.print(f"[red]{exc}[/]")
        return 2
    began = time.monotonic()
    results: list[tuple[Phase, LoadResult]] = []
    with stack_from_args(args) as stack, temp_dir() as tmp:
        with console.status(f"starting {args.workflows} ApprovalWorkflow and {args.workflows} "
                            "OrderFulfillmentWorkflow runs…"):
            approvals, orders = asyncio.run(prepare(stack, args.workflows))
        headers = {**stack.headers, "Content-Type": "application/json"}
        for index, phase in enumerate(phases(approvals, orders)):
            script = write_script(Path(tmp), f"phase{index}", method=phase.method, requests=phase.requests,
                                  headers=headers, expected=phase.expected)
            with console.status(f"{phase.name}: warm-up, then {args.duration:g}s at c={args.connections}…"):
                if args.warmup > 0:
                    run_wrk(phase.name, stack.gateway_url, script, connections=args.connections,
                            threads=args.threads, seconds=args.warmup)
                before, started = stack.cpu_seconds(), time.perf_counter()
                result = run_wrk(phase.name, stack.gateway_url, script, connections=args.connections,
                                 threads=args.threads, seconds=args.duration)
                result.wall, after = time.perf_counter() - started, stack.cpu_seconds()
                result.cpu = {name: after[name] - before.get(name, 0.0) for name in after}
            stack.check_alive()
            results.append((phase, result))
            if result.errors:
                console.print(f"[red]{phase.name}: {result.errors} errors; first: {result.first_error}[/]")

    baseline = results[0][1].rps or 1.0
    table = Table(title=f"Durable API through the gateway (c={args.connections}, {args.duration:g}s per phase)")
    with_cpu = any(r.cpu for _, r in results)
    names = ["phase", "expect", "requests", "req/s", "p50 ms", "p99 ms", "× /healthz", "errors"]
    if with_cpu:
        names += ["gateway %", "gateway ms/req", "temporal ms/req"]
    for name in names:
        table.add_column(name, justify="left" if name == "phase" else "right")
    for phase, r in results:
        row = [phase.name, str(phase.expected), f"{r.requests:,}", f"{r.rps:,.0f}", f"{r.p50_ms:.2f}",
               f"{r.p99_ms:.2f}", f"{r.rps / baseline:.3f}", str(r.errors) if r.errors == 0 else f"[red]{r.errors}[/]"]
        if with_cpu:
            per = 1000 / max(1, r.requests)
            row += [f"{100 * r.cpu.get('gateway', 0) / max(r.wall, 1e-9):.0f}",
                    f"{r.cpu.get('gateway', 0) * per:.2f}", f"{r.cpu.get('temporal', 0) * per:.2f}"]
        table.add_row(*row)
    console.print(table)
    if with_cpu:
        console.print("CPU: gateway % is of one core over the phase; ms/req is CPU time per request "
                      "(all on the same machine as wrk).")
    errors = sum(r.errors for _, r in results)
    write_json(args.json, {
        "valid": errors == 0,
        "phases": {phase.name: {"rps": r.rps, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms, "vs_healthz": r.rps / baseline,
                                "errors": r.errors,
                                "gateway_cpu_ms_per_req": 1000 * r.cpu.get("gateway", 0) / max(1, r.requests)}
                   for phase, r in results},
    })
    console.print(
        f"Errors (unexpected status, socket errors, timeouts): {errors} — "
        + ("[green]valid run[/]" if errors == 0 else "[red]INVALID run: see the errors above[/]")
        + f"; total time {time.monotonic() - began:.0f}s"
    )
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
