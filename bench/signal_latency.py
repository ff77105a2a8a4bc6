"""Signal throughput and latency: the gateway against Temporal's own HTTP API and the Python SDK.

All three clients signal `event_received` ({"event_key": "bench", "payload": n}) to the same
OrderFulfillmentWorkflow runs, at concurrency 1 and 64, interleaved (A B C, A B C, ...) since
the machine is noisy; the best of each client's rounds is reported. The HTTP clients are
driven by wrk, the SDK by a separate Python process.

    .venv/bin/python bench/signal_latency.py                       # throwaway local stack
    .venv/bin/python bench/signal_latency.py --gateway-route durable
    .venv/bin/python bench/signal_latency.py --url http://127.0.0.1:8000 --token $TOKEN \\
        --temporal 127.0.0.1:7233 --temporal-http http://127.0.0.1:7243
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from _stack import Stack, add_stack_args, create_durable, stack_from_args, write_json
from _wrk import LoadResult, WrkMissing, run_wrk, temp_dir, write_script, wrk_binary
from rich.console import Console
from rich.table import Table
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus

HERE = Path(__file__).resolve().parent
T = TypeVar("T")
console = Console(width=None if sys.stdout.isatty() else 160)

GATEWAY, HTTP_API, SDK = "gateway", "http-api", "sdk"
TARGET_VS_HTTP = 0.8
TARGET_VS_SDK = 0.95
TARGET_ADDED_P50_MS = 1.0
# With receipts the gateway makes two Temporal calls per signal (the signal, a history read).
TARGET_VS_HTTP_RECEIPT = 0.6


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gateway-route", choices=("runs", "durable"), default="runs",
                        help="runs: POST /api/v1/workflows/runs/{wid}/{rid}/signal/{name} (200); "
                             "durable: POST /api/v1/durable/workflows/{id}/signal (202)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--minimal", action="store_true",
                      help="gateway requests send `Prefer: return=minimal` (the default answer, said explicitly)")
    mode.add_argument("--representation", action="store_true",
                      help="gateway requests send `Prefer: return=representation`: a delivery receipt (event_id) "
                           "with each answer, one more Temporal read per signal")
    parser.add_argument("--workflows", type=int, default=128, help="runs to spread the signals over")
    parser.add_argument("--duration", type=float, default=6, help="seconds per measured run")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds per client and concurrency")
    parser.add_argument("--concurrency", default="1,64", help="comma-separated concurrencies")
    parser.add_argument("--clients", default=f"{GATEWAY},{HTTP_API},{SDK}",
                        help="comma-separated subset of gateway,http-api,sdk")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of untimed warm-up per HTTP client")
    parser.add_argument("--no-breakdown", dest="breakdown", action="store_false",
                        help="skip timing the signal path's Temporal calls one at a time")
    parser.add_argument("--breakdown-iterations", type=int, default=150, help=argparse.SUPPRESS)
    add_stack_args(parser)
    return parser.parse_args(argv)


def mode_of(args: argparse.Namespace) -> str:
    return "representation" if args.representation else "minimal" if args.minimal else "default"


def prefer_header(args: argparse.Namespace) -> dict[str, str]:
    mode = mode_of(args)
    return {} if mode == "default" else {"Prefer": f"return={mode}"}


def label(client: str, route: str) -> str:
    return {GATEWAY: f"gateway ({route})", HTTP_API: "Temporal HTTP API", SDK: "Python SDK"}[client]


# -- the three clients ---------------------------------------------------------------------


def gateway_requests(route: str, targets: list[tuple[str, str]]) -> tuple[list[tuple[str, str | None]], int]:
    if route == "runs":
        body = '{"event_key": "bench", "payload": {n}}'
        return [(f"/api/v1/workflows/runs/{wid}/{rid}/signal/event_received", body) for wid, rid in targets], 200
    body = '{"signal_type": "event_received", "payload": {"event_key": "bench", "payload": {n}}}'
    return [(f"/api/v1/durable/workflows/{wid}/signal", body) for wid, _ in targets], 202


def http_api_requests(namespace: str, targets: list[tuple[str, str]]) -> list[tuple[str, str | None]]:
    # grpc-gateway route of SignalWorkflowExecution (temporal/api workflowservice/v1/service.proto):
    # POST /api/v1/namespaces/{namespace}/workflows/{workflow_execution.workflow_id}/signal/{signal_name},
    # body "*": the request message as JSON; `input` takes plain JSON values as payloads.
    return [
        (f"/api/v1/namespaces/{namespace}/workflows/{wid}/signal/event_received",
         '{"workflowExecution": {"runId": "' + rid + '"}, "input": [{"event_key": "bench", "payload": {n}}]}')
        for wid, rid in targets
    ]


def run_sdk(stack: Stack, targets: list[tuple[str, str]], *, concurrency: int, seconds: float,
            warmup: int) -> tuple[LoadResult, int]:
    job = {"address": stack.temporal_address, "namespace": stack.namespace, "targets": targets,
           "concurrency": concurrency, "seconds": seconds, "warmup": warmup}
    proc = subprocess.run([sys.executable, str(HERE / "_sdk_load.py")], input=json.dumps(job),
                          capture_output=True, text=True, timeout=seconds + 120)
    if proc.returncode != 0:
        raise RuntimeError(f"the SDK load process failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    result = LoadResult(client=SDK, concurrency=concurrency, requests=data["requests"], seconds=data["seconds"],
                        p50_ms=data["p50_ms"], p99_ms=data["p99_ms"], errors=data["errors"],
                        first_error=data["first_error"])
    result.cpu["sdk client"] = float(data.get("cpu_seconds", 0.0))
    return result, int(data["warmup_sent"])


def measured(stack: Stack, run: Callable[[], T]) -> T:
    """Run a load; its LoadResult (first of a tuple, or itself) gets the CPU each process used."""
    before, began = stack.cpu_seconds(), time.perf_counter()
    out = run()
    wall, after = time.perf_counter() - began, stack.cpu_seconds()
    result = out[0] if isinstance(out, tuple) else out
    assert isinstance(result, LoadResult)
    result.wall = wall
    result.cpu = {**result.cpu, **{name: after[name] - before.get(name, 0.0) for name in after}}
    return out


def run_breakdown(stack: Stack, targets: list[tuple[str, str]], iterations: int) -> dict[str, Any]:
    job = {"mode": "breakdown", "address": stack.temporal_address, "namespace": stack.namespace,
           "targets": targets, "iterations": iterations}
    proc = subprocess.run([sys.executable, str(HERE / "_sdk_load.py")], input=json.dumps(job),
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"the breakdown process failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    data: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return data


# -- setup and verification ---------------------------------------------------------------


async def start_runs(stack: Stack, count: int) -> list[tuple[str, str]]:
    inputs: list[dict[str, object]] = [
        {"order_id": f"bench-{i}", "timeout_secs": 3600} for i in range(count)
    ]
    ids = await create_durable(stack, "OrderFulfillmentWorkflow", inputs)
    client = await Client.connect(stack.temporal_address or "", namespace=stack.namespace)
    descs = await asyncio.gather(*(client.get_workflow_handle(wid).describe() for wid in ids))
    return [(d.id, d.run_id) for d in descs]


async def count_signals(stack: Stack, targets: list[tuple[str, str]]) -> tuple[int, int]:
    """Signal events recorded over all runs, and how many runs are still running."""
    client = await Client.connect(stack.temporal_address or "", namespace=stack.namespace)
    gate = asyncio.Semaphore(16)

    async def one(wid: str, rid: str) -> tuple[int, bool]:
        async with gate:
            handle = client.get_workflow_handle(wid, run_id=rid)
            signals = 0
            async for event in handle.fetch_history_events(page_size=1000):
                if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
                    signals += 1
            running = (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
            return signals, running

    counts = await asyncio.gather(*(one(wid, rid) for wid, rid in targets))
    return sum(c for c, _ in counts), sum(1 for _, r in counts if r)


async def terminate_runs(stack: Stack, targets: list[tuple[str, str]]) -> None:
    client = await Client.connect(stack.temporal_address or "", namespace=stack.namespace)
    await asyncio.gather(*(client.get_workflow_handle(w, run_id=r).terminate(reason="benchmark done")
                           for w, r in targets), return_exceptions=True)


# -- report --------------------------------------------------------------------------------


def best(results: list[LoadResult], client: str, concurrency: int) -> LoadResult | None:
    mine = [r for r in results if r.client == client and r.concurrency == concurrency]
    return max(mine, key=lambda r: r.rps) if mine else None


def report(results: list[LoadResult], clients: list[str], concurrencies: list[int], route: str,
           mode: str = "default") -> bool:
    table = Table(title="Signal throughput and latency (per cell: the round with the most requests/s)")
    table.add_column("client")
    for c in concurrencies:
        table.add_column(f"c={c} req/s", justify="right")
        table.add_column(f"c={c} p50 ms", justify="right")
        table.add_column(f"c={c} p99 ms", justify="right")
    table.add_column("errors", justify="right")
    for client in clients:
        row = [label(client, route)]
        errors = sum(r.errors for r in results if r.client == client)
        for c in concurrencies:
            r = best(results, client, c)
            row += [f"{r.rps:,.0f}", f"{r.p50_ms:.2f}", f"{r.p99_ms:.2f}"] if r else ["-", "-", "-"]
        row.append(str(errors) if errors == 0 else f"[red]{errors}[/]")
        table.add_row(*row)
    console.print(table)

    ok = True
    if GATEWAY not in clients:
        return ok
    ratios = Table(title="Gateway against the direct clients")
    ratios.add_column("measure")
    for c in concurrencies:
        ratios.add_column(f"c={c}", justify="right")
    ratios.add_column("target", justify="right")

    def mark(value: float, good: bool, text: str) -> str:
        return f"[green]{text}[/]" if good else f"[red]{text}[/]"

    # With receipts the gateway does twice Temporal's work per signal: only the HTTP API ratio
    # has a target then (the SDK's and the latency targets are for the plain signal).
    receipts = mode == "representation"
    targets = ((HTTP_API, "HTTP API", TARGET_VS_HTTP_RECEIPT if receipts else TARGET_VS_HTTP),
               (SDK, "SDK", None if receipts else TARGET_VS_SDK))
    for other, name, target in targets:
        if other not in clients:
            continue
        cells = []
        for c in concurrencies:
            g, o = best(results, GATEWAY, c), best(results, other, c)
            if not g or not o or o.rps == 0:
                cells.append("-")
                continue
            ratio = g.rps / o.rps
            if target is None:
                cells.append(f"{ratio:.2f}×")
                continue
            ok &= ratio >= target
            cells.append(mark(ratio, ratio >= target, f"{ratio:.2f}×"))
        ratios.add_row(f"throughput gateway / {name}", *cells, f"≥ {target:.2f}×" if target is not None else "-")
    for other, name in ((SDK, "SDK"), (HTTP_API, "HTTP API")):
        if other not in clients:
            continue
        cells = []
        for c in concurrencies:
            g, o = best(results, GATEWAY, c), best(results, other, c)
            if not g or not o:
                cells.append("-")
                continue
            added = g.p50_ms - o.p50_ms
            if receipts or c != 1:  # the latency target is for one signal at a time
                cells.append(f"{added:+.2f} ms")
                continue
            ok &= added <= TARGET_ADDED_P50_MS
            cells.append(mark(added, added <= TARGET_ADDED_P50_MS, f"{added:+.2f} ms"))
        ratios.add_row(f"added p50: gateway − {name}", *cells,
                       "-" if receipts else f"≤ {TARGET_ADDED_P50_MS:g} ms at c=1")
    console.print(ratios)
    return ok


def report_runs(results: list[LoadResult], route: str) -> None:
    with_cpu = any(r.cpu for r in results)
    table = Table(title="Every measured run, in the order run"
                  + (" (CPU: % of one core over the run, and CPU ms per request)" if with_cpu else ""))
    names = ["#", "client", "c", "requests", "seconds", "req/s", "p50 ms", "p99 ms", "errors"]
    if with_cpu:
        names += ["gateway %", "gateway ms/req", "temporal ms/req", "worker ms/req", "SDK client ms/req"]
    for name in names:
        table.add_column(name, justify="left" if name == "client" else "right")
    for i, r in enumerate(results, 1):
        row = [str(i), label(r.client, route), str(r.concurrency), str(r.requests), f"{r.seconds:.1f}",
               f"{r.rps:,.0f}", f"{r.p50_ms:.2f}", f"{r.p99_ms:.2f}", str(r.errors)]
        if with_cpu:
            per = 1000 / max(1, r.requests)
            row += [f"{100 * r.cpu.get('gateway', 0) / max(r.wall, 1e-9):.0f}",
                    f"{r.cpu.get('gateway', 0) * per:.2f}", f"{r.cpu.get('temporal', 0) * per:.2f}",
                    f"{r.cpu.get('worker', 0) * per:.2f}",
                    f"{r.cpu['sdk client'] * per:.2f}" if "sdk client" in r.cpu else "-"]
        table.add_row(*row)
    console.print(table)


def report_breakdown(parts: dict[str, Any], healthz: LoadResult | None, gateway: LoadResult | None,
                     route: str, mode: str = "default") -> None:
    """Where a c=1 gateway signal's time goes, from each Temporal call timed alone."""
    table = Table(title="Signal path at c=1: each Temporal call timed alone (SDK, one at a time)")
    table.add_column("call")
    table.add_column("p50 ms", justify="right")
    table.add_column("p99 ms", justify="right")
    table.add_column("the gateway's signal path", justify="left")
    receipt = ("history_reverse",) if mode == "representation" else ()
    per_request = {"runs": ("signal", *receipt), "durable": ("describe", "signal", *receipt)}
    notes = {
        "signal": "every request",
        "history_reverse": ("every request (event_id of the receipt: reverse history, page 16)" if receipt
                            else "only with Prefer: return=representation (the receipt)"),
        "describe": "every request" if route == "durable" else "once per run (facts cached 300 s)",
        "metadata_query": "once per run per 300 s (handler cache), a worker round trip",
    }
    for name in ("signal", "describe", "history_reverse", "metadata_query"):
        table.add_row(name, f"{parts[name]['p50_ms']:.2f}", f"{parts[name]['p99_ms']:.2f}", notes[name])
    calls = sum(parts[name]["p50_ms"] for name in per_request[route])
    table.add_row(f"sum of per-request calls ({route})", f"{calls:.2f}", "", " + ".join(per_request[route]))
    if healthz is not None:
        table.add_row("gateway GET /healthz (c=1)", f"{healthz.p50_ms:.2f}", f"{healthz.p99_ms:.2f}",
                      "HTTP + middleware floor")
    if gateway is not None:
        table.add_row(f"gateway signal ({route}, c=1, measured)", f"{gateway.p50_ms:.2f}", f"{gateway.p99_ms:.2f}",
                      f"rest ≈ {gateway.p50_ms - calls:.2f} ms: HTTP, auth, validation, Python, CPU contention")
    console.print(table)


