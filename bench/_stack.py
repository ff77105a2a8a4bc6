"""A throwaway local stack for the benchmarks, or an already-running gateway.

    with stack_from_args(args) as stack:
        stack.gateway_url, stack.token, stack.temporal_address, stack.temporal_http_url

`local_stack()` starts, on free ports in a temp dir: the Temporal dev server (headless, SQLite
with WAL pragmas, Signalway's search attributes, and its HTTP API on `--http-port`), Redis
(no persistence; or a Redis Cluster with `--redis cluster`), one worker (`python -m signalway.worker`) and one gateway (`python -m signalway
gateway`); it waits for the gateway's /readyz and stops everything, in reverse order, at the
end. Nothing here is used by the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/x.py` puts bench/, not the repo, on sys.path
    sys.path.insert(0, str(ROOT))

from signalway.localstack import (  # noqa: E402
    ManagedProcess,
    StackError,
    free_port,
    start_redis,
    start_redis_cluster,
    start_temporal,
)
from signalway.tokens import mint  # noqa: E402

PROJECT = "bench"
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
USER = "bench"


@dataclass
class Stack:
    gateway_url: str
    token: str
    temporal_address: str | None = None  # host:port of the frontend (gRPC), for SDK clients
    temporal_http_url: str | None = None  # Temporal's own HTTP API (start-dev --http-port)
    namespace: str = "default"
    data_dir: Path | None = None
    processes: list[ManagedProcess] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user + system, all threads) each local process has used so far, its live
        child processes included (the processes of `signalway gateway --workers N`)."""
        out: dict[str, float] = {}
        for process in self.processes:
            total = 0.0
            for pid in process_tree(process.popen.pid):
                try:
                    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                total += (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
            out[process.name] = total
        return out

    def pids(self, name: str) -> list[int]:
        """The pids of one local process and its children (the gateway's worker processes)."""
        return [pid for process in self.processes if process.name == name for pid in process_tree(process.popen.pid)]

    def check_alive(self) -> None:
        """Raise if a process of a local stack died (e.g. during a load run)."""
        for process in self.processes:
            if not process.running():
                raise StackError(f"{process.name} exited ({process.popen.returncode}):\n{process.tail(30)}")


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (Linux /proc), parents first."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop(0)
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                todo += [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                continue
    return found


def wait_ready(url: str, processes: list[ManagedProcess], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        for process in processes:
            if not process.running():
                raise StackError(f"{process.name} exited early:\n{process.tail(30)}")
        try:
            answer = httpx.get(f"{url}/readyz", timeout=3)
            if answer.status_code == 200:
                return
            last = f"{answer.status_code} {answer.text[:200]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.2)
    raise StackError(f"the gateway at {url} was not ready within {timeout:.0f}s (last: {last})")


@contextmanager
def local_stack(*, keep: bool = False, log: bool = True, gateway_workers: int = 1,
                redis: str = "single") -> Iterator[Stack]:
    """Temporal + Redis + worker + gateway on free ports; all stopped on exit.

    `keep` leaves the temp dir (logs, SQLite file) behind for a look afterwards;
    `gateway_workers` runs `signalway gateway --workers N` (N processes on one port);
    `redis="cluster"` puts a Redis Cluster (3 primaries, a replica each) in place of the
    single Redis.
    """
    data_dir = Path(tempfile.mkdtemp(prefix="signalway-bench-"))
    processes: list[ManagedProcess] = []
    host = "127.0.0.1"
    temporal_port, http_port, redis_port, gateway_port = free_port(), free_port(), free_port(), free_port()
    secret = secrets.token_urlsafe(48)  # 64 characters, well over the 32 bytes HS256 needs
    env = {
        "SIGNALWAY_TEMPORAL_ADDRESS": f"{host}:{temporal_port}",
        "SIGNALWAY_JWT_SECRET": secret,
        "SIGNALWAY_API_KEYS": json.dumps({}),
        "SIGNALWAY_HOST": host,
        "SIGNALWAY_PORT": str(gateway_port),
        "SIGNALWAY_ACCESS_LOG": "false",
        "SIGNALWAY_LOG_LEVEL": "WARNING",
        # One bench token opens thousands of streams (updates.py): no per-caller stream cap.
        "SIGNALWAY_MAX_STREAMS_PER_PRINCIPAL": "100000",
        # One bench project is all the load: the per-project quotas (docs/operations.md#quotas)
        # would measure themselves, not the gateway.
        "SIGNALWAY_MAX_STREAMS_PER_PROJECT": "0",
        "SIGNALWAY_MAX_STREAMS_PER_PROCESS": "0",
        "SIGNALWAY_QUOTA_RUNS_PER_MINUTE_PER_PROJECT": "0",
        "SIGNALWAY_QUOTA_UPDATE_BYTES_PER_PROJECT": "0",
        "SIGNALWAY_QUOTA_WAITING_TRIGGERS_PER_PROJECT": "0",
        "SIGNALWAY_QUOTA_WAITING_TRIGGER_BYTES_PER_PROJECT": "0",
        "SIGNALWAY_GATEWAY_WORKERS": str(gateway_workers),
    }
    started = time.monotonic()
    try:
        if log:
            print(f"starting Temporal, Redis, worker and gateway in {data_dir} …", file=sys.stderr)
        # start_temporal takes --http-port: Temporal's own HTTP API is a comparison point.
        processes.append(start_temporal(data_dir / "temporal", port=temporal_port, ui_port=None,
                                        http_port=http_port, host=host, timeout=90))
        if redis == "cluster":
            cluster = start_redis_cluster(data_dir / "redis-cluster")
            processes.extend(cluster.processes.values())
            env["SIGNALWAY_REDIS_URL"] = cluster.url
        else:
            processes.append(start_redis(data_dir / "redis", port=redis_port, host=host, persistent=False))
            env["SIGNALWAY_REDIS_URL"] = f"redis://{host}:{redis_port}/0"
        if log:
            print(f"Redis: {env['SIGNALWAY_REDIS_URL']}", file=sys.stderr)
        python = sys.executable
        processes.append(ManagedProcess("worker", [python, "-m", "signalway.worker"], env=env,
                                        log_path=data_dir / "worker.log", cwd=ROOT))
        processes.append(ManagedProcess("gateway", [python, "-m", "signalway", "gateway"], env=env,
                                        log_path=data_dir / "gateway.log", cwd=ROOT))
        url = f"http://{host}:{gateway_port}"
        wait_ready(url, processes)
        if log:
            print(f"stack ready in {time.monotonic() - started:.1f}s: gateway {url}, "
                  f"Temporal {host}:{temporal_port} (HTTP API :{http_port})", file=sys.stderr)
        yield Stack(
            gateway_url=url,
            token=mint(secret, project=PROJECT, user=USER, ttl_seconds=6 * 3600),
            temporal_address=f"{host}:{temporal_port}",
            temporal_http_url=f"http://{host}:{http_port}",
            data_dir=data_dir,
            processes=processes,
        )
    finally:
        # Gateway first, then the worker, then the backends.
        for process in reversed(processes):
            process.stop()
        if keep:
            print(f"logs and data kept in {data_dir}", file=sys.stderr)
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


def add_stack_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("target (default: a throwaway local stack)")
    group.add_argument("--url", help="an already-running gateway, e.g. http://127.0.0.1:8000")
    group.add_argument("--token", help="Bearer JWT for --url (e.g. from `signalway token`)")
    group.add_argument("--temporal", default=None,
                       help="with --url: the Temporal frontend host:port, for SDK clients")
    group.add_argument("--temporal-http", default=None,
                       help="with --url: Temporal's HTTP API base URL (start-dev --http-port)")
    group.add_argument("--namespace", default="default", help="with --url: Temporal namespace")
    group.add_argument("--keep", action="store_true", help="keep the local stack's temp dir (logs)")
    group.add_argument("--gateway-workers", type=int, default=1,
                       help="gateway processes of the local stack (`signalway gateway --workers N`)")
    group.add_argument("--redis", choices=("single", "cluster"), default="single",
                       help="the local stack's Redis: one server, or a Redis Cluster of 3 primaries with a replica each")
    group.add_argument("--json", metavar="PATH", default=None, help="also write the figures to PATH as JSON")


@contextmanager
def stack_from_args(args: argparse.Namespace) -> Iterator[Stack]:
    if args.url:
        if not args.token:
            raise SystemExit("--url needs --token (a Bearer JWT the gateway accepts)")
        url = args.url.rstrip("/")
        wait_ready(url, [], timeout=10)
        yield Stack(gateway_url=url, token=args.token, temporal_address=args.temporal,
                    temporal_http_url=args.temporal_http.rstrip("/") if args.temporal_http else None,
                    namespace=args.namespace)
        return
    with ExitStack() as stack:
        yield stack.enter_context(local_stack(keep=args.keep, gateway_workers=args.gateway_workers,
                                              redis=args.redis))


async def create_durable(stack: Stack, workflow_type: str, inputs: list[dict[str, object]], *,
                         concurrency: int = 16) -> list[str]:
    """Start one workflow per input through the gateway's durable API; their ids, in order."""
    ids: list[str | None] = [None] * len(inputs)
    queue = list(enumerate(inputs))
    async with httpx.AsyncClient(base_url=stack.gateway_url, headers=stack.headers, timeout=30) as http:

        async def worker() -> None:
            while queue:
                index, value = queue.pop()
                answer = await http.post("/api/v1/durable/workflows",
                                         json={"workflow_type": workflow_type, "input": value})
                if answer.status_code != 201:
                    raise StackError(f"creating {workflow_type}: {answer.status_code} {answer.text[:300]}")
                ids[index] = answer.json()["id"]

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return [i for i in ids if i is not None]


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of `values`, 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


class BenchError(RuntimeError):
    pass


def write_json(path: str | None, figures: dict[str, object]) -> None:
    """`--json PATH`: the run's figures as one JSON document (nothing without a path)."""
    if path:
        Path(path).write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")


async def serve_webhook_receiver(hook: Callable[[Request], Awaitable[Response]], port: int) -> uvicorn.Server:
    """A local webhook receiver (`POST /hook` → `hook`) on 127.0.0.1:`port`, once it accepts connections."""
    app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off", access_log=False))
    asyncio.get_running_loop().create_task(server.serve())
    for _ in range(200):
        if server.started:
            return server
        await asyncio.sleep(0.05)
    raise BenchError("the webhook receiver did not start")
