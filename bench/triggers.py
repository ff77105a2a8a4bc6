"""Event triggers (seed 004): single-key send latency and the prefix-send rate, over HTTP.

Setup: `--single + --warmup` and `--prefix-count` OrderFulfillmentWorkflow runs are started
through `POST /api/v1/workflows/execute/OrderFulfillmentWorkflow` (`--start-concurrency` at a
time); each registers a trigger `order:<id>:paid`. The bench waits until every one of them is
`waiting` (a dry-run prefix send per set answers `would_resolve`).

(a) single key: `POST /v1/events/order:one<tag>-<i>:paid/send` one after the other (c=1),
    each key once; every answer must be 200 with status `received`. `GET /healthz` at c=1 on
    the same client is the floor (HTTP client + server overhead, nothing behind it). With the
    Temporal address known, the two Temporal calls a send makes (signal, then the newest
    history page the gateway reads as a receipt) are then timed alone with the SDK on the
    same runs (delivering `order:<id>:shipped`), to show how much of a send is Temporal's.
(b) prefix: one `POST /v1/events/prefix/order:pfx<tag>-/send`, timed end to end, with the
    CPU each local process used meanwhile; it must resolve all `--prefix-count` triggers.
    Afterwards every run must reach its next step (`order:<id>:shipped` waiting), which
    shows each workflow really received its event. Reference: the same runs then get
    `shipped` straight from the SDK, 64 in flight like the gateway's fan-out: half by signal
    only, half by signal + the receipt read the gateway adds.
(c) project-wide reads at c=1, `--project-reads` each: a list page (`GET /v1/events?limit=100`),
    stats (`GET /v1/events/stats`) and a purge dry run (`POST /v1/events/purge`): the
    operations that fan out over every trigger bucket on a Redis Cluster (`--redis cluster`).

    .venv/bin/python bench/triggers.py                      # throwaway local stack
    .venv/bin/python bench/triggers.py --single 50 --prefix-count 200
    .venv/bin/python bench/triggers.py --redis cluster     # the same on a local Redis Cluster
    .venv/bin/python bench/triggers.py --url http://127.0.0.1:8000 --token $TOKEN
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from _stack import BenchError, Stack, add_stack_args, percentile, stack_from_args, write_json
from rich.console import Console
from rich.table import Table
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryReverseRequest
from temporalio.client import Client

console = Console(width=None if sys.stdout.isatty() else 160)
EXECUTE = "/api/v1/workflows/execute/OrderFulfillmentWorkflow"
EVENTS = "/v1/events"
PREFIX_TARGET = 500.0  # triggers resolved per second by one prefix send


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--single", type=int, default=200, help="keys sent one by one (measured)")
    parser.add_argument("--warmup", type=int, default=10, help="single-key sends before the measured ones")
    parser.add_argument("--prefix-count", type=int, default=1000, help="waiting triggers one prefix send resolves")
    parser.add_argument("--project-reads", type=int, default=50, help="list pages, stats and purge dry runs timed")
    parser.add_argument("--start-concurrency", type=int, default=32, help="workflow starts in flight at once")
    parser.add_argument("--run-timeout", type=float, default=900,
                        help="the runs' own timeout_secs (they end by themselves after it)")
    parser.add_argument("--settle-timeout", type=float, default=120,
                        help="seconds to wait for triggers to be waiting (setup and check)")
    add_stack_args(parser)
    return parser.parse_args(argv)


@dataclass
class Runs:
    tag: str
    single_ids: list[str]
    prefix_ids: list[str]
    started: dict[str, tuple[str, str]] = field(default_factory=dict)  # order id -> (workflow_id, run_id)
    start_seconds: float = 0.0
    waiting_seconds: float = 0.0


async def start_runs(http: httpx.AsyncClient, order_ids: list[str], *, concurrency: int,
                     timeout_secs: float) -> dict[str, tuple[str, str]]:
    queue = list(reversed(order_ids))
    started: dict[str, tuple[str, str]] = {}

    async def worker() -> None:
        while queue:
            oid = queue.pop()
            vars = {"order_id": oid, "timeout_secs": timeout_secs}
            for attempt in range(3):
                answer = await http.post(EXECUTE, json={"vars": vars})
                if answer.status_code == 200:
                    break
                if answer.status_code != 503 or attempt == 2:
                    raise BenchError(f"starting order {oid}: {answer.status_code} {answer.text[:300]}")
                await asyncio.sleep(1)
            [run] = answer.json()
            started[oid] = (run["workflow_id"], run["run_id"])

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return started


async def waiting_count(http: httpx.AsyncClient, key_prefix: str) -> int:
    """How many triggers whose key starts with `key_prefix` wait (a dry-run prefix send)."""
    answer = await http.post(f"{EVENTS}/prefix/{key_prefix}/send", params={"dry_run": "true"}, json={})
    if answer.status_code != 200:
        raise BenchError(f"dry-run prefix send {key_prefix}: {answer.status_code} {answer.text[:300]}")
    return int(answer.json()["would_resolve"])


async def wait_waiting(http: httpx.AsyncClient, key_prefix: str, expected: int, *, within: float) -> float:
    """Seconds until `expected` triggers under `key_prefix` wait; raises after `within` seconds."""
    began = time.perf_counter()
    count = 0
    while time.perf_counter() - began < within:
        count = await waiting_count(http, key_prefix)
        if count >= expected:
            return time.perf_counter() - began
        await asyncio.sleep(1)  # each dry run reads every matching trigger: not too often
    raise BenchError(f"only {count} of {expected} triggers under {key_prefix!r} waiting after {within:.0f}s")


async def wait_stats(http: httpx.AsyncClient, expected: int, *, within: float) -> None:
    """Until the project has `expected` waiting triggers or more: cheap (counters), so polled
    first; the dry-run prefix sends then confirm that the bench's own triggers wait."""
    began = time.perf_counter()
    while time.perf_counter() - began < within:
        answer = await http.get(f"{EVENTS}/stats")
        if answer.status_code == 200 and answer.json()["waiting_count"] >= expected:
            return
        await asyncio.sleep(0.5)