def figures(args: argparse.Namespace, results: list[LoadResult], concurrencies: list[int], met: bool, valid: bool,
            answered: int, recorded: int) -> dict[str, Any]:
    """What `--json PATH` writes: per concurrency, each client's best round (req/s, p50, p99) and
    the gateway's CPU per signal, over all its measured rounds."""
    out: dict[str, Any] = {"mode": mode_of(args), "route": args.gateway_route, "gateway_workers": args.gateway_workers,
                           "valid": valid, "targets_met": met, "signals_answered": answered,
                           "signals_recorded": recorded}
    gateway_runs = [r for r in results if r.client == GATEWAY and r.cpu]
    for c in concurrencies:
        cell: dict[str, Any] = {}
        for client, key in ((GATEWAY, "gateway"), (HTTP_API, "http_api"), (SDK, "sdk")):
            r = best(results, client, c)
            cell[f"{key}_rps"] = r.rps if r else None
            cell[f"{key}_p50_ms"] = r.p50_ms if r else None
            cell[f"{key}_p99_ms"] = r.p99_ms if r else None
        mine = [r for r in gateway_runs if r.concurrency == c]
        cell["gateway_cpu_ms_per_signal"] = (1000 * sum(r.cpu.get("gateway", 0) for r in mine)
                                             / max(1, sum(r.requests for r in mine))) if mine else None
        # The floor of any Python process signalling through the SDK: its own CPU per signal.
        sdk_runs = [r for r in results if r.client == SDK and r.concurrency == c and "sdk client" in r.cpu]
        cell["sdk_client_cpu_ms_per_signal"] = (1000 * sum(r.cpu["sdk client"] for r in sdk_runs)
                                                / max(1, sum(r.requests for r in sdk_runs))) if sdk_runs else None
        g, h, k = cell["gateway_rps"], cell["http_api_rps"], cell["sdk_rps"]
        cell["gateway_vs_http_api"] = g / h if g and h else None
        cell["gateway_vs_sdk"] = g / k if g and k else None
        gp, kp = cell["gateway_p50_ms"], cell["sdk_p50_ms"]
        cell["added_p50_vs_sdk_ms"] = gp - kp if gp is not None and kp is not None else None
        out[f"c{c}"] = cell
    out["gateway_cpu_ms_per_signal"] = (1000 * sum(r.cpu.get("gateway", 0) for r in gateway_runs)
                                        / max(1, sum(r.requests for r in gateway_runs))) if gateway_runs else None
    return out


