"""Progress updates on ONE gateway process (or `--gateway-workers N`): POST throughput,
publish→client latency over SSE with 1, 1,000 and 5,000 concurrent streams, and the gateway's
memory.

Phases, on a throwaway local stack (Temporal, Redis, one worker, one gateway; `_stack.py`):

1. wrk: GET /healthz (baseline), then POST /api/v1/workflows/runs/{run_id}/updates rotating
   over `--post-runs` ApprovalWorkflow runs (expects 201); req/s, p50/p99, ratio to /healthz,
   non-2xx answers and the gateway's CPU.
2. Latency: SSE clients in `--clients` separate processes (raw asyncio streams + uvloop, no
   HTTP library in the hot path) open `GET .../runs/{wid}/{rid}/stream?skipHistory=true`;
   this process publishes `--rate` messages/s for `--duration` s (round-robin over the runs,
   each run's messages one after the other) with its wall-clock send time in `details`, and
   each client records receive − send per message. Every stream must get every message
   exactly once, in order, with contiguous SSE ids. Layouts: 1 stream on 1 run; `--streams`
   spread over `--runs` runs (default 1,000 = 10 runs × 100 streams, each message fans out
   to 100 streams); and, unless `--no-one-run`, `--streams` all on one run (each message fans
   out to all of them) at `--one-run-rate` (default 2 msg/s: the same 2,000 frames/s as the
   spread layout, so it shows the fan-out of one message, not a saturated process); and,
   unless `--no-big`, `--big-streams` over `--big-runs` runs (default 5,000 over 50: each
   message fans out to 100 streams, 2,000 frames/s at the default rate).
3. Memory: the gateway's VmRSS idle (after the wrk phase), with the streams open, the
   highest sample while publishing, and VmHWM (its peak so far).

    .venv/bin/python bench/updates.py                          # defaults, ~2-3 minutes
    .venv/bin/python bench/updates.py --streams 50 --duration 3 --wrk-duration 3
    .venv/bin/python bench/updates.py --url http://127.0.0.1:8000 --token $TOKEN  # no RSS/CPU
    .venv/bin/python bench/updates.py --gateway-workers 2 --json /tmp/updates.json

Exits 0 when the run is valid (targets missed are shown red), 1 when it is not (non-2xx
answers, a lost, duplicated or reordered message, a stream that failed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from _stack import Stack, add_stack_args, stack_from_args, write_json
from _wrk import LoadResult, WrkMissing, run_wrk, temp_dir, write_script, wrk_binary

WORKFLOWS = "/api/v1/workflows"
RESULT = "@@RESULT@@"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
THIS_FILE = str(Path(__file__).resolve())

# Targets (printed next to the figures).
TARGET_POST_RPS = 3000
TARGET_P99_MS = 25.0  # up to 1,000 streams
TARGET_P99_MS_BIG = 50.0  # 5,000 streams over 50 runs
TARGET_RSS_MB = 200.0  # with 1,000 streams
TARGET_RSS_MB_BIG = 400.0  # with 5,000 streams


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# -- the SSE client process ----------------------------------------------------------------


class SseParser:
    """HTTP/1.1 chunked transfer decoding (or a plain body) plus SSE framing: (id, data) pairs."""

    def __init__(self, chunked: bool) -> None:
        self.chunked = chunked
        self.raw = b""
        self.need = -1  # bytes of the current chunk still to read; -1: reading a size line
        self.text = b""
        self.ended = False

    def feed(self, data: bytes) -> list[tuple[str | None, str]]:
        if self.chunked:
            self.raw += data
            out = bytearray()
            while not self.ended:
                if self.need < 0:
                    line_end = self.raw.find(b"\r\n")
                    if line_end < 0:
                        break
                    size = int(self.raw[:line_end].split(b";")[0], 16)
                    self.raw = self.raw[line_end + 2:]
                    if size == 0:
                        self.ended = True
                        break
                    self.need = size
                if len(self.raw) < self.need + 2:
                    break
                out += self.raw[:self.need]
                self.raw = self.raw[self.need + 2:]
                self.need = -1
            self.text += out
        else:
            self.text += data
        events: list[tuple[str | None, str]] = []
        while True:
            crlf, lf = self.text.find(b"\r\n\r\n"), self.text.find(b"\n\n")
            if crlf >= 0 and (lf < 0 or crlf <= lf):
                block, self.text = self.text[:crlf], self.text[crlf + 4:]
            elif lf >= 0:
                block, self.text = self.text[:lf], self.text[lf + 2:]
            else:
                break
            event_id: str | None = None
            lines: list[str] = []
            for line in block.decode().splitlines():
                if line.startswith(":"):
                    continue  # a heartbeat comment
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if name == "id":
                    event_id = value
                elif name == "data":
                    lines.append(value)
            if lines:
                events.append((event_id, "\n".join(lines)))
        return events


@dataclass
class StreamState:
    workflow_id: str
    run_id: str
    connected: bool = False
    frames: int = 0
    last_id: int | None = None
    gaps: int = 0  # an id more than one past the previous one
    dups: int = 0  # an id not after the previous one
    seqs: list[int] = field(default_factory=list)
    error: str | None = None


class ClientProcess:
    """`--streams` SSE streams in this process; reports on stdout, told to stop on stdin."""

    def __init__(self, spec: dict[str, Any]) -> None:
        parts = urlsplit(spec["url"])
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.token: str = spec["token"]
        self.connect_concurrency: int = spec["connect_concurrency"]
        self.streams = [StreamState(wid, rid) for wid, rid in spec["streams"]]
        self.latencies_us: list[int] = []
        self.received: dict[int, list[int]] = {}  # seq → [first, last] receive time (ns) here
        self.pending_connect = len(self.streams)
        self.pending_prime = len(self.streams)
        self.all_connected = asyncio.Event()
        self.all_primed = asyncio.Event()
        self.stopping = False

    def _settled(self, st: StreamState, *, primed: bool) -> None:
        if primed:
            self.pending_prime -= 1
            if self.pending_prime == 0:
                self.all_primed.set()
        else:
            self.pending_connect -= 1
            if self.pending_connect == 0:
                self.all_connected.set()

    def on_frame(self, st: StreamState, event_id: str | None, data: str, now_ns: int) -> None:
        message = json.loads(data)
        if message.get("type") != "PROGRESS" or event_id is None:
            st.error = st.error or f"unexpected frame: {data[:200]}"
            return
        ident = int(event_id)
        if st.last_id is not None:
            if ident <= st.last_id:
                st.dups += 1
            elif ident != st.last_id + 1:
                st.gaps += 1
        st.last_id = ident
        st.frames += 1
        if st.frames == 1:
            self._settled(st, primed=True)
        details = message.get("details") or {}
        if details.get("bench") == "m":
            seq = int(details["seq"])
            st.seqs.append(seq)
            self.latencies_us.append((now_ns - int(details["sent_ns"])) // 1000)
            seen = self.received.get(seq)
            if seen is None:
                self.received[seq] = [now_ns, now_ns]
            else:
                seen[1] = now_ns

    async def run_stream(self, st: StreamState, gate: asyncio.Semaphore) -> None:
        writer: asyncio.StreamWriter | None = None
        connected_reported = False
        try:
            async with gate:
                reader, writer = await asyncio.open_connection(self.host, self.port)
                path = f"{WORKFLOWS}/runs/{st.workflow_id}/{st.run_id}/stream?skipHistory=true"
                writer.write(
                    f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                    f"Authorization: Bearer {self.token}\r\nAccept: text/event-stream\r\n\r\n".encode()
                )
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
                status = int(head.split(b" ", 2)[1])
                if status != 200:
                    body = await asyncio.wait_for(reader.read(500), 5)
                    raise RuntimeError(f"HTTP {status}: {body[-300:]!r}")
                chunked = b"transfer-encoding: chunked" in head.lower()
                st.connected = True
            connected_reported = True
            self._settled(st, primed=False)
            parser = SseParser(chunked)
            while True:
                data = await reader.read(262144)
                now_ns = time.time_ns()
                if not data:
                    if not self.stopping:
                        st.error = st.error or "the gateway closed the stream"
                    return
                for event_id, payload in parser.feed(data):
                    self.on_frame(st, event_id, payload, now_ns)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            st.error = st.error or f"{type(exc).__name__}: {exc}"
        finally:
            if not connected_reported:
                self._settled(st, primed=False)
            if st.frames == 0:
                self._settled(st, primed=True)  # a failed stream will never prime: don't wait for it
            if writer is not None:
                writer.close()

    @staticmethod
    def report(**data: Any) -> None:
        sys.stdout.write(RESULT + json.dumps(data) + "\n")
        sys.stdout.flush()

    async def main(self) -> None:
        gate = asyncio.Semaphore(self.connect_concurrency)
        tasks = [asyncio.create_task(self.run_stream(st, gate)) for st in self.streams]
        if not self.streams:
            self.all_connected.set()
            self.all_primed.set()
        await self.all_connected.wait()
        failed = [st for st in self.streams if not st.connected]
        self.report(event="connected", ok=len(self.streams) - len(failed), failed=len(failed),
                    first_error=failed[0].error if failed else None)
        stop = asyncio.create_task(asyncio.to_thread(sys.stdin.readline))
        primed = asyncio.create_task(self.all_primed.wait())
        await asyncio.wait([stop, primed], return_when=asyncio.FIRST_COMPLETED)
        if primed.done():
            self.report(event="primed")
        await stop
        self.stopping = True
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.report(
            event="result", latencies_us=self.latencies_us,
            received=[[seq, first, last] for seq, (first, last) in self.received.items()],
            streams=[{"run": st.run_id, "frames": st.frames, "gaps": st.gaps, "dups": st.dups,
                      "seqs": st.seqs, "error": st.error} for st in self.streams],
        )


def client_main() -> int:
    raise_nofile()
    spec = json.loads(sys.stdin.readline())
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(ClientProcess(spec).main())
    return 0


# -- measuring the gateway process ---------------------------------------------------------


def proc_status_mb(pids: int | list[int], key: str) -> float | None:
    """A /proc/<pid>/status figure in MB, summed over `pids` (the gateway's processes)."""
    total, found = 0.0, False
    for pid in [pids] if isinstance(pids, int) else pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(key + ":"):
                    total += int(line.split()[1]) / 1024
                    found = True
        except OSError:
            continue
    return total if found else None


def proc_cpu_seconds(pids: int | list[int]) -> float:
    total = 0.0
    for pid in [pids] if isinstance(pids, int) else pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def gateway_pid(stack: Stack) -> list[int] | None:
    """The local gateway's processes (with `--gateway-workers N`, the supervisor and its N
    children), or None for a gateway at --url."""
    pids = stack.pids("gateway")
    return pids or None


def percentile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


# -- the latency phase (this process publishes, client processes read) -----------------------


@dataclass
class LatencyResult:
    name: str
    streams: int
    runs: int
    clients: int
    published: int = 0
    publish_errors: int = 0
    first_publish_error: str | None = None
    expected_deliveries: int = 0
    delivered: int = 0
    bad_streams: int = 0
    first_stream_error: str | None = None
    latencies_ms: list[float] = field(default_factory=list)
    spreads_ms: list[float] = field(default_factory=list)  # first → last stream to receive a message
    rate: float = 0.0
    connect_seconds: float = 0.0
    publish_seconds: float = 0.0
    rss_open_mb: float | None = None
    rss_max_mb: float | None = None
    gateway_cpu: float | None = None  # CPU seconds over the publishing window
    client_cpu: float = 0.0
    post_ms: list[float] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.publish_errors == 0 and self.bad_streams == 0 and self.delivered == self.expected_deliveries

    def p(self, q: float) -> float:
        return percentile(self.latencies_ms, q)


class Publisher:
    def __init__(self, http: Any, result: LatencyResult) -> None:
        self.http = http
        self.result = result

    async def post(self, run_id: str, details: dict[str, Any]) -> bool:
        started = time.perf_counter()
        try:
            answer = await self.http.post(f"{WORKFLOWS}/runs/{run_id}/updates",
                                          json={"type": "PROGRESS", "message": "bench", "details": details})
        except Exception as exc:
            self.result.publish_errors += 1
            self.result.first_publish_error = self.result.first_publish_error or repr(exc)
            return False
        if details.get("bench") == "m":
            self.result.post_ms.append((time.perf_counter() - started) * 1000)
        if answer.status_code != 201:
            self.result.publish_errors += 1
            self.result.first_publish_error = (self.result.first_publish_error
                                               or f"{answer.status_code} {answer.text[:300]}")
            return False
        return True


async def read_event(proc: asyncio.subprocess.Process, want: str, within: float) -> dict[str, Any]:
    assert proc.stdout is not None
    deadline = time.monotonic() + within
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no {want!r} from a client process within {within:.0f}s")
        line = await asyncio.wait_for(proc.stdout.readline(), remaining)
        if not line:
            raise RuntimeError(f"a client process ended before {want!r} (exit {await proc.wait()})")
        text = line.decode()
        if text.startswith(RESULT):
            data: dict[str, Any] = json.loads(text[len(RESULT):])
            if data["event"] == want:
                return data


async def latency_phase(stack: Stack, name: str, runs: list[tuple[str, str]], streams: int, clients: int,
                        rate: float, duration: float, log_dir: Path, status: Any) -> LatencyResult:
    import httpx

    clients = max(1, min(clients, streams))
    result = LatencyResult(name=name, streams=streams, runs=len(runs), clients=clients, rate=rate)
    assignment = [runs[i % len(runs)] for i in range(streams)]
    groups = [assignment[c::clients] for c in range(clients)]
    pid = gateway_pid(stack)
    procs: list[asyncio.subprocess.Process] = []
    logs = []
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=stack.gateway_url, headers=stack.headers, timeout=30,
                                 limits=limits) as http:
        publisher = Publisher(http, result)
        try:
            started = time.monotonic()
            status.update(f"{name}: opening {streams} streams from {clients} client processes…")
            slug = "".join(c if c.isalnum() else "_" for c in name)
            for index, group in enumerate(groups):
                log = open(log_dir / f"client-{slug}-{index}.log", "wb")  # noqa: SIM115, ASYNC230
                logs.append(log)
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, THIS_FILE, "--client",
                    stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=log,
                    limit=1 << 30,
                )
                assert proc.stdin is not None
                proc.stdin.write(json.dumps({
                    "url": stack.gateway_url, "token": stack.token, "streams": group,
                    "connect_concurrency": 32,
                }).encode() + b"\n")
                await proc.stdin.drain()
                procs.append(proc)
            connected = await asyncio.gather(*(read_event(p, "connected", 180) for p in procs))
            failed = sum(c["failed"] for c in connected)
            if failed:
                first = next(c["first_error"] for c in connected if c["failed"])
                raise RuntimeError(f"{failed} of {streams} streams failed to open; first: {first}")
            # A stream gets live messages once the hub has confirmed its subscription, which
            # the response headers do not say: publish primers until every stream got one.
            primed = asyncio.ensure_future(asyncio.gather(*(read_event(p, "primed", 120) for p in procs)))
            while not primed.done():
                await asyncio.gather(*(publisher.post(rid, {"bench": "p"}) for _, rid in runs))
                await asyncio.wait([primed], timeout=0.25)
            await primed
            result.connect_seconds = time.monotonic() - started
            await asyncio.sleep(0.5)  # let the primers drain
            if pid is not None:
                result.rss_open_mb = proc_status_mb(pid, "VmRSS")
                result.rss_max_mb = result.rss_open_mb

            status.update(f"{name}: publishing {rate:g} msg/s for {duration:g}s to {streams} streams…")
            expected: dict[str, list[int]] = {rid: [] for _, rid in runs}
            interval = 1 / rate
            total = max(1, round(rate * duration))
            t0 = time.monotonic() + 0.1
            cpu_before = proc_cpu_seconds(pid) if pid is not None else 0.0
            client_before = sum(proc_cpu_seconds(p.pid) for p in procs)

            async def publish_run(r: int, run_id: str) -> None:
                for seq in range(r, total, len(runs)):
                    delay = t0 + seq * interval - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    if await publisher.post(run_id, {"bench": "m", "seq": seq, "sent_ns": time.time_ns()}):
                        expected[run_id].append(seq)

            async def sample_rss() -> None:
                while pid is not None:
                    rss = proc_status_mb(pid, "VmRSS")
                    if rss is not None:
                        result.rss_max_mb = max(result.rss_max_mb or 0.0, rss)
                    await asyncio.sleep(0.25)

            sampler = asyncio.create_task(sample_rss())
            await asyncio.gather(*(publish_run(r, rid) for r, (_, rid) in enumerate(runs)))
            result.publish_seconds = time.monotonic() - t0
            await asyncio.sleep(1.5)  # the last messages reach every client
            sampler.cancel()
            if pid is not None:
                result.gateway_cpu = proc_cpu_seconds(pid) - cpu_before
            result.client_cpu = sum(proc_cpu_seconds(p.pid) for p in procs) - client_before
            result.published = sum(len(v) for v in expected.values())

            status.update(f"{name}: collecting results…")
            for proc in procs:
                assert proc.stdin is not None
                proc.stdin.write(b"stop\n")
                await proc.stdin.drain()
            reports = await asyncio.gather(*(read_event(p, "result", 120) for p in procs))
        finally:
            for proc in procs:
                if proc.returncode is None:
                    try:
                        await asyncio.wait_for(proc.wait(), 10)
                    except TimeoutError:
                        proc.kill()
                        await proc.wait()
            for log in logs:
                log.close()

    latencies: list[float] = []
    received: dict[int, list[int]] = {}
    for report in reports:
        latencies += [us / 1000 for us in report["latencies_us"]]
        for seq, first, last in report["received"]:
            seen = received.setdefault(seq, [first, last])
            seen[0], seen[1] = min(seen[0], first), max(seen[1], last)
        for st in report["streams"]:
            want = expected[st["run"]]
            result.expected_deliveries += len(want)
            result.delivered += len(st["seqs"])
            problem = st["error"]
            if problem is None and (st["gaps"] or st["dups"]):
                problem = f"ids not contiguous: {st['gaps']} gaps, {st['dups']} repeats"
            if problem is None and st["seqs"] != want:
                problem = f"got {len(st['seqs'])} of {len(want)} messages, or out of order"
            if problem is not None:
                result.bad_streams += 1
                result.first_stream_error = result.first_stream_error or f"run {st['run']}: {problem}"
    result.latencies_ms = sorted(latencies)
    result.spreads_ms = sorted((last - first) / 1e6 for first, last in received.values())
    return result


