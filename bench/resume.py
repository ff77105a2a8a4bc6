"""Resume URLs (seed 003): from `POST <resume_workflow_url>` to the signal in Temporal's history.

Setup: a webhook receiver (Starlette + uvicorn in this process, checking the Standard Webhooks
signature when it knows the secret) collects the `resume_workflow_url` of `--runs + --burst`
ApprovalWorkflow runs started through `POST /api/v1/workflows/execute/ApprovalWorkflow` with
`webhook_url` pointing at it.

Then each URL is resumed once with `{"variables": {"user_response": "approved"}}`:
- c=1 over `--runs` URLs: the HTTP answer (200), the signal's own timestamp in the history
  ("recorded in Temporal", the event's `event_time` minus the moment the POST was sent; one
  machine, one clock) and, with the Temporal address known, when a client long-polling the
  run's history (`wait_new_event`) sees the `signalway_resume` signal;
- c=`--concurrency` over `--burst` URLs: resumes per second, HTTP answer and recorded times.
Afterwards every run must hold exactly one `signalway_resume` signal and complete approved.

A throwaway local stack gets a resume secret, a webhook secret and a resume rate limit far
above the bench's rate; its resume URLs are built on the default public URL, so the bench
sends them to the stack's gateway (same path). With `--url`, the worker needs
SIGNALWAY_RESUME_SECRET and SIGNALWAY_WEBHOOK_SECRET, the gateway a high
SIGNALWAY_RESUME_RATE_LIMIT_PER_MINUTE, and `--temporal` gives the recorded times.

    .venv/bin/python bench/resume.py                       # throwaway local stack
    .venv/bin/python bench/resume.py --runs 50 --burst 50
    .venv/bin/python bench/resume.py --url http://127.0.0.1:8000 --token $TOKEN --temporal 127.0.0.1:7233
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import secrets
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from urllib.parse import urlsplit

import httpx
from _stack import (
    BenchError,
    Stack,
    add_stack_args,
    free_port,
    percentile,
    serve_webhook_receiver,
    stack_from_args,
    write_json,
)
from rich.console import Console
from rich.table import Table
from standardwebhooks import Webhook
from starlette.requests import Request
from starlette.responses import Response
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest
from temporalio.client import Client

console = Console(width=None if sys.stdout.isatty() else 160)
EXECUTE = "/api/v1/workflows/execute/ApprovalWorkflow"
RUNS = "/api/v1/workflows/runs"
RESUME_SIGNAL = "signalway_resume"
BODY = {"variables": {"user_response": "approved"}}
SIGNALED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200, help="URLs resumed one after the other (c=1)")
    parser.add_argument("--burst", type=int, default=200, help="URLs resumed at --concurrency")
    parser.add_argument("--concurrency", type=int, default=16, help="resumes in flight in the burst")
    parser.add_argument("--warmup", type=int, default=5, help="c=1 resumes before the measured ones")
    parser.add_argument("--start-concurrency", type=int, default=32, help="workflow starts in flight at once")
    parser.add_argument("--run-timeout", type=float, default=900, help="the runs' timeout_secs")
    parser.add_argument("--settle-timeout", type=float, default=120,
                        help="seconds to wait for the webhooks, and for the runs to complete")
    parser.add_argument("--webhook-secret", default=None,
                        help="with --url: the worker's SIGNALWAY_WEBHOOK_SECRET, to check signatures")
    add_stack_args(parser)
    return parser.parse_args(argv)


# -- the webhook receiver ------------------------------------------------------------------


@dataclass
class Receiver:
    url: str
    secret: str | None
    urls: dict[str, str] = field(default_factory=dict)  # run id -> resume URL
    deliveries: int = 0
    bad_signatures: int = 0

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        self.deliveries += 1
        if self.secret:
            try:
                Webhook(self.secret).verify(body, dict(request.headers))
            except Exception:  # standardwebhooks raises its own WebhookVerificationError
                self.bad_signatures += 1
                return Response(status_code=400)
        payload = json.loads(body)
        self.urls.setdefault(payload["run_id"], payload["resume_workflow_url"])
        return Response(status_code=204)


# -- setup ---------------------------------------------------------------------------------


@dataclass
class Target:
    workflow_id: str
    run_id: str
    url: str = ""


async def start_runs(http: httpx.AsyncClient, count: int, webhook_url: str, *, concurrency: int,
                     timeout_secs: float) -> list[Target]:
    queue = list(range(count))
    started: list[Target] = []

    async def worker() -> None:
        while queue:
            index = queue.pop()
            vars = {"subject": f"bench resume {index}", "webhook_url": webhook_url, "timeout_secs": timeout_secs}
            for attempt in range(3):
                answer = await http.post(EXECUTE, json={"vars": vars})
                if answer.status_code == 200:
                    break
                if answer.status_code != 503 or attempt == 2:
                    raise BenchError(f"starting ApprovalWorkflow: {answer.status_code} {answer.text[:300]}")
                await asyncio.sleep(1)
            [run] = answer.json()
            started.append(Target(run["workflow_id"], run["run_id"]))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return started


async def collect_urls(receiver: Receiver, targets: list[Target], *, gateway_url: str | None,
                       within: float) -> None:
    """Wait for every run's webhook; `gateway_url` replaces the URLs' origin (local stack)."""
    began = time.perf_counter()
    while True:
        missing = [t for t in targets if t.run_id not in receiver.urls]
        if not missing:
            break
        if time.perf_counter() - began > within:
            raise BenchError(f"{len(missing)} of {len(targets)} webhooks not received after {within:.0f}s "
                             f"({receiver.deliveries} deliveries, {receiver.bad_signatures} badly signed)")
        await asyncio.sleep(0.2)
    for target in targets:
        url = receiver.urls[target.run_id]
        target.url = gateway_url + urlsplit(url).path if gateway_url else url


# -- measuring -----------------------------------------------------------------------------


@dataclass
class Resume:
    target: Target
    sent_at: float  # wall clock (time.time()) just before the POST
    http_ms: float
    status: int
    body: str
    seen_ms: float | None = None  # a history long-poll saw the signal
    recorded_ms: float | None = None  # the signal event's event_time minus sent_at

    @property
    def ok(self) -> bool:
        return self.status == 200 and '"Signal sent' in self.body


class HistoryWatch:
    """Long-polls one run's history (`wait_new_event`) until the resume signal shows up."""

    def __init__(self, client: Client, target: Target) -> None:
        self._client = client
        self._execution = WorkflowExecution(workflow_id=target.workflow_id, run_id=target.run_id)
        self._token = b""

    async def _page(self) -> list[HistoryEvent]:
        request = GetWorkflowExecutionHistoryRequest(
            namespace=self._client.namespace, execution=self._execution, maximum_page_size=1000,
            next_page_token=self._token, wait_new_event=True)
        response = await self._client.workflow_service.get_workflow_execution_history(
            request, timeout=timedelta(seconds=30))
        self._token = response.next_page_token
        return list(response.history.events)

    async def prime(self) -> bool:
        """Read the history so far; the next page waits for new events. True if already resumed."""
        events = await self._page()
        while self._token and len(events) == 1000:
            events = await self._page()
        return any(_is_resume(e) for e in events)

    async def until_resumed(self, began: float) -> float:
        """Milliseconds from `began` (perf_counter) until a page holds the resume signal."""
        while True:
            events = await self._page()
            if any(_is_resume(e) for e in events):
                return (time.perf_counter() - began) * 1000
            if not self._token:
                raise BenchError(f"{self._execution.workflow_id}: history ended without a resume signal")


