"""Soak: steady mixed traffic for `--duration` seconds, then an audit that nothing was lost or doubled.

Traffic, open-loop at fixed rates (scale them all with `--rate`), from one asyncio process:

- start     `POST /api/v1/workflows/execute/{type}`: ConversationWorkflow (a pool of
            `--conversations` runs, each replaced after `--turns` signals), ApprovalWorkflow
            with a webhook to a receiver in this process, OrderFulfillmentWorkflow
- signal    `POST …/runs/{wid}/{rid}/signal/UserInput {message}` to a pool conversation (and
            its `bye` once retired)
- update    `POST /api/v1/workflows/runs/{rid}/updates` to a pool conversation
- stream    `--streams` SSE streams held open on pool conversations and read; each follows its
            run to `WORKFLOW_CLOSED`, reconnecting with Last-Event-ID if interrupted, then
            moves to another conversation
- event     per order: `GET /v1/events/order:<id>:paid` until its trigger waits, then
            `POST …/send`; the same for `shipped`
- resume    per approval: `POST <resume_workflow_url>` once the webhook brought it

While it runs, the gateway's RSS is sampled every 2 s. Afterwards every conversation gets its
`bye`, every run must complete, and the audit reads each run's history (through the gateway)
and the updates store: every accepted signal, update, event and resume is found exactly once
(signals in the history, updates and answers in the store, each event as one
`signalway_trigger` signal and in the result, each resume as one `signalway_resume` signal),
and every SSE stream received exactly its run's updates, in order, once each.

    .venv/bin/python bench/soak.py                     # 3 minutes on a throwaway local stack
    .venv/bin/python bench/soak.py --duration 60 --rate 2

With `--url`, the gateway and the worker need SIGNALWAY_WEBHOOK_ALLOWED_NETWORKS=127.0.0.1/32
(the receiver listens on 127.0.0.1), the worker SIGNALWAY_RESUME_SECRET and
SIGNALWAY_WEBHOOK_SECRET, and the gateway a SIGNALWAY_RESUME_RATE_LIMIT_PER_MINUTE above the
resume rate; `--gateway-pid` gives the RSS figures.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import secrets
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
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
from starlette.requests import Request
from starlette.responses import Response

console = Console(width=None if sys.stdout.isatty() else 160)
RUNS = "/api/v1/workflows/runs"
EXECUTE = "/api/v1/workflows/execute"
OPS = ("start", "signal", "update", "stream open", "event get", "event send", "resume")
# What each operation answers when it went well; an "event get" polls a trigger that the run
# registers shortly after it starts, so a 404 before that is an answer, not an error.
EXPECTED = {"start": {200}, "signal": {200}, "update": {201}, "stream open": {200}, "event get": {200, 404},
            "event send": {200}, "resume": {200}}
RSS_EVERY = 2.0
# The gateway's RSS is "steady" when its trend over the second half stays under this.
RSS_SLOPE_LIMIT_MB_PER_MIN = 1.0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=180, help="seconds of traffic")
    parser.add_argument("--rate", type=float, default=1.0, help="multiplies every rate below")
    parser.add_argument("--signals", type=float, default=8, help="conversation signals per second")
    parser.add_argument("--updates", type=float, default=8, help="progress update POSTs per second")
    parser.add_argument("--orders", type=float, default=0.5, help="orders started per second (2 events each)")
    parser.add_argument("--approvals", type=float, default=0.5, help="approvals started per second (1 resume each)")
    parser.add_argument("--conversations", type=int, default=16, help="conversations open at once")
    parser.add_argument("--turns", type=int, default=20, help="signals a conversation gets before its bye")
    parser.add_argument("--streams", type=int, default=16, help="SSE streams held open")
    parser.add_argument("--settle-timeout", type=float, default=120,
                        help="seconds for in-flight work to finish and every run to complete")
    parser.add_argument("--gateway-pid", type=int, default=None, help="with --url: the gateway's pid (RSS)")
    add_stack_args(parser)
    return parser.parse_args(argv)


# -- recording -------------------------------------------------------------------------------


@dataclass
class OpStats:
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)


class Recorder:
    def __init__(self) -> None:
        self.ops: dict[str, OpStats] = {op: OpStats() for op in OPS}

    async def call(self, op: str, send: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response | None:
        """The answer when it has the status `op` expects; otherwise None, the error counted."""
        began = time.perf_counter()
        try:
            answer = await send()
        except httpx.HTTPError as exc:
            self.ops[op].errors[type(exc).__name__] += 1
            return None
        if answer.status_code not in EXPECTED[op]:
            self.ops[op].errors[str(answer.status_code)] += 1
            return None
        self.ops[op].latencies_ms.append((time.perf_counter() - began) * 1000)
        return answer


# -- the runs the traffic goes to ------------------------------------------------------------


@dataclass(eq=False)
class Conversation:
    workflow_id: str
    run_id: str
    signals: list[str] = field(default_factory=list)  # accepted UserInput messages, in order
    posted: list[str] = field(default_factory=list)  # accepted update messages
    closing: bool = False
    bye: bool = False
    in_flight: int = 0
    idle: asyncio.Event = field(default_factory=asyncio.Event)  # set while nothing is in flight

    def __post_init__(self) -> None:
        self.idle.set()

    @contextmanager
    def sending(self) -> Iterator[None]:
        self.in_flight += 1
        self.idle.clear()
        try:
            yield
        finally:
            self.in_flight -= 1
            if not self.in_flight:
                self.idle.set()


@dataclass(eq=False)
class Order:
    workflow_id: str
    run_id: str
    order_id: str
    sent: dict[str, Any] = field(default_factory=dict)  # step -> payload of an accepted send


@dataclass(eq=False)
class Approval:
    workflow_id: str
    run_id: str
    resumed: bool = False


@dataclass(eq=False)
class StreamSession:
    conversation: Conversation
    ids: list[int] = field(default_factory=list)
    closed: bool = False  # ended by WORKFLOW_CLOSED (not by the end of the soak)
    reconnects: int = 0


class Receiver:
    """The webhook receiver: resume URLs by run id."""

    def __init__(self) -> None:
        self.urls: dict[str, str] = {}
        self.arrived: dict[str, asyncio.Event] = {}

    def waiter(self, run_id: str) -> asyncio.Event:
        return self.arrived.setdefault(run_id, asyncio.Event())

    async def hook(self, request: Request) -> Response:
        payload = json.loads(await request.body())
        run_id = payload["run_id"]
        self.urls.setdefault(run_id, payload["resume_workflow_url"])
        self.waiter(run_id).set()
        return Response(status_code=204)


# -- the soak --------------------------------------------------------------------------------


@dataclass
class Outcome:
    recorder: Recorder
    seconds: float
    conversations: list[Conversation]
    orders: list[Order]
    approvals: list[Approval]
    sessions: list[StreamSession]
    frames: int
    live_ms: list[float]
    rss: list[tuple[float, float]]  # (seconds since the start, MB)
    lag_ms: list[float]
    client_cpu: float  # share of one core this process used while the traffic ran
    skipped: int
    audit: list[str] = field(default_factory=list)  # problems found; empty when all is well
    audited: Counter[str] = field(default_factory=Counter)


class Soak:
    def __init__(self, stack: Stack, args: argparse.Namespace, http: httpx.AsyncClient, receiver: Receiver,
                 hook_url: str) -> None:
        self.stack, self.args, self.http, self.receiver, self.hook_url = stack, args, http, receiver, hook_url
        self.rec = Recorder()
        self.pool: list[Conversation] = []
        self.conversations: list[Conversation] = []
        self.orders: list[Order] = []
        self.approvals: list[Approval] = []
        self.sessions: list[StreamSession] = []
        self.tasks: set[asyncio.Task[None]] = set()
        self.stopping = False
        self.frames = 0
        self.live_ms: list[float] = []
        self.lag_ms: list[float] = []
        self.skipped = 0
        self.counter = 0

    def _next(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def execute(self, workflow_type: str, vars: dict[str, Any]) -> tuple[str, str] | None:
        answer = await self.rec.call("start", lambda: self.http.post(f"{EXECUTE}/{workflow_type}", json={"vars": vars}))
        if answer is None:
            return None
        [started] = answer.json()
        return started["workflow_id"], started["run_id"]

    # -- conversations: signals, updates, streams --------------------------------------------

    async def open_conversation(self) -> None:
        started = await self.execute("ConversationWorkflow", {})
        if started is not None:
            conversation = Conversation(*started)
            self.conversations.append(conversation)
            self.pool.append(conversation)

    def pick(self) -> Conversation | None:
        open_ = [c for c in self.pool if not c.closing]
        return random.choice(open_) if open_ else None

    async def signal(self) -> None:
        conversation = self.pick()
        if conversation is None:
            return
        message = self._next("s")
        with conversation.sending():
            answer = await self.rec.call("signal", partial(
                self.http.post, f"{RUNS}/{conversation.workflow_id}/{conversation.run_id}/signal/UserInput",
                json={"message": message}))
        if answer is not None:
            conversation.signals.append(message)
        if len(conversation.signals) >= self.args.turns and not conversation.closing:
            conversation.closing = True
            self.spawn(self.retire(conversation, replace=not self.stopping))

    async def retire(self, conversation: Conversation, *, replace: bool) -> None:
        """`bye` once nothing else is on its way to the run, so the stream sees all of it before
        the run closes; then a new conversation takes its place in the pool."""
        conversation.closing = True
        await conversation.idle.wait()
        answer = await self.rec.call("signal", partial(
            self.http.post, f"{RUNS}/{conversation.workflow_id}/{conversation.run_id}/signal/UserInput",
            json={"message": "bye"}))
        conversation.bye = answer is not None
        if conversation in self.pool:
            self.pool.remove(conversation)
        if replace and not self.stopping:
            await self.open_conversation()

    async def update(self) -> None:
        conversation = self.pick()
        if conversation is None:
            return
        message = self._next("u")
        with conversation.sending():
            answer = await self.rec.call("update", partial(
                self.http.post, f"{RUNS}/{conversation.run_id}/updates",
                json={"type": "PROGRESS", "message": message, "details": {"soak": message}}))
        if answer is not None:
            conversation.posted.append(message)

    async def stream_forever(self) -> None:
        while not self.stopping:
            conversation = self.pick()
            if conversation is None:
                await asyncio.sleep(0.2)
                continue
            session = StreamSession(conversation)
            self.sessions.append(session)
            await self.follow(session)

    async def follow(self, session: StreamSession) -> None:
        """Read one run's stream to its WORKFLOW_CLOSED, reconnecting after an interruption."""
        conversation = session.conversation
        path = f"{RUNS}/{conversation.workflow_id}/{conversation.run_id}/stream"
        while not self.stopping:
            headers = {"Last-Event-ID": str(session.ids[-1])} if session.ids else {}
            opened = time.time() * 1000
            began = time.perf_counter()
            try:
                async with self.http.stream("GET", path, headers=headers, timeout=httpx.Timeout(10, read=60)) as answer:
                    if answer.status_code != 200:
                        self.rec.ops["stream open"].errors[str(answer.status_code)] += 1
                        await asyncio.sleep(1)
                        return
                    self.rec.ops["stream open"].latencies_ms.append((time.perf_counter() - began) * 1000)
                    ending = await self.read_frames(answer, session, opened)
            except httpx.HTTPError as exc:
                self.rec.ops["stream open"].errors[type(exc).__name__] += 1
                ending = "error"
            if ending == "WORKFLOW_CLOSED":
                session.closed = True
                return
            session.reconnects += 1
            await asyncio.sleep(0.2)

    async def read_frames(self, answer: httpx.Response, session: StreamSession, opened_ms: float) -> str:
        event_id: str | None = None
        data: list[str] = []
        async for line in answer.aiter_lines():
            if line.startswith(":"):
                continue  # heartbeat
            if line:
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "id":
                    event_id = value
                elif name == "data":
                    data.append(value)
                continue
            if not data:
                continue
            message = json.loads("\n".join(data))
            data = []
            if event_id is None:
                return str(message.get("type"))  # the stream's last frame: closed, interrupted, overflow
            session.ids.append(int(event_id))
            event_id = None
            self.frames += 1
            if message["timestamp"] >= opened_ms:  # live, not backlog
                self.live_ms.append(time.time() * 1000 - message["timestamp"])
        return "eof"

    # -- orders: event get + send --------------------------------------------------------------

    async def order(self) -> None:
        order_id = f"soak-{secrets.token_hex(6)}"
        started = await self.execute("OrderFulfillmentWorkflow", {"order_id": order_id, "timeout_secs": 900})
        if started is None:
            return
        order = Order(*started, order_id=order_id)
        self.orders.append(order)
        for step in ("paid", "shipped"):
            key = f"order:{order_id}:{step}"
            deadline = time.monotonic() + 60
            while True:  # the run registers its trigger shortly after it starts
                await asyncio.sleep(0.5)
                answer = await self.rec.call("event get", partial(self.http.get, f"/v1/events/{key}"))
                if answer is not None and answer.status_code == 200 and answer.json()["status"] == "waiting":
                    break
                if time.monotonic() > deadline:
                    return
            payload = {"order_id": order_id, "step": step, "n": self._next("e")}
            sent = await self.rec.call("event send", partial(self.http.post, f"/v1/events/{key}/send", json=payload))
            if sent is None:
                return
            order.sent[step] = payload

    # -- approvals: webhook, then resume ---------------------------------------------------------

    async def approval(self) -> None:
        started = await self.execute("ApprovalWorkflow", {
            "subject": "soak", "webhook_url": self.hook_url, "timeout_secs": 900})
        if started is None:
            return
        approval = Approval(*started)
        self.approvals.append(approval)
        try:
            await asyncio.wait_for(self.receiver.waiter(approval.run_id).wait(), 60)
        except TimeoutError:
            return
        url = self.receiver.urls[approval.run_id]
        # Resume URLs are built on the stack's public URL; send them to the gateway under test.
        target = self.stack.gateway_url + urlsplit(url).path
        answer = await self.rec.call("resume", partial(self.http.post, target,
                                                       json={"variables": {"user_response": "approved"}}))
        approval.resumed = answer is not None

    # -- pacing ----------------------------------------------------------------------------------

    async def pace(self, rate: float, fire: Callable[[], Awaitable[None]], until: float) -> None:
        """Open loop: `rate` calls a second whatever the answers take (bounded in flight)."""
        if rate <= 0:
            return
        interval = 1 / rate
        due = time.monotonic() + random.random() * interval
        while due < until and not self.stopping:
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                self.lag_ms.append(-delay * 1000)
            if len(self.tasks) >= 2000:
                self.skipped += 1  # the client is saturated: say so rather than slow down quietly
            else:
                self.spawn(fire())
            due += interval

    async def run(self) -> Outcome:
        args, scale = self.args, self.args.rate
        await asyncio.gather(*(self.open_conversation() for _ in range(args.conversations)))
        if not self.pool:
            raise BenchError(f"no conversation could be started: {dict(self.rec.ops['start'].errors)}")
        pid = args.gateway_pid or next((p.popen.pid for p in self.stack.processes if p.name == "gateway"), None)
        rss: list[tuple[float, float]] = []
        began = time.monotonic()
        until = began + args.duration
        cpu_began = time.process_time()

        async def sample_rss() -> None:
            while time.monotonic() < until and pid is not None:
                mb = rss_mb(pid)
                if mb is not None:
                    rss.append((time.monotonic() - began, mb))
                await asyncio.sleep(RSS_EVERY)

        streams = [asyncio.create_task(self.stream_forever()) for _ in range(args.streams)]
        await asyncio.gather(
            sample_rss(),
            self.pace(args.signals * scale, self.signal, until),
            self.pace(args.updates * scale, self.update, until),
            self.pace(args.orders * scale, self.order, until),
            self.pace(args.approvals * scale, self.approval, until),
        )
        seconds = time.monotonic() - began
        client_cpu = (time.process_time() - cpu_began) / seconds
        self.stopping = True
        console.print(f"traffic done ({seconds:.0f}s); settling: the last answers, every bye, every run's close …")
        await self.settle(streams)
        return Outcome(self.rec, seconds, self.conversations, self.orders, self.approvals, self.sessions,
                       self.frames, self.live_ms, rss, self.lag_ms, client_cpu, self.skipped)

    async def settle(self, streams: list[asyncio.Task[None]]) -> None:
        deadline = time.monotonic() + self.args.settle_timeout
        while self.tasks and time.monotonic() < deadline:
            await asyncio.wait(set(self.tasks), timeout=1)
        for conversation in list(self.pool):
            await self.retire(conversation, replace=False)
        # Streams still open follow their run to its close (the bye above ends it).
        _, pending = await asyncio.wait(streams, timeout=max(1.0, deadline - time.monotonic()))
        for task in pending | self.tasks:
            task.cancel()


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