# -- setup -----------------------------------------------------------------------------------


async def create_runs(stack: Stack, count: int) -> list[tuple[str, str]]:
    import httpx

    runs: list[tuple[str, str]] = []
    todo = list(range(count))
    async with httpx.AsyncClient(base_url=stack.gateway_url, headers=stack.headers, timeout=60) as http:

        async def one() -> None:
            while todo:
                todo.pop()
                answer = await http.post(f"{WORKFLOWS}/execute/ApprovalWorkflow", json={"vars": {"subject": "bench"}})
                if answer.status_code != 200:
                    raise RuntimeError(f"starting a run: {answer.status_code} {answer.text[:300]}")
                [started] = answer.json()
                runs.append((started["workflow_id"], started["run_id"]))

        await asyncio.gather(*(one() for _ in range(8)))
    return runs


async def terminate_runs(stack: Stack, runs: list[tuple[str, str]]) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=stack.gateway_url, headers=stack.headers, timeout=30) as http:
        for wid, rid in runs:
            await http.post(f"{WORKFLOWS}/runs/{wid}/{rid}/actions/terminate")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    load = parser.add_argument_group("POST throughput (wrk)")
    load.add_argument("--wrk-duration", type=float, default=8, help="seconds per wrk phase")
    load.add_argument("--warmup", type=float, default=1, help="untimed wrk seconds before each phase")
    load.add_argument("--connections", type=int, default=32, help="wrk connections")
    load.add_argument("--threads", type=int, default=2, help="wrk threads")
    load.add_argument("--post-runs", type=int, default=32, help="runs the POSTs rotate over")
    lat = parser.add_argument_group("publish→client latency")
    lat.add_argument("--streams", type=int, default=1000, help="concurrent SSE streams of the big phases")
    lat.add_argument("--runs", type=int, default=10, help="runs the streams are spread over")
    lat.add_argument("--clients", type=int, default=4, help="SSE client processes")
    lat.add_argument("--rate", type=float, default=20, help="messages published per second (all runs)")
    lat.add_argument("--duration", type=float, default=10, help="seconds of publishing per phase")
    lat.add_argument("--one-run-rate", type=float, default=2,
                     help="messages/s when every stream is on one run (default: the same frames/s as "
                          "the spread layout; 20/s there saturates one gateway process)")
    lat.add_argument("--no-one-run", action="store_true", help="skip the phase with every stream on one run")
    lat.add_argument("--big-streams", type=int, default=5000, help="streams of the biggest layout")
    lat.add_argument("--big-runs", type=int, default=50, help="runs the biggest layout's streams are spread over")
    lat.add_argument("--no-big", action="store_true", help="skip the biggest layout (--big-streams on --big-runs)")
    add_stack_args(parser)
    return parser.parse_args(argv)