def _is_resume(event: HistoryEvent) -> bool:
    return event.event_type == SIGNALED and event.workflow_execution_signaled_event_attributes.signal_name == RESUME_SIGNAL


async def resume_one(http: httpx.AsyncClient, target: Target, watch: HistoryWatch | None = None) -> Resume:
    seen: asyncio.Task[float] | None = None
    sent_at = time.time()
    began = time.perf_counter()
    if watch is not None:
        seen = asyncio.create_task(watch.until_resumed(began))
    answer = await http.post(target.url, json=BODY, headers={"Authorization": ""})
    result = Resume(target=target, sent_at=sent_at, http_ms=(time.perf_counter() - began) * 1000,
                    status=answer.status_code, body=answer.text[:300])
    if seen is not None:
        try:
            result.seen_ms = await asyncio.wait_for(seen, 30)
        except (TimeoutError, BenchError):
            result.seen_ms = None
    return result


async def sequential(http: httpx.AsyncClient, client: Client | None, targets: list[Target]) -> list[Resume]:
    results: list[Resume] = []
    for target in targets:
        watch = HistoryWatch(client, target) if client is not None else None
        if watch is not None and await watch.prime():
            raise BenchError(f"{target.run_id} was resumed before the bench sent anything")
        results.append(await resume_one(http, target, watch))
    return results