# -- the audit -------------------------------------------------------------------------------


async def wait_closed(http: httpx.AsyncClient, workflow_id: str, run_id: str, within: float) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        answer = await http.get(f"{RUNS}/{workflow_id}/{run_id}", params={"include_history": "true"})
        body: dict[str, Any] = answer.json()
        if answer.status_code == 200 and body["status"] != "RUNNING":
            return body
        if time.monotonic() > deadline:
            return body
        await asyncio.sleep(0.5)


def signals_named(run: dict[str, Any], name: str) -> list[Any]:
    """The first argument of every signal `name` in the run's history."""
    return [(e["signal"]["input"] or [None])[0] for e in run.get("history") or []
            if e.get("signal", {}).get("name") == name]


async def audit(http: httpx.AsyncClient, out: Outcome, within: float) -> None:
    problems, counted = out.audit, out.audited
    gate = asyncio.Semaphore(8)
    store_ids: dict[str, list[int]] = {}

    async def conversation(c: Conversation) -> None:
        async with gate:
            run = await wait_closed(http, c.workflow_id, c.run_id, within)
            updates = (await http.get(f"{RUNS}/{c.workflow_id}/{c.run_id}/updates")).json()["messages"]
        store_ids[c.run_id] = [m["id"] for m in updates]
        if run.get("status") != "COMPLETED":
            problems.append(f"conversation {c.run_id} is {run.get('status')}")
            return
        inputs = Counter(s["message"] for s in signals_named(run, "UserInput"))
        answers = Counter(m["message"] for m in updates if m["type"] == "ANSWER")
        posted = Counter(m["message"] for m in updates if m["type"] == "PROGRESS")
        for message in c.signals:
            counted["signal"] += 1
            if inputs[message] != 1 or answers[f"echo: {message}"] != 1:
                problems.append(f"signal {message} to {c.run_id}: {inputs[message]} in history, "
                                f"{answers[f'echo: {message}']} answers")
        for message in c.posted:
            counted["update"] += 1
            if posted[message] != 1:
                problems.append(f"update {message} to {c.run_id}: {posted[message]} in the store")
        if run["result"] != {"turns": sum(inputs.values())}:
            problems.append(f"conversation {c.run_id}: result {run['result']}, {sum(inputs.values())} signals")

    async def order(o: Order) -> None:
        async with gate:
            run = await wait_closed(http, o.workflow_id, o.run_id, within)
        triggers = Counter(s["event_key"] for s in signals_named(run, "signalway_trigger") if s["action"] == "received")
        result = run.get("result") or {}
        for step, payload in o.sent.items():
            counted["event"] += 1
            key = f"order:{o.order_id}:{step}"
            if triggers[key] != 1 or result.get(step) != payload:
                problems.append(f"event {key}: {triggers[key]} deliveries, result {result.get(step)!r}")
        if len(o.sent) == 2 and result.get("status") != "fulfilled":
            problems.append(f"order {o.order_id}: {run.get('status')} {result}")

    async def approval(a: Approval) -> None:
        async with gate:
            run = await wait_closed(http, a.workflow_id, a.run_id, within)
        resumes = [s for s in signals_named(run, "signalway_resume") if s["action"] == "resume"]
        if a.resumed:
            counted["resume"] += 1
            if len(resumes) != 1 or not (run.get("result") or {}).get("approved"):
                problems.append(f"resume of {a.run_id}: {len(resumes)} resume signals, result {run.get('result')}")

    await asyncio.gather(*(conversation(c) for c in out.conversations), *(order(o) for o in out.orders),
                         *(approval(a) for a in out.approvals))
    for session in out.sessions:
        counted["stream"] += 1
        ids = store_ids.get(session.conversation.run_id, [])
        expected = ids if session.closed else ids[:len(session.ids)]
        if session.ids != expected:
            problems.append(f"stream of {session.conversation.run_id} ({'closed' if session.closed else 'cut'}): "
                            f"got {len(session.ids)} ids, {len(set(session.ids))} distinct; the store has {len(ids)}")