# -- report -----------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "[green]met[/]" if ok else "[red]MISSED[/]"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.client:
        return client_main()
    from rich.console import Console

    console = Console(width=None if sys.stdout.isatty() else 160)
    try:
        wrk_binary()
    except WrkMissing as exc:
        console.print(f"[red]{exc}[/]")
        return 2
    nofile = raise_nofile()  # the gateway inherits it from this process
    began = time.monotonic()
    load_before = os.getloadavg()
    wrk_results: list[tuple[str, LoadResult]] = []
    latency: list[LatencyResult] = []
    rss_idle = rss_hwm = None
    with stack_from_args(args) as stack, temp_dir() as tmp:
        pid = gateway_pid(stack)
        with console.status("starting ApprovalWorkflow runs…") as status:
            phases_runs = [1, args.runs] + ([] if args.no_one_run else [1]) + ([] if args.no_big else [args.big_runs])
            all_runs = asyncio.run(create_runs(stack, args.post_runs + sum(phases_runs)))
            post_runs, rest = all_runs[:args.post_runs], all_runs[args.post_runs:]

            # 1. POST throughput with a /healthz baseline.
            headers = {**stack.headers, "Content-Type": "application/json"}
            body = '{"type": "PROGRESS", "message": "wrk {n}", "details": {"n": {n}}}'
            phases = [
                ("GET /healthz (baseline)", "GET", [("/healthz", None)], 200),
                ("POST /runs/{id}/updates", "POST",
                 [(f"{WORKFLOWS}/runs/{rid}/updates", body) for _, rid in post_runs], 201),
            ]
            for index, (name, method, requests, expected) in enumerate(phases):
                script = write_script(Path(tmp), f"updates{index}", method=method, requests=requests,
                                      headers=headers, expected=expected)
                status.update(f"{name}: {args.wrk_duration:g}s at c={args.connections}…")
                if args.warmup > 0:
                    run_wrk(name, stack.gateway_url, script, connections=args.connections,
                            threads=args.threads, seconds=args.warmup)
                before, started = stack.cpu_seconds(), time.perf_counter()
                result = run_wrk(name, stack.gateway_url, script, connections=args.connections,
                                 threads=args.threads, seconds=args.wrk_duration)
                result.wall, after = time.perf_counter() - started, stack.cpu_seconds()
                result.cpu = {k: after[k] - before.get(k, 0.0) for k in after}
                stack.check_alive()
                wrk_results.append((name, result))

            # 2. + 3. Latency and memory.
            time.sleep(1)
            if pid is not None:
                rss_idle = proc_status_mb(pid, "VmRSS")
            layouts = [("1 on 1 run", rest[:1], 1, 1, args.rate),
                       (f"{args.streams} on {args.runs} runs", rest[1:1 + args.runs], args.streams,
                        args.clients, args.rate)]
            if not args.no_one_run:
                layouts.append((f"{args.streams} on 1 run", rest[1 + args.runs:2 + args.runs], args.streams,
                                args.clients, args.one_run_rate))
            if not args.no_big:
                big = rest[1 + args.runs + (0 if args.no_one_run else 1):]
                layouts.append((f"{args.big_streams} on {args.big_runs} runs", big, args.big_streams,
                                args.clients, args.rate))
            for name, runs, streams, clients, rate in layouts:
                latency.append(asyncio.run(latency_phase(
                    stack, name, runs, streams, clients, rate, args.duration, Path(tmp), status)))
                stack.check_alive()
                time.sleep(1)
            if pid is not None:
                rss_hwm = proc_status_mb(pid, "VmHWM")
            if args.url:
                asyncio.run(terminate_runs(stack, all_runs))

    valid = report(console, args, wrk_results, latency, rss_idle, rss_hwm)
    write_json(args.json, figures(args, wrk_results, latency, rss_idle, rss_hwm, valid))
    console.print(
        f"open files limit {nofile}; load average {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after "
        f"on {os.cpu_count()} CPUs (wrk, the SSE clients, Temporal, Redis and the gateway share them); "
        + ("[green]valid run[/]" if valid else "[red]INVALID run: see the errors above[/]")
        + f"; total time {time.monotonic() - began:.0f}s"
    )
    return 0 if valid else 1