async def setup(http: httpx.AsyncClient, args: argparse.Namespace) -> Runs:
    tag = secrets.token_hex(3)
    runs = Runs(tag=tag, single_ids=[f"one{tag}-{i}" for i in range(args.warmup + args.single)],
                prefix_ids=[f"pfx{tag}-{i}" for i in range(args.prefix_count)])
    began = time.perf_counter()
    runs.started = await start_runs(http, runs.single_ids + runs.prefix_ids, concurrency=args.start_concurrency,
                                    timeout_secs=args.run_timeout)
    runs.start_seconds = time.perf_counter() - began
    await wait_stats(http, len(runs.single_ids) + len(runs.prefix_ids), within=args.settle_timeout)
    await wait_waiting(http, f"order:one{tag}-", len(runs.single_ids), within=args.settle_timeout)
    await wait_waiting(http, f"order:pfx{tag}-", len(runs.prefix_ids), within=args.settle_timeout)
    runs.waiting_seconds = time.perf_counter() - began
    return runs


@dataclass
class Single:
    latencies_ms: list[float]
    healthz_ms: list[float]
    errors: int
    first_error: str | None


async def single_sends(http: httpx.AsyncClient, runs: Runs, warmup: int) -> Single:
    healthz: list[float] = []
    for _ in range(len(runs.single_ids)):
        began = time.perf_counter()
        answer = await http.get("/healthz")
        healthz.append((time.perf_counter() - began) * 1000)
        answer.raise_for_status()
    latencies: list[float] = []
    errors, first_error = 0, None
    for index, oid in enumerate(runs.single_ids):
        key = f"order:{oid}:paid"
        began = time.perf_counter()
        answer = await http.post(f"{EVENTS}/{key}/send", json={"amount": index, "currency": "EUR"})
        elapsed = (time.perf_counter() - began) * 1000
        ok = answer.status_code == 200 and answer.json().get("status") == "received"
        if not ok:
            errors += 1
            first_error = first_error or f"{key}: {answer.status_code} {answer.text[:200]}"
        if index >= warmup:
            latencies.append(elapsed)
    return Single(latencies_ms=latencies, healthz_ms=healthz[warmup:], errors=errors, first_error=first_error)