async def cleanup(http: httpx.AsyncClient, out: Outcome) -> None:
    """Runs an interrupted soak left open (orders or approvals it gave up on) are terminated."""
    runs: list[Order | Approval] = [*out.orders, *out.approvals]
    for run in runs:
        answer = await http.get(f"{RUNS}/{run.workflow_id}/{run.run_id}", params={"include_history": "false"})
        if answer.status_code == 200 and answer.json()["status"] == "RUNNING":
            await http.post(f"{RUNS}/{run.workflow_id}/{run.run_id}/actions/terminate", json={"reason": "soak over"})


async def soak(stack: Stack, args: argparse.Namespace) -> Outcome:
    receiver = Receiver()
    port = free_port()
    server = await serve_webhook_receiver(receiver.hook, port)
    limits = httpx.Limits(max_connections=args.streams + 200, max_keepalive_connections=64)
    try:
        async with httpx.AsyncClient(base_url=stack.gateway_url, headers=stack.headers, timeout=30,
                                     limits=limits) as http:
            out = await Soak(stack, args, http, receiver, f"http://127.0.0.1:{port}/hook").run()
            console.print("auditing: every run's history and updates …")
            await audit(http, out, args.settle_timeout)
            await cleanup(http, out)
            return out
    finally:
        server.should_exit = True
        await asyncio.sleep(0.2)