async def burst(http: httpx.AsyncClient, targets: list[Target], concurrency: int) -> tuple[list[Resume], float]:
    queue = list(reversed(targets))
    results: list[Resume] = []

    async def worker() -> None:
        while queue:
            results.append(await resume_one(http, queue.pop()))

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results, time.perf_counter() - began


async def healthz_floor(http: httpx.AsyncClient, count: int) -> list[float]:
    out = []
    for _ in range(count):
        began = time.perf_counter()
        (await http.get("/healthz")).raise_for_status()
        out.append((time.perf_counter() - began) * 1000)
    return out


# -- checking ------------------------------------------------------------------------------


@dataclass
class Check:
    runs: int = 0
    one_signal: int = 0  # runs with exactly one signalway_resume signal
    approved: int = 0  # runs completed with approved = true
    first_problem: str | None = None


async def check_runs(http: httpx.AsyncClient, client: Client | None, results: list[Resume], *,
                     within: float) -> Check:
    """Every run: one resume signal (its event_time gives `recorded_ms`), completed, approved."""
    check = Check(runs=len(results))
    gate = asyncio.Semaphore(16)
    deadline = time.perf_counter() + within

    def problem(text: str) -> None:
        check.first_problem = check.first_problem or text

    async def by_sdk(resume: Resume, client: Client) -> None:
        handle = client.get_workflow_handle(resume.target.workflow_id, run_id=resume.target.run_id)
        outcome = await asyncio.wait_for(handle.result(), max(1.0, deadline - time.perf_counter()))
        signals = [e async for e in handle.fetch_history_events() if _is_resume(e)]
        if len(signals) == 1:
            check.one_signal += 1
            stamped = signals[0].event_time.ToDatetime(tzinfo=UTC).timestamp()
            resume.recorded_ms = (stamped - resume.sent_at) * 1000
        else:
            problem(f"{resume.target.run_id}: {len(signals)} resume signals")
        if isinstance(outcome, dict) and outcome.get("approved") is True:
            check.approved += 1
        else:
            problem(f"{resume.target.run_id}: result {outcome!r}")

    async def by_gateway(resume: Resume) -> None:
        path = f"{RUNS}/{resume.target.workflow_id}/{resume.target.run_id}"
        while True:
            run = (await http.get(path, params={"include_history": "true"})).json()
            if run.get("status") != "RUNNING" or time.perf_counter() > deadline:
                break
            await asyncio.sleep(0.5)
        signals = [e for e in run.get("history") or [] if e.get("event_type") == EventType.Name(SIGNALED)
                   and (e.get("signal") or {}).get("name") == RESUME_SIGNAL]
        if len(signals) == 1:
            check.one_signal += 1
        else:
            problem(f"{resume.target.run_id}: {len(signals)} resume signals")
        if run.get("status") == "COMPLETED" and (run.get("result") or {}).get("approved") is True:
            check.approved += 1
        else:
            problem(f"{resume.target.run_id}: {run.get('status')} {run.get('result')!r}")

    async def one(resume: Resume) -> None:
        async with gate:
            try:
                await (by_sdk(resume, client) if client is not None else by_gateway(resume))
            except (TimeoutError, httpx.HTTPError) as exc:
                problem(f"{resume.target.run_id}: {exc!r}")

    await asyncio.gather(*(one(r) for r in results))
    return check


# -- the run -------------------------------------------------------------------------------


@dataclass
class Outcome:
    started: int
    start_seconds: float
    webhooks_seconds: float
    receiver: Receiver
    healthz_ms: list[float]
    serial: list[Resume]
    parallel: list[Resume]
    parallel_seconds: float
    parallel_cpu: dict[str, float]
    check: Check
    has_sdk: bool