@dataclass
class Breakdown:
    """Temporal's part of one send, each call timed alone at c=1 with the SDK (no gateway)."""

    signal_ms: list[float]
    receipt_ms: list[float]


async def temporal_breakdown(stack: Stack, runs: Runs, order_ids: list[str]) -> Breakdown | None:
    """The two Temporal calls of a send, one after the other as the gateway makes them: the
    signal, then the newest-first history page the gateway reads for the signal's event id.
    The runs got `paid` through the gateway in (a); this delivers `shipped` straight to them
    (they settle that trigger themselves and complete), so Temporal and the worker do the
    same work after each signal as after a gateway send."""
    if not stack.temporal_address or not order_ids:
        return None
    client = await Client.connect(stack.temporal_address, namespace=stack.namespace)
    result = Breakdown(signal_ms=[], receipt_ms=[])
    for oid in order_ids:
        wid, rid = runs.started[oid]
        began = time.perf_counter()
        await client.get_workflow_handle(wid, run_id=rid).signal(
            "signalway_trigger", {"event_key": f"order:{oid}:shipped", "action": "received", "payload": {"n": 1}})
        middle = time.perf_counter()
        await client.workflow_service.get_workflow_execution_history_reverse(GetWorkflowExecutionHistoryReverseRequest(
            namespace=stack.namespace, execution=WorkflowExecution(workflow_id=wid, run_id=rid), maximum_page_size=16))
        result.signal_ms.append((middle - began) * 1000)
        result.receipt_ms.append((time.perf_counter() - middle) * 1000)
    return result


@dataclass
class Prefix:
    seconds: float
    resolved: int
    received: int  # triggers in the answer whose status is `received`
    status: int
    cpu: dict[str, float]
    advanced: int = 0  # runs whose next trigger (`:shipped`) waits afterwards
    advanced_seconds: float = 0.0
    first_error: str | None = None

    @property
    def rate(self) -> float:
        return self.resolved / self.seconds if self.seconds > 0 else 0.0


async def prefix_send(http: httpx.AsyncClient, stack: Stack, runs: Runs, *, within: float) -> Prefix:
    key_prefix = f"order:pfx{runs.tag}-"
    before = stack.cpu_seconds()
    began = time.perf_counter()
    answer = await http.post(f"{EVENTS}/prefix/{key_prefix}/send", json={"paid": True, "batch": runs.tag},
                             timeout=max(60.0, within))
    seconds = time.perf_counter() - began
    after = stack.cpu_seconds()
    body: dict[str, Any] = answer.json() if answer.status_code == 200 else {}
    triggers = body.get("triggers", [])
    result = Prefix(seconds=seconds, resolved=int(body.get("resolved", 0)), status=answer.status_code,
                    received=sum(1 for t in triggers if t.get("status") == "received"),
                    cpu={name: after[name] - before.get(name, 0.0) for name in after})
    if answer.status_code != 200:
        result.first_error = f"{answer.status_code} {answer.text[:300]}"
        return result
    # Every workflow that got its `paid` event goes on to wait for `shipped`: the prefix now
    # matches those (the `paid` ones no longer wait).
    deadline = began + seconds + within
    while time.perf_counter() < deadline:
        result.advanced = await waiting_count(http, key_prefix)
        if result.advanced >= len(runs.prefix_ids):
            break
        await asyncio.sleep(1)
    result.advanced_seconds = time.perf_counter() - began - seconds
    return result


@dataclass
class Direct:
    """Runs signalled straight to Temporal with the SDK: what Temporal does without the gateway."""

    label: str
    seconds: float
    count: int
    errors: int
    cpu: dict[str, float]

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0