# -- the report ------------------------------------------------------------------------------


def slope_mb_per_min(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares trend of (seconds, MB), in MB per minute; 0 with fewer than 2 points."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_mb = sum(mb for _, mb in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    return sum((t - mean_t) * (mb - mean_mb) for t, mb in points) / var * 60


def mark(ok: bool) -> str:
    return "[green]ok[/]" if ok else "[red]NO[/]"


def report(args: argparse.Namespace, out: Outcome) -> bool:
    table = Table(title=f"Soak: {out.seconds:.0f}s of mixed traffic (rate ×{args.rate:g}, "
                        f"{args.streams} SSE streams held open)")
    for name in ("operation", "ok", "per s", "p50 ms", "p99 ms", "errors by status"):
        table.add_column(name, justify="left" if name in ("operation", "errors by status") else "right")
    errors = 0
    for op, stats in out.recorder.ops.items():
        values = stats.latencies_ms
        errors += sum(stats.errors.values())
        table.add_row(op, f"{len(values):,}", f"{len(values) / out.seconds:.1f}",
                      f"{percentile(values, 50):.1f}", f"{percentile(values, 99):.1f}",
                      ", ".join(f"{k}×{v}" for k, v in stats.errors.most_common()) or "-")
    table.add_row("SSE frames read", f"{out.frames:,}", f"{out.frames / out.seconds:.1f}",
                  f"{percentile(out.live_ms, 50):.1f}", f"{percentile(out.live_ms, 99):.1f}",
                  "(publish → client, live frames)")
    console.print(table)

    rss_ok = True
    if out.rss:
        start, middle, end = out.rss[0], out.rss[len(out.rss) // 2], out.rss[-1]
        whole = slope_mb_per_min(out.rss)
        second_half = slope_mb_per_min(out.rss[len(out.rss) // 2:])
        rss_ok = second_half <= RSS_SLOPE_LIMIT_MB_PER_MIN
        rss = Table(title=f"Gateway RSS (every {RSS_EVERY:g}s, {len(out.rss)} samples)")
        for name in ("start", "middle", "end", "max", "slope, whole run", "slope, second half",
                     f"second half ≤ {RSS_SLOPE_LIMIT_MB_PER_MIN:g} MB/min"):
            rss.add_column(name, justify="right")
        rss.add_row(f"{start[1]:.1f} MB @{start[0]:.0f}s", f"{middle[1]:.1f} MB @{middle[0]:.0f}s",
                    f"{end[1]:.1f} MB @{end[0]:.0f}s", f"{max(mb for _, mb in out.rss):.1f} MB",
                    f"{whole:+.2f} MB/min", f"{second_half:+.2f} MB/min", mark(rss_ok))
        console.print(rss)
    else:
        console.print("gateway RSS: not measured (no local gateway; pass --gateway-pid with --url)")

    audit = Table(title="Delivery audit (histories and the updates store, read after every run closed)")
    for name in ("accepted", "checked", "found exactly once"):
        audit.add_column(name, justify="left" if name == "accepted" else "right")
    for kind, label in (("signal", "signals (history + ANSWER update)"), ("update", "progress updates (store)"),
                        ("event", "events (one trigger signal + result)"), ("resume", "resumes (one resume signal)"),
                        ("stream", "SSE streams (every id of the run, once, in order)")):
        bad = sum(1 for p in out.audit if p.startswith(kind))
        audit.add_row(label, f"{out.audited[kind]:,}", mark(bad == 0))
    console.print(audit)
    for problem in out.audit[:10]:
        console.print(f"[red]{problem}[/]")

    closed = sum(1 for s in out.sessions if s.closed)
    reconnects = sum(s.reconnects for s in out.sessions)
    lag = percentile(out.lag_ms, 99) if out.lag_ms else 0.0
    console.print(f"streams: {len(out.sessions)} sessions ({closed} followed to the run's close, "
                  f"{reconnects} reconnects); load generator: {out.client_cpu:.0%} of one core, "
                  f"pacing lag p99 {lag:.1f} ms, {out.skipped} calls skipped (client saturated)")
    client_ok = out.skipped == 0 and out.client_cpu < 0.8
    if not client_ok:
        console.print("[red]the load generator was a bottleneck: lower --rate[/]")
    return errors == 0 and not out.audit and rss_ok and client_ok


def figures(out: Outcome, valid: bool) -> dict[str, object]:
    """What `--json PATH` writes: the printed figures."""
    ops: dict[str, object] = {
        op: {"ok": len(stats.latencies_ms), "per_s": len(stats.latencies_ms) / out.seconds,
             "p50_ms": percentile(stats.latencies_ms, 50), "p99_ms": percentile(stats.latencies_ms, 99),
             "errors": dict(stats.errors)}
        for op, stats in out.recorder.ops.items()
    }
    rss: dict[str, object] = {}
    if out.rss:
        rss = {"start_mb": out.rss[0][1], "middle_mb": out.rss[len(out.rss) // 2][1], "end_mb": out.rss[-1][1],
               "max_mb": max(mb for _, mb in out.rss), "slope_mb_per_min": slope_mb_per_min(out.rss),
               "second_half_slope_mb_per_min": slope_mb_per_min(out.rss[len(out.rss) // 2:])}
    return {
        "valid": valid, "seconds": out.seconds, "operations": ops,
        "sse": {"frames": out.frames, "live_p50_ms": percentile(out.live_ms, 50),
                "live_p99_ms": percentile(out.live_ms, 99)},
        "rss": rss, "audit_problems": len(out.audit), "audited": dict(out.audited),
        "load_generator_cpu": out.client_cpu, "calls_skipped": out.skipped,
    }


def local_settings() -> None:
    """Env for the throwaway stack's worker and gateway (inherited from this process)."""
    os.environ.update({
        "SIGNALWAY_RESUME_SECRET": secrets.token_urlsafe(32),
        "SIGNALWAY_WEBHOOK_SECRET": "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "SIGNALWAY_WEBHOOK_TIMEOUT_SECONDS": "5",
        "SIGNALWAY_RESUME_RATE_LIMIT_PER_MINUTE": "1000000",
        # The webhook receiver listens on 127.0.0.1, which webhooks may not reach by default.
        "SIGNALWAY_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32",
    })


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.monotonic()
    if not args.url:
        local_settings()
    try:
        with stack_from_args(args) as stack:
            out = asyncio.run(soak(stack, args))
            stack.check_alive()
    except BenchError as exc:
        console.print(f"[red]{exc}[/]")
        return 1
    valid = report(args, out)
    write_json(args.json, figures(out, valid))
    console.print(("[green]valid run[/]" if valid else "[red]INVALID run: see above[/]")
                  + f"; total time {time.monotonic() - began:.0f}s")
    return 0 if valid else 1


if __name__ == "__main__":
    sys.exit(main())