async def bench(stack: Stack, args: argparse.Namespace, secret: str | None) -> Outcome:
    port = free_port()
    receiver = Receiver(url=f"http://127.0.0.1:{port}/hook", secret=secret)
    server = await serve_webhook_receiver(receiver.hook, port)
    client = await Client.connect(stack.temporal_address, namespace=stack.namespace) \
        if stack.temporal_address else None
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    try:
        async with httpx.AsyncClient(base_url=stack.gateway_url, headers=stack.headers, timeout=30,
                                     limits=limits) as http:
            total = args.warmup + args.runs + args.burst
            with console.status(f"starting {total} ApprovalWorkflow runs and collecting their webhooks…"):
                began = time.perf_counter()
                targets = await start_runs(http, total, receiver.url, concurrency=args.start_concurrency,
                                           timeout_secs=args.run_timeout)
                start_seconds = time.perf_counter() - began
                await collect_urls(receiver, targets, gateway_url=None if args.url else stack.gateway_url,
                                   within=args.settle_timeout)
                webhooks_seconds = time.perf_counter() - began
            serial_targets = targets[:args.warmup + args.runs]
            burst_targets = targets[args.warmup + args.runs:]
            with console.status(f"c=1: {args.runs} resumes, one after the other…"):
                healthz = await healthz_floor(http, args.runs)
                serial = await sequential(http, client, serial_targets)
            with console.status(f"c={args.concurrency}: {args.burst} resumes…"):
                before = stack.cpu_seconds()
                parallel, parallel_seconds = await burst(http, burst_targets, args.concurrency)
                after = stack.cpu_seconds()
                parallel_cpu = {name: after[name] - before.get(name, 0.0) for name in after}
            with console.status("checking every run's history and result…"):
                check = await check_runs(http, client, serial + parallel, within=args.settle_timeout)
    finally:
        server.should_exit = True
        await asyncio.sleep(0.2)
    return Outcome(started=len(targets), start_seconds=start_seconds, webhooks_seconds=webhooks_seconds,
                   receiver=receiver, healthz_ms=healthz, serial=serial[args.warmup:], parallel=parallel,
                   parallel_seconds=parallel_seconds, parallel_cpu=parallel_cpu, check=check, has_sdk=client is not None)


def mark(good: bool) -> str:
    return "[green]yes[/]" if good else "[red]NO[/]"


def _p(values: list[float]) -> str:
    return f"{percentile(values, 50):.2f} / {percentile(values, 99):.2f}" if values else "n/a"