async def direct_signals(stack: Stack, client: Client, runs: Runs, order_ids: list[str], *, receipt: bool,
                         concurrency: int = 64) -> Direct:
    """Deliver `order:<id>:shipped` to each run with the SDK, `concurrency` in flight (as the
    gateway's prefix send does), and with `receipt` also read the newest history page after
    each signal, as the gateway does. The runs settle their triggers themselves (an event
    that came another way) and complete."""
    gate = asyncio.Semaphore(concurrency)
    errors = 0

    async def one(oid: str) -> None:
        nonlocal errors
        wid, rid = runs.started[oid]
        async with gate:
            try:
                await client.get_workflow_handle(wid, run_id=rid).signal("signalway_trigger", {
                    "event_key": f"order:{oid}:shipped", "action": "received", "payload": {"carrier": "bench"}})
                if receipt:
                    await client.workflow_service.get_workflow_execution_history_reverse(
                        GetWorkflowExecutionHistoryReverseRequest(
                            namespace=stack.namespace, execution=WorkflowExecution(workflow_id=wid, run_id=rid),
                            maximum_page_size=16))
            except Exception:  # counted; the rate is what this reference is for
                errors += 1

    before = stack.cpu_seconds()
    began = time.perf_counter()
    await asyncio.gather(*(one(oid) for oid in order_ids))
    seconds = time.perf_counter() - began
    after = stack.cpu_seconds()
    label = "signal + newest-events page" if receipt else "signal only"
    return Direct(label=label, seconds=seconds, count=len(order_ids) - errors, errors=errors,
                  cpu={name: after[name] - before.get(name, 0.0) for name in after})


async def references(http: httpx.AsyncClient, stack: Stack, runs: Runs, *, within: float) -> list[Direct]:
    """Half of the prefix runs get `shipped` by signal only, then (once those runs have
    settled, so their work does not overlap) the other half by signal + receipt read."""
    if not stack.temporal_address:
        return []
    client = await Client.connect(stack.temporal_address, namespace=stack.namespace)
    first, second = runs.prefix_ids[0::2], runs.prefix_ids[1::2]
    out = [await direct_signals(stack, client, runs, first, receipt=False)]
    key_prefix = f"order:pfx{runs.tag}-"
    deadline = time.perf_counter() + within
    while time.perf_counter() < deadline:
        if await waiting_count(http, key_prefix) <= len(second):
            break
        await asyncio.sleep(1)
    out.append(await direct_signals(stack, client, runs, second, receipt=True))
    return out


async def terminate(http: httpx.AsyncClient, started: list[tuple[str, str]]) -> None:
    gate = asyncio.Semaphore(32)

    async def one(wid: str, rid: str) -> None:
        async with gate:
            await http.post(f"/api/v1/workflows/runs/{wid}/{rid}/actions/terminate")

    await asyncio.gather(*(one(w, r) for w, r in started), return_exceptions=True)


async def bench(stack: Stack, args: argparse.Namespace
                ) -> tuple[Runs, Single, Breakdown | None, Prefix, list[Direct], dict[str, list[float]]]:
    limits = httpx.Limits(max_connections=args.start_concurrency + 4, max_keepalive_connections=args.start_concurrency + 4)
    async with httpx.AsyncClient(base_url=stack.gateway_url, headers=stack.headers, timeout=30,
                                 limits=limits) as http:
        with console.status(f"starting {args.warmup + args.single + args.prefix_count:,} "
                            f"OrderFulfillmentWorkflow runs ({args.start_concurrency} at a time)…"):
            runs = await setup(http, args)
        try:
            with console.status(f"(a) {args.single} single-key sends at c=1…"):
                single = await single_sends(http, runs, args.warmup)
            with console.status("(a) the same Temporal calls alone, with the SDK…"):
                breakdown = await temporal_breakdown(stack, runs, runs.single_ids[args.warmup:args.warmup + 100])
            with console.status(f"(b) one prefix send over {args.prefix_count:,} waiting triggers…"):
                prefix = await prefix_send(http, stack, runs, within=args.settle_timeout)
            direct: list[Direct] = []
            if prefix.advanced == len(runs.prefix_ids):
                with console.status("(b) reference: the same runs signalled straight to Temporal…"):
                    direct = await references(http, stack, runs, within=args.settle_timeout)
            with console.status(f"(c) {args.project_reads} list pages, stats and purge dry runs…"):
                reads = await project_reads(http, args.project_reads)
        finally:
            if args.url:  # a throwaway stack goes away with its runs; a real one is cleaned up
                with console.status("terminating the bench runs…"):
                    await terminate(http, list(runs.started.values()))
    return runs, single, breakdown, prefix, direct, reads