# -- main ----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    concurrencies = [int(c) for c in args.concurrency.split(",") if c.strip()]
    clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    unknown = set(clients) - {GATEWAY, HTTP_API, SDK}
    if unknown:
        console.print(f"[red]unknown clients: {', '.join(sorted(unknown))}[/]")
        return 2
    try:
        wrk_binary()
    except WrkMissing as exc:
        console.print(f"[yellow]{exc}[/]\n[yellow]Falling back to the SDK client alone: no gateway figures.[/]")
        clients = [SDK] if SDK in clients else []
        if not clients:
            return 2
    if args.url and not args.temporal:
        console.print("[red]with --url, pass --temporal host:port (run ids and the SDK client need it)[/]")
        return 2

    began = time.monotonic()
    with stack_from_args(args) as stack, temp_dir() as tmp:
        if HTTP_API in clients and not stack.temporal_http_url:
            console.print("[yellow]no --temporal-http: the Temporal HTTP API client is skipped[/]")
            clients.remove(HTTP_API)
        with console.status(f"starting {args.workflows} OrderFulfillmentWorkflow runs through the gateway…"):
            targets = asyncio.run(start_runs(stack, args.workflows))
        console.print(f"{len(targets)} runs started ({time.monotonic() - began:.1f}s so far)")

        scripts: dict[str, tuple[str, Path]] = {}
        if GATEWAY in clients:
            requests, expected = gateway_requests(args.gateway_route, targets)
            scripts[GATEWAY] = (stack.gateway_url, write_script(
                Path(tmp), "gateway", method="POST", requests=requests, expected=expected,
                headers={**stack.headers, "Content-Type": "application/json", **prefer_header(args)}))
        if HTTP_API in clients:
            assert stack.temporal_http_url
            scripts[HTTP_API] = (stack.temporal_http_url, write_script(
                Path(tmp), "http_api", method="POST", requests=http_api_requests(stack.namespace, targets),
                expected=200, headers={"Content-Type": "application/json"}))

        sent_untimed = 0  # warm-up signals, counted for the delivery check
        in_flight_slack = 0  # wrk does not count requests still in flight when it stops
        warm: list[LoadResult] = []
        with console.status("warming up (caches, connections)…"):
            for client, (url, script) in scripts.items():
                r = run_wrk(client, url, script, connections=16, seconds=args.warmup)
                warm.append(r)
                sent_untimed += r.accepted
                in_flight_slack += 16
        for r in warm:
            if r.errors:
                console.print(f"[red]warm-up of {label(r.client, args.gateway_route)}: {r.errors} errors, "
                              f"first: {r.first_error}[/]")

        results: list[LoadResult] = []
        total = args.rounds * len(concurrencies) * len(clients)
        done = 0
        for _round in range(args.rounds):
            for c in concurrencies:
                for client in clients:
                    done += 1
                    with console.status(f"[{done}/{total}] {label(client, args.gateway_route)} at c={c} "
                                        f"for {args.duration:g}s…"):
                        if client == SDK:
                            r, warm_sent = measured(stack, partial(
                                run_sdk, stack, targets, concurrency=c, seconds=args.duration,
                                warmup=min(32, len(targets))))
                            sent_untimed += warm_sent
                        else:
                            url, script = scripts[client]
                            r = measured(stack, partial(run_wrk, client, url, script, connections=c,
                                                        seconds=args.duration))
                            in_flight_slack += c
                    results.append(r)
                    stack.check_alive()
                    if r.errors:
                        console.print(f"[red]{label(client, args.gateway_route)} c={c}: {r.errors} errors; "
                                      f"first: {r.first_error}[/]")

        parts: dict[str, Any] | None = None
        healthz: LoadResult | None = None
        if args.breakdown and stack.temporal_address:
            with console.status("timing the signal path's Temporal calls one at a time…"):
                parts = run_breakdown(stack, targets, args.breakdown_iterations)
                sent_untimed += int(parts["signals_sent"])
                if GATEWAY in clients:
                    script = write_script(Path(tmp), "healthz", method="GET", requests=[("/healthz", None)],
                                          headers={}, expected=200)
                    healthz = run_wrk("healthz", stack.gateway_url, script, connections=1, seconds=2)

        with console.status("counting signal events in every run's history…"):
            recorded, running = asyncio.run(count_signals(stack, targets))
        if args.url:
            asyncio.run(terminate_runs(stack, targets))

    console.print()
    report_runs(results, args.gateway_route)
    met = report(results, clients, concurrencies, args.gateway_route, mode_of(args))
    if parts is not None:
        report_breakdown(parts, healthz, best(results, GATEWAY, 1), args.gateway_route, mode_of(args))

    answered = sum(r.accepted for r in results) + sent_untimed
    errors = sum(r.errors for r in results) + sum(r.errors for r in warm)
    delivered_ok = answered <= recorded <= answered + in_flight_slack
    console.print(
        f"\nDelivery check: {answered:,} signals answered as accepted (incl. {sent_untimed:,} warm-up), "
        f"{recorded:,} WORKFLOW_EXECUTION_SIGNALED events recorded over {len(targets)} runs "
        f"(up to {in_flight_slack} more may be requests wrk stopped waiting for); "
        f"{running}/{len(targets)} runs still running. "
        + ("[green]OK[/]" if delivered_ok and running == len(targets) else "[red]MISMATCH[/]")
    )
    valid = errors == 0 and delivered_ok and running == len(targets)
    write_json(args.json, figures(args, results, concurrencies, met, valid, answered, recorded))
    console.print(
        f"Errors (non-expected status, socket errors, timeouts, SDK exceptions): {errors} — "
        + ("[green]valid run[/]" if valid else "[red]INVALID run: see the errors above[/]")
    )
    console.print(f"Targets {'[green]met[/]' if met else '[red]not met[/]'}; "
                  f"total time {time.monotonic() - began:.0f}s")
    return 0 if valid else 1


if __name__ == "__main__":
    sys.exit(main())