def report(args: argparse.Namespace, out: Outcome) -> bool:
    console.print(f"setup: {out.started} runs started in {out.start_seconds:.1f}s; every webhook received "
                  f"after {out.webhooks_seconds:.1f}s ({out.receiver.deliveries} deliveries, "
                  f"{out.receiver.bad_signatures} badly signed"
                  + ("" if out.receiver.secret else ", signatures not checked") + ")")
    table = Table(title="Resume URLs: POST <resume_workflow_url> → signal in Temporal")
    for name in ("measure", "figure", "target", "ok"):
        table.add_column(name, justify="left" if name == "measure" else "right")

    def recorded(results: list[Resume]) -> list[float]:
        return [r.recorded_ms for r in results if r.recorded_ms is not None]

    def after(results: list[Resume]) -> list[float]:
        return [r.http_ms - r.recorded_ms for r in results if r.recorded_ms is not None]

    n1, nc = len(out.serial), len(out.parallel)
    table.add_row(f"c=1 GET /healthz, p50 / p99 ms (floor, n={len(out.healthz_ms)})", _p(out.healthz_ms), "—", "")
    table.add_row(f"c=1 HTTP answer, p50 / p99 ms (n={n1})", _p([r.http_ms for r in out.serial]), "—", "")
    table.add_row("c=1 recorded in Temporal (signal event_time − send), p50 / p99 ms",
                  _p(recorded(out.serial)), "—", "")
    table.add_row("c=1 HTTP answer − recorded (the gateway after the signal), p50 / p99 ms",
                  _p(after(out.serial)), "—", "")
    table.add_row("c=1 seen by a history long-poll, p50 / p99 ms",
                  _p([r.seen_ms for r in out.serial if r.seen_ms is not None]), "—", "")
    rate = nc / out.parallel_seconds if out.parallel_seconds > 0 else 0.0
    table.add_row(f"c={args.concurrency} resumes per second (n={nc}, {out.parallel_seconds:.2f}s)",
                  f"{rate:,.0f}", "—", "")
    table.add_row(f"c={args.concurrency} HTTP answer, p50 / p99 ms", _p([r.http_ms for r in out.parallel]), "—", "")
    table.add_row(f"c={args.concurrency} recorded in Temporal, p50 / p99 ms", _p(recorded(out.parallel)), "—", "")
    table.add_row(f"c={args.concurrency} HTTP answer − recorded, p50 / p99 ms", _p(after(out.parallel)), "—", "")
    answered = sum(1 for r in out.serial + out.parallel if r.ok)
    total = n1 + nc + args.warmup
    table.add_row("answers 200 `Signal sent` (measured resumes)", f"{answered:,}", f"{n1 + nc:,}",
                  mark(answered == n1 + nc))
    table.add_row("runs with exactly one `signalway_resume` signal", f"{out.check.one_signal:,}", f"{total:,}",
                  mark(out.check.one_signal == total))
    table.add_row("runs completed with approved = true", f"{out.check.approved:,}", f"{total:,}",
                  mark(out.check.approved == total))
    console.print(table)
    if out.parallel_cpu:
        per = 1000 / max(nc, 1)
        parts = ", ".join(f"{name} {used:.2f}s ({used * per:.2f} ms each)"
                          for name, used in sorted(out.parallel_cpu.items(), key=lambda kv: -kv[1]))
        console.print(f"CPU during the c={args.concurrency} resumes ({out.parallel_seconds:.2f}s wall, "
                      f"2 cores shared): {parts}")
    bad = next((r for r in out.serial + out.parallel if not r.ok), None)
    if bad is not None:
        console.print(f"[red]first failed resume: {bad.status} {bad.body}[/]")
    if out.check.first_problem:
        console.print(f"[red]first problem found in the runs: {out.check.first_problem}[/]")
    if not out.has_sdk:
        console.print("no Temporal address (--temporal): recorded and long-poll times not measured")
    return answered == n1 + nc and out.check.one_signal == total and out.check.approved == total


def local_settings() -> str:
    """Env for the throwaway stack's worker and gateway (inherited from this process)."""
    webhook_secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    os.environ.update({
        "SIGNALWAY_RESUME_SECRET": secrets.token_urlsafe(32),
        "SIGNALWAY_WEBHOOK_SECRET": webhook_secret,
        "SIGNALWAY_WEBHOOK_TIMEOUT_SECONDS": "5",
        "SIGNALWAY_RESUME_RATE_LIMIT_PER_MINUTE": "1000000",
        # The webhook receiver listens on 127.0.0.1, which webhooks may not reach by default.
        "SIGNALWAY_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32",
    })
    return webhook_secret


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.monotonic()
    secret = args.webhook_secret if args.url else local_settings()
    try:
        with stack_from_args(args) as stack:
            out = asyncio.run(bench(stack, args, secret))
            stack.check_alive()
    except BenchError as exc:
        console.print(f"[red]{exc}[/]")
        return 1
    valid = report(args, out)
    serial_recorded = [r.recorded_ms for r in out.serial if r.recorded_ms is not None]
    write_json(args.json, {
        "valid": valid,
        "answer_p50_ms": percentile([r.http_ms for r in out.serial], 50),
        "answer_p99_ms": percentile([r.http_ms for r in out.serial], 99),
        "recorded_p50_ms": percentile(serial_recorded, 50) if serial_recorded else None,
        "recorded_p99_ms": percentile(serial_recorded, 99) if serial_recorded else None,
        f"c{args.concurrency}_per_s": len(out.parallel) / out.parallel_seconds if out.parallel_seconds > 0 else None,
        f"c{args.concurrency}_answer_p50_ms": percentile([r.http_ms for r in out.parallel], 50),
        f"c{args.concurrency}_answer_p99_ms": percentile([r.http_ms for r in out.parallel], 99),
        "healthz_p50_ms": percentile(out.healthz_ms, 50),
    })
    console.print(("[green]valid run[/]" if valid else "[red]INVALID run: see above[/]")
                  + f"; total time {time.monotonic() - began:.0f}s")
    return 0 if valid else 1


if __name__ == "__main__":
    sys.exit(main())