PROJECT_READS = {
    "list page (100)": ("GET", "/v1/events", {"params": {"limit": 100}}),
    "stats": ("GET", "/v1/events/stats", {}),
    "purge dry run": ("POST", "/v1/events/purge", {"json": {"older_than_days": 0, "dry_run": True}}),
}


async def project_reads(http: httpx.AsyncClient, count: int) -> dict[str, list[float]]:
    """(c) each project-wide read `count` times at c=1; latencies in ms (a non-200 is a BenchError)."""
    out: dict[str, list[float]] = {}
    for name, (method, path, kwargs) in PROJECT_READS.items():
        times: list[float] = []
        for _ in range(count):
            began = time.perf_counter()
            response = await http.request(method, path, **kwargs)
            times.append((time.perf_counter() - began) * 1000)
            if response.status_code != 200:
                raise BenchError(f"{method} {path} answered {response.status_code}: {response.text[:200]}")
        out[name] = times
    return out


def mark(good: bool, text: str) -> str:
    return f"[green]{text}[/]" if good else f"[red]{text}[/]"


def cpu_line(what: str, cpu: dict[str, float], seconds: float, count: int) -> str:
    per = 1000 / max(count, 1)
    parts = ", ".join(f"{name} {used:.2f}s ({used * per:.2f} ms each)"
                      for name, used in sorted(cpu.items(), key=lambda kv: -kv[1]))
    return f"CPU during {what} ({seconds:.2f}s wall, 2 cores shared): {parts}"