def layout_key(r: LatencyResult) -> str:
    """`1000_on_10`: the layout's streams and runs, the key of its figures in the JSON."""
    return f"{r.streams}_on_{r.runs}"


def target_p99_ms(r: LatencyResult) -> float:
    return TARGET_P99_MS if r.streams <= 1000 else TARGET_P99_MS_BIG


def target_rss_mb(streams: int) -> float:
    return TARGET_RSS_MB if streams <= 1000 else TARGET_RSS_MB_BIG


def frame_cpu_us(r: LatencyResult) -> float | None:
    if r.gateway_cpu is None or not r.delivered:
        return None
    return r.gateway_cpu * 1e6 / r.delivered


def figures(args: argparse.Namespace, wrk_results: list[tuple[str, LoadResult]], latency: list[LatencyResult],
            rss_idle: float | None, rss_hwm: float | None, valid: bool) -> dict[str, Any]:
    """What `--json PATH` writes: the keys of docs/performance.md's table."""
    post = wrk_results[1][1] if len(wrk_results) > 1 else None
    post_cpu = post.cpu.get("gateway") if post is not None else None
    fan_out = [r for r in latency if r.streams > 1]
    # Gateway CPU per delivered frame where one message fans out to the most streams (the
    # streams-on-one-run layout when it ran): the per-stream cost, least diluted by the POSTs.
    widest = max(fan_out, key=lambda r: r.streams // r.runs, default=None)
    rss = [v for v in (rss_hwm, *(r.rss_max_mb for r in latency)) if v is not None]
    return {
        "valid": valid,
        "gateway_workers": args.gateway_workers,
        "post_rps": post.rps if post is not None else None,
        "post_cpu_us": post_cpu * 1e6 / max(1, post.requests) if post is not None and post_cpu else None,
        "healthz_rps": wrk_results[0][1].rps if wrk_results else None,
        "frame_cpu_us": frame_cpu_us(widest) if widest is not None else None,
        "rss_mb_idle": rss_idle,
        "rss_mb_max": max(rss) if rss else None,
        "sse": {
            layout_key(r): {
                "streams": r.streams, "runs": r.runs, "msg_per_s": r.rate, "frames": r.delivered,
                "p50_ms": r.p(50), "p90_ms": r.p(90), "p99_ms": r.p(99), "max_ms": r.p(100),
                "exactly_once": r.valid, "frame_cpu_us": frame_cpu_us(r), "rss_mb_max": r.rss_max_mb,
                "target_p99_ms": target_p99_ms(r) if r.streams > 1 else None,
            }
            for r in latency
        },
    }


def report(console: Any, args: argparse.Namespace, wrk_results: list[tuple[str, LoadResult]],
           latency: list[LatencyResult], rss_idle: float | None, rss_hwm: float | None) -> bool:
    from rich.table import Table

    # 1. Throughput.
    healthz = wrk_results[0][1]
    table = Table(title=f"1. Throughput of {args.gateway_workers} gateway process(es) (wrk c={args.connections} t={args.threads}, "
                        f"{args.wrk_duration:g}s; POSTs rotate over {args.post_runs} runs)")
    for name in ("request", "requests", "req/s", "p50 ms", "p99 ms", "× /healthz", "non-2xx+errors",
                 "gateway CPU %", "gateway µs/req", "req/s per core", f"target ≥ {TARGET_POST_RPS:,}/s, 0 errors"):
        table.add_column(name, justify="left" if name == "request" else "right", no_wrap=name == "request")
    for index, (name, r) in enumerate(wrk_results):
        errors = r.extra.get("non_2xx_3xx", 0) + r.errors
        gateway_s = r.cpu.get("gateway")
        per_req = gateway_s * 1e6 / max(1, r.requests) if gateway_s else None
        table.add_row(
            name, f"{r.requests:,}", f"{r.rps:,.0f}", f"{r.p50_ms:.2f}", f"{r.p99_ms:.2f}",
            f"{r.rps / healthz.rps:.2f}" if healthz.rps else "-",
            f"[red]{errors}[/]" if errors else "0",
            f"{100 * gateway_s / max(r.wall, 1e-9):.0f}" if gateway_s else "-",
            f"{per_req:.0f}" if per_req else "-",
            f"{1e6 / per_req:,.0f}" if per_req else "-",
            verdict(r.rps >= TARGET_POST_RPS and errors == 0) if index == 1 else "",
        )
    console.print(table)
    console.print("req/s per core = 1e6 / gateway CPU µs per request: what the process would do with a whole "
                  "core to itself (it shares 2 with wrk and Redis here).")
    for name, r in wrk_results:
        if r.errors:
            console.print(f"[red]{name}: {r.errors} errors; first: {r.first_error}[/]")

    # 2. Latency.
    table = Table(title=f"2. Publish → SSE client latency ({args.duration:g}s of publishing per layout; "
                        f"{args.clients} client processes for the big layouts)")
    for name in ("streams", "fan-out", "msg/s", "frames", "p50 ms", "p90 ms", "p99 ms", "max ms",
                 "spread p50 ms", "POST p50 ms", "gateway CPU %", "gateway µs/frame", "clients CPU %",
                 f"target p99 ≤ {TARGET_P99_MS:g} ms ({TARGET_P99_MS_BIG:g} ms for > 1,000 streams), exactly once"):
        table.add_column(name, justify="left" if name == "streams" else "right",
                         no_wrap=name in ("streams", "frames"))
    for r in latency:
        window = r.publish_seconds + 1.5
        fan_out = r.streams // r.runs
        ok = r.valid and (r.streams == 1 or r.p(99) <= target_p99_ms(r))
        table.add_row(
            r.name, str(fan_out), f"{r.rate:g}",
            f"{r.delivered:,}" if r.valid else f"[red]{r.delivered:,} of {r.expected_deliveries:,}[/]",
            f"{r.p(50):.1f}", f"{r.p(90):.1f}", f"{r.p(99):.1f}", f"{r.p(100):.1f}",
            f"{percentile(r.spreads_ms, 50):.1f}" if fan_out > 1 else "-",
            f"{statistics.median(r.post_ms):.1f}" if r.post_ms else "-",
            f"{100 * r.gateway_cpu / window:.0f}" if r.gateway_cpu is not None else "-",
            f"{r.gateway_cpu * 1e6 / max(1, r.delivered):.0f}" if r.gateway_cpu is not None and fan_out > 1 else "-",
            f"{100 * r.client_cpu / window:.0f}",
            verdict(ok) if r.streams > 1 else verdict(r.valid) + " (once)",
        )
    console.print(table)
    console.print(
        "Latency = client receive wall clock − publisher send wall clock (same host): the POST, Redis's Lua "
        "publish, the hub, the gateway's SSE response, uvicorn and the client's read. fan-out = streams per message; "
        "frames = delivered (every stream must get every message once, in order, ids contiguous); "
        "spread = first → last stream to receive one message; gateway µs/frame = gateway CPU in the window "
        "/ frames delivered. Streams are dealt round-robin to the client processes."
    )
    for r in latency:
        if r.publish_errors:
            console.print(f"[red]{r.name}: {r.publish_errors} publish errors; first: {r.first_publish_error}[/]")
        if r.bad_streams:
            console.print(f"[red]{r.name}: {r.bad_streams} streams missed, repeated or reordered messages; "
                          f"first: {r.first_stream_error}[/]")

    # 3. Memory.
    table = Table(title="3. Gateway memory (VmRSS, summed over the gateway's processes)")
    for name in ("when", "MB", f"target ≤ {TARGET_RSS_MB:g} MB ({TARGET_RSS_MB_BIG:g} MB with > 1,000 streams)"):
        table.add_column(name, justify="left" if name == "when" else "right")

    def mb(value: float | None) -> str:
        return f"{value:.0f}" if value is not None else "n/a (not a local gateway)"

    table.add_row("idle (after the wrk phase, no streams)", mb(rss_idle), "")
    for r in latency:
        if r.streams > 1:
            table.add_row(f"{r.name}: open, before publishing", mb(r.rss_open_mb), "")
            table.add_row(f"{r.name}: highest while publishing", mb(r.rss_max_mb),
                          verdict(r.rss_max_mb <= target_rss_mb(r.streams)) if r.rss_max_mb is not None else "")
    table.add_row("peak of the whole run (VmHWM)", mb(rss_hwm),
                  verdict(rss_hwm <= target_rss_mb(max((r.streams for r in latency), default=0)))
                  if rss_hwm is not None else "")
    console.print(table)
    return all(r.valid for r in latency) and all(r.errors == 0 for _, r in wrk_results)


if __name__ == "__main__":
    sys.exit(main())