def report(args: argparse.Namespace, runs: Runs, single: Single, breakdown: Breakdown | None,
           prefix: Prefix, direct: list[Direct], reads: dict[str, list[float]]) -> bool:
    total = len(runs.started)
    console.print(f"setup: {total:,} runs started in {runs.start_seconds:.1f}s "
                  f"({total / max(runs.start_seconds, 1e-9):.0f}/s at {args.start_concurrency} in flight); "
                  f"every `:paid` trigger waiting after {runs.waiting_seconds:.1f}s")
    table = Table(title="Event triggers through the gateway")
    for name in ("measure", "figure", "target", "ok"):
        table.add_column(name, justify="left" if name == "measure" else "right")
    n = len(single.latencies_ms)
    p50, p99 = percentile(single.latencies_ms, 50), percentile(single.latencies_ms, 99)
    h50, h99 = percentile(single.healthz_ms, 50), percentile(single.healthz_ms, 99)
    table.add_row(f"(a) GET /healthz c=1, p50 / p99 ms (floor, n={len(single.healthz_ms)})",
                  f"{h50:.2f} / {h99:.2f}", "—", "")
    table.add_row(f"(a) send one key c=1, p50 / p99 ms (n={n})", f"{p50:.2f} / {p99:.2f}", "—", "")
    table.add_row("(a) send one key c=1, keys/s", f"{1000 * n / max(sum(single.latencies_ms), 1e-9):,.0f}", "—", "")
    if breakdown is not None:
        s50, s99 = percentile(breakdown.signal_ms, 50), percentile(breakdown.signal_ms, 99)
        r50, r99 = percentile(breakdown.receipt_ms, 50), percentile(breakdown.receipt_ms, 99)
        table.add_row(f"(a)  of which Temporal signal RPC alone (SDK), p50 / p99 ms (n={len(breakdown.signal_ms)})",
                      f"{s50:.2f} / {s99:.2f}", "—", "")
        table.add_row("(a)  of which newest-events page (signal receipt), p50 / p99 ms",
                      f"{r50:.2f} / {r99:.2f}", "—", "")
    table.add_row("(a) answers not 200 `received`", str(single.errors), "0",
                  mark(single.errors == 0, "yes" if single.errors == 0 else "NO"))
    expected = len(runs.prefix_ids)
    rate_ok = prefix.rate >= PREFIX_TARGET
    table.add_row(f"(b) prefix send over {expected:,} triggers, seconds", f"{prefix.seconds:.2f}", "—", "")
    table.add_row("(b) triggers resolved per second", f"{prefix.rate:,.0f}", f"≥ {PREFIX_TARGET:,.0f}",
                  mark(rate_ok, "yes" if rate_ok else "NO"))
    resolved_ok = prefix.resolved == expected and prefix.received == expected
    table.add_row("(b) resolved / `received` in the answer", f"{prefix.resolved:,} / {prefix.received:,}",
                  f"{expected:,} / {expected:,}", mark(resolved_ok, "yes" if resolved_ok else "NO"))
    advanced_ok = prefix.advanced == expected
    table.add_row(f"(b) runs then waiting on `:shipped` (after {prefix.advanced_seconds:.1f}s)",
                  f"{prefix.advanced:,}", f"{expected:,}", mark(advanced_ok, "yes" if advanced_ok else "NO"))
    for ref in direct:
        table.add_row(f"(b) reference, SDK straight to Temporal, 64 in flight: {ref.label}, per second "
                      f"(n={ref.count:,}, {ref.errors} errors)", f"{ref.rate:,.0f}", "—", "")
    for name, times in reads.items():
        table.add_row(f"(c) {name} c=1, p50 / p99 ms (n={len(times)})",
                      f"{percentile(times, 50):.2f} / {percentile(times, 99):.2f}", "—", "")
    console.print(table)
    if prefix.cpu:
        console.print(cpu_line("the prefix send", prefix.cpu, prefix.seconds, prefix.resolved))
    for ref in direct:
        if ref.cpu:
            console.print(cpu_line(f"the SDK reference ({ref.label})", ref.cpu, ref.seconds, ref.count))
    if prefix.first_error:
        console.print(f"[red]prefix send failed: {prefix.first_error}[/]")
    if single.first_error:
        console.print(f"[red]first single-send error: {single.first_error}[/]")
    return single.errors == 0 and resolved_ok and advanced_ok


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.monotonic()
    try:
        with stack_from_args(args) as stack:
            runs, single, breakdown, prefix, direct, reads = asyncio.run(bench(stack, args))
            stack.check_alive()
    except BenchError as exc:
        console.print(f"[red]{exc}[/]")
        return 1
    valid = report(args, runs, single, breakdown, prefix, direct, reads)
    plain = next((ref for ref in direct if ref.label == "signal only"), None)
    with_receipt = next((ref for ref in direct if ref.label != "signal only"), None)
    write_json(args.json, {
        "valid": valid,
        "send_p50_ms": percentile(single.latencies_ms, 50), "send_p99_ms": percentile(single.latencies_ms, 99),
        "healthz_p50_ms": percentile(single.healthz_ms, 50),
        "prefix_triggers": prefix.resolved, "prefix_seconds": prefix.seconds, "prefix_per_s": prefix.rate,
        "sdk_prefix_per_s": plain.rate if plain else None,
        "sdk_prefix_with_receipt_per_s": with_receipt.rate if with_receipt else None,
        "redis": getattr(args, "redis", None),
        **{f"{key}_p50_ms": percentile(reads[name], 50)
           for key, name in (("list", "list page (100)"), ("stats", "stats"), ("purge_dry_run", "purge dry run"))},
    })
    console.print(("[green]valid run[/]" if valid else "[red]INVALID run: see above[/]")
                  + f"; total time {time.monotonic() - began:.0f}s")
    return 0 if valid else 1


if __name__ == "__main__":
    sys.exit(main())
