"""`signalway dev`: Temporal dev server, Redis, a worker and the gateway, all local, supervised.

    temporal ──┐
               ├──▶ worker, gateway      a dependent is (re)started only while both are up
    redis ─────┘

Each child runs in a session of its own with its output appended to a log in the data dir
(`temporal.log`, `redis/redis.log`, `worker.log`, `gateway.log`). State outlives a child's
restart and `signalway dev`'s own: Temporal's SQLite file (`temporal.db`) and Redis's AOF
(`redis/appendonlydir`), both in the data dir. The supervisor

- restarts a child that exits, after a backoff of 0.5 s doubling up to 10 s (back to 0.5 s
  once the child has stayed up for 30 s), and says so in one line:
  `redis exited with -9; restarting in 0.5 s`;
- gives up on a child that exits 5 times within 30 s: it names it, shows the end of its
  log, stops everything and exits 1 (a child that cannot start would otherwise loop forever);
- on SIGINT or SIGTERM stops the gateway, the worker, then Redis and Temporal, and exits 0;
- keeps `status.json` (its pid, each child's pid, state and restart count) current, and
  holds `dev.lock` so that two supervisors never share one data dir.

The worker and the gateway reconnect to a restarted Temporal or Redis by themselves, so a
backend's restart leaves them running.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import secrets
import shlex
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import httpx
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from signalway.env_names import warnings as unknown_variable_warnings
from signalway.localstack import (
    ManagedProcess,
    StackError,
    free_port,
    port_open,
    redis_process,
    temporal_process,
)
from signalway.tokens import mint

# Piped or logged output is not cut at 80 columns: URLs and curl lines must stay whole.
console = Console(stderr=False, width=None if sys.stdout.isatty() else 160)
DEV_PROJECT = "dev"
DEV_USER = "dev"
DEV_TOKEN_TTL = 30 * 24 * 3600
DEV_SECRET_FILE = "dev-secret"
STATUS_FILE = "status.json"

INITIAL_BACKOFF = 0.5
MAX_BACKOFF = 10.0
STABLE_AFTER = 30.0  # up at least this long: the next exit starts the backoff over
CRASH_LIMIT = 5  # this many exits within CRASH_WINDOW: the child will not stay up
CRASH_WINDOW = 30.0
TICK = 0.1
WORKER_READY_MARK = b"worker polling task queue"
# The worker logs WORKER_READY_MARK at INFO; under a quieter SIGNALWAY_LOG_LEVEL it counts as
# up once it has run this long without exiting.
WORKER_QUIET_READY_AFTER = 10.0
CONFIG_EXIT_CODE = 2  # signalway._config_errors.EXIT_CODE: a bad setting, not a crash

State = Literal["waiting", "starting", "up", "backoff", "stopped"]


class CrashLoop(StackError):
    """A child kept exiting right after it was started."""


class ConfigurationError(StackError):
    """A child said its settings are wrong (exit code 2): restarting it would not help."""


def _say(line: str, style: str | None = None) -> None:
    """One line of the supervisor's, as plain text (log tails hold brackets that are not
    markup), never wrapped: it may be read from a pipe or a log file."""
    console.print(line, style=style, markup=False, highlight=False, soft_wrap=True)


# -- the dev credentials (also read by `signalway token` and `signalway env`) ---------------


def _dev_secret(data_dir: Path, name: str = DEV_SECRET_FILE, make: Callable[[], str] | None = None) -> str:
    """A secret made once and kept in the data directory, so tokens and URLs survive restarts."""
    path = data_dir / name
    if not path.exists():
        path.write_text((make or (lambda: secrets.token_urlsafe(32)))())
        path.chmod(0o600)
    return path.read_text().strip()


def dev_api_key(secret: str) -> str:
    """The dev API key (project `dev`), derived from the dev secret so that it needs no file."""
    return f"sk_dev_{secret[:16]}"


def dev_token(secret: str) -> str:
    return mint(secret, project=DEV_PROJECT, user=DEV_USER, ttl_seconds=DEV_TOKEN_TTL)


def _webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


# -- supervision -----------------------------------------------------------------------------


@dataclass(eq=False)
class Service:
    """One supervised child: how to start it, how to tell it is up, and what it needs first."""

    name: str
    spawn: Callable[[], ManagedProcess]
    probe: Callable[[ManagedProcess], bool]
    address: str  # where it listens, for status.json
    announce: str  # what the "ready" line says after the name
    needs: tuple[str, ...] = ()
    start_timeout: float = 60
    process: ManagedProcess | None = None
    state: State = "waiting"
    up_since: float | None = None
    restart_at: float = 0.0
    backoff: float = INITIAL_BACKOFF
    exits: deque[float] = field(default_factory=deque)
    restarts: int = 0


class Supervisor:
    """Starts the services in dependency order and keeps them running; see the module docstring."""

    def __init__(self, services: list[Service], *, status_path: Path,
                 on_all_up: Callable[[], None] = lambda: None) -> None:
        self.services = services
        self.status_path = status_path
        self._on_all_up = on_all_up
        self._announced = False
        self._by_name = {s.name: s for s in services}

    def run(self, should_stop: Callable[[], bool]) -> None:
        """Supervise until `should_stop()`; raises CrashLoop (or StackError) to give up."""
        self._write_status()
        while not should_stop():
            self.step(time.monotonic())
            time.sleep(TICK)

    def step(self, now: float) -> None:
        for service in self.services:
            process = service.process
            if service.state in ("starting", "up") and process is not None and not process.running():
                process.stop()  # closes its log
                self._exited(service, now, f"exited with {process.popen.returncode}")
            elif service.state == "starting" and process is not None:
                if service.probe(process):
                    service.state, service.up_since = "up", now
                    _say(f"{service.name} ready {service.announce} ({now - process.started_at:.1f} s)")
                    self._write_status()
                elif now - process.started_at > service.start_timeout:
                    process.stop(timeout=5)
                    self._exited(service, now, f"was not ready within {service.start_timeout:.0f} s")
            elif service.state in ("waiting", "backoff") and now >= service.restart_at and all(
                self._by_name[need].state == "up" for need in service.needs
            ):
                try:
                    service.process = service.spawn()
                except OSError as exc:
                    raise StackError(f"{service.name} could not be started: {exc}") from exc
                service.state = "starting"
                self._write_status()
        if not self._announced and all(s.state == "up" for s in self.services):
            self._announced = True
            self._on_all_up()

    def _exited(self, service: Service, now: float, why: str) -> None:
        process = service.process
        if process is not None and process.popen.returncode == CONFIG_EXIT_CODE:
            # Its own lines say which variable (one per problem); the rest of its log is older.
            output = process.output().decode(errors="replace")
            said = [line for line in output.splitlines() if line.startswith("configuration error: ")]
            raise ConfigurationError("\n".join(said) or f"{service.name}: configuration error (see {process.log_path})")
        service.exits.append(now)
        while service.exits and now - service.exits[0] > CRASH_WINDOW:
            service.exits.popleft()
        log = service.process.log_path if service.process else "its log"
        if len(service.exits) >= CRASH_LIMIT:
            tail = (service.process.tail(30) if service.process else "") or "(nothing)"
            raise CrashLoop(
                f"{service.name} keeps exiting ({why}, {len(service.exits)} times within {CRASH_WINDOW:.0f} s): "
                f"not restarting it again. The end of {log}:\n{tail}"
            )
        if service.up_since is not None and now - service.up_since >= STABLE_AFTER:
            service.backoff = INITIAL_BACKOFF
        service.state, service.up_since = "backoff", None
        service.restart_at = now + service.backoff
        service.restarts += 1
        _say(f"{service.name} {why}; restarting in {service.backoff:g} s (log: {log})", "yellow")
        service.backoff = min(service.backoff * 2, MAX_BACKOFF)
        self._write_status()

    def stop(self) -> None:
        """Stop the children in reverse order: the gateway first (no new requests), then the
        worker (it drains), then the backends."""
        for service in reversed(self.services):
            if service.process is not None:
                service.process.stop()
            service.state = "stopped"
        self._write_status()

    def _write_status(self) -> None:
        status = {
            "supervisor_pid": os.getpid(),
            "services": {
                s.name: {
                    "pid": s.process.popen.pid if s.process is not None and s.process.running() else None,
                    "state": s.state,
                    "restarts": s.restarts,
                    "address": s.address,
                }
                for s in self.services
            },
        }
        # Written beside and renamed: a reader never sees half a file.
        partial = self.status_path.with_suffix(".tmp")
        partial.write_text(json.dumps(status, indent=2) + "\n")
        partial.replace(self.status_path)


# -- readiness probes ------------------------------------------------------------------------


def _port_probe(port: int) -> Callable[[ManagedProcess], bool]:
    return lambda _process: port_open("127.0.0.1", port)


def _worker_probe(process: ManagedProcess) -> bool:
    if WORKER_READY_MARK in process.output():
        return True
    return time.monotonic() - process.started_at >= WORKER_QUIET_READY_AFTER


def _readyz_probe(url: str) -> Callable[[ManagedProcess], bool]:
    def probe(_process: ManagedProcess) -> bool:
        try:
            return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    return probe


# -- `signalway dev` -------------------------------------------------------------------------


def _pick(port: int, what: str) -> int:
    if not port_open("127.0.0.1", port):
        return port
    other = free_port()
    _say(f"port {port} is taken; {what} uses {other}", "yellow")
    return other


@contextmanager
def _data_dir_lock(data_dir: Path) -> Iterator[bool]:
    """Held while a supervisor runs: two would share one SQLite file and one AOF."""
    with open(data_dir / "dev.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True


def _cli() -> str:
    """How to call this very `signalway` from the shell the banner is read in."""
    script = Path(sys.executable).parent / "signalway"
    if not script.exists():
        return "signalway"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def _without_password(url: str) -> str:
    """An external Redis URL as the banner shows it: a password in it stays out of the terminal."""
    parts = urlsplit(url)
    userinfo, at, hosts = parts.netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    # By hand, not parts.hostname/port: a Sentinel URL lists several host:port pairs.
    return urlunsplit(parts._replace(netloc=f"{userinfo.split(':', 1)[0]}:***@{hosts}"))


@contextmanager
def _environment(overrides: dict[str, str]) -> Iterator[None]:
    """os.environ with `overrides` set, as a child started with them sees it; then as it was."""
    saved = {name: os.environ.get(name) for name in overrides}
    os.environ.update(overrides)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _served_types(env: dict[str, str]) -> frozenset[str]:
    """The workflow types the gateway's catalog serves (SIGNALWAY_WORKFLOWS, or the examples)."""
    from signalway.gateway.settings import GatewaySettings

    with _environment(env):
        try:
            return frozenset(GatewaySettings().workflows.names())
        except ValueError:  # reported by _settings_problems before anything starts
            return frozenset()


def _settings_problems(env: dict[str, str]) -> list[str]:
    """What the gateway and the worker would say about their settings, before either starts."""
    from signalway._config_errors import settings_problems
    from signalway.gateway.settings import GatewaySettings
    from signalway.worker.settings import WorkerSettings

    with _environment(env):
        lines = settings_problems(GatewaySettings) + settings_problems(WorkerSettings)
    return list(dict.fromkeys(lines))  # a setting both read is told once


def run_dev(*, data_dir: Path, gateway_port: int, temporal_port: int, ui_port: int, redis_port: int,
            redis_url: str | None = None) -> int:
    data_dir.mkdir(parents=True, exist_ok=True)
    with _data_dir_lock(data_dir) as locked:
        if not locked:
            _say(f"another `signalway dev` is running with the data dir {data_dir.resolve()} "
                 f"(see {data_dir / STATUS_FILE})", "red")
            return 1
        return _run_dev(data_dir=data_dir, gateway_port=gateway_port, temporal_port=temporal_port,
                        ui_port=ui_port, redis_port=redis_port, redis_url=redis_url)


def _run_dev(*, data_dir: Path, gateway_port: int, temporal_port: int, ui_port: int, redis_port: int,
             redis_url: str | None) -> int:
    if port_open("127.0.0.1", gateway_port):
        _say(f"port {gateway_port} is already in use: is another `make dev` running? "
             "Pick another with `make dev PORT=8001` or `signalway dev --port 8001`.", "red")
        return 1
    temporal_port = _pick(temporal_port, "Temporal")
    ui_port = _pick(ui_port, "the Temporal Web UI")
    if redis_url is None:
        redis_port = _pick(redis_port, "Redis")
    secret = _dev_secret(data_dir)
    api_key = dev_api_key(secret)
    url = f"http://127.0.0.1:{gateway_port}"
    env = {
        "SIGNALWAY_TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
        # The local dev server, whatever TEMPORAL_* (Temporal's environment configuration,
        # which the processes read too) says about another cluster.
        "SIGNALWAY_TEMPORAL_NAMESPACE": "default",
        "SIGNALWAY_TEMPORAL_TLS": "false",
        "SIGNALWAY_REDIS_URL": redis_url or f"redis://127.0.0.1:{redis_port}/0",
        "SIGNALWAY_JWT_SECRET": secret,
        "SIGNALWAY_API_KEYS": json.dumps({api_key: DEV_PROJECT}),
        "SIGNALWAY_HOST": "127.0.0.1",
        "SIGNALWAY_PORT": str(gateway_port),
        "SIGNALWAY_ACCESS_LOG": "true",
        "SIGNALWAY_PUBLIC_URL": url,
        "SIGNALWAY_TEMPORAL_UI_URL": f"http://127.0.0.1:{ui_port}",
        "SIGNALWAY_RESUME_SECRET": _dev_secret(data_dir, "resume-secret"),
        "SIGNALWAY_WEBHOOK_SECRET": _dev_secret(data_dir, "webhook-secret", _webhook_secret),
    }
    # A bad value stops everything before anything starts, in one line per problem; a name
    # no process reads is most likely a misspelling.
    for line in unknown_variable_warnings():
        _say(f"warning: {line}", "yellow")
    problems = _settings_problems(env)
    if problems:
        for line in problems:
            _say(line, "red")
        return CONFIG_EXIT_CODE
    python = sys.executable
    task_queue = os.environ.get("SIGNALWAY_TASK_QUEUE", "signalway")
    _write_stack_file(data_dir, {
        "url": url, "temporal_address": env["SIGNALWAY_TEMPORAL_ADDRESS"],
        "temporal_namespace": os.environ.get("SIGNALWAY_TEMPORAL_NAMESPACE", "default"),
        "redis_url": env["SIGNALWAY_REDIS_URL"], "task_queue": task_queue,
    })
    backends: list[Service] = [Service(
        "temporal", address=f"127.0.0.1:{temporal_port}",
        announce=f"on 127.0.0.1:{temporal_port}, Web UI on http://127.0.0.1:{ui_port}",
        spawn=lambda: temporal_process(data_dir, port=temporal_port, ui_port=ui_port, die_with_parent=True),
        probe=_port_probe(temporal_port),
    )]
    if redis_url is None:
        backends.append(Service(
            "redis", address=f"127.0.0.1:{redis_port}", announce=f"on 127.0.0.1:{redis_port}",
            spawn=lambda: redis_process(data_dir / "redis", port=redis_port, persistent=True, die_with_parent=True),
            probe=_port_probe(redis_port), start_timeout=30,
        ))
    needs = tuple(s.name for s in backends)
    services = [*backends, Service(
        "worker", address=task_queue, announce=f"on task queue {task_queue!r}", needs=needs,
        spawn=lambda: ManagedProcess("worker", [python, "-m", "signalway.worker"], env=env,
                                     log_path=data_dir / "worker.log", die_with_parent=True),
        probe=_worker_probe,
    ), Service(
        "gateway", address=url, announce=f"on {url}", needs=needs,
        spawn=lambda: ManagedProcess("gateway", [python, "-m", "signalway.gateway"], env=env,
                                     log_path=data_dir / "gateway.log", die_with_parent=True),
        probe=_readyz_probe(url),
    )]

    def all_up() -> None:
        _banner(url, ui_port, temporal_port, _without_password(env["SIGNALWAY_REDIS_URL"]), dev_token(secret),
                api_key, data_dir, env["SIGNALWAY_WEBHOOK_SECRET"],
                os.environ.get("SIGNALWAY_WEBHOOK_ALLOWED_NETWORKS", ""), served=_served_types(env))

    supervisor = Supervisor(services, status_path=data_dir / STATUS_FILE, on_all_up=all_up)
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    _say(f"starting {', '.join(s.name for s in services)}; state and logs in {data_dir.resolve()}")
    try:
        supervisor.run(lambda: stopping)
        return 0
    except ConfigurationError as exc:
        _say(str(exc), "red")
        return CONFIG_EXIT_CODE
    except StackError as exc:
        _say(str(exc), "red")
        return 1
    finally:
        _say("stopping…")
        supervisor.stop()
        _say("stopped")


STACK_FILE = "stack.json"  # where the running stack listens: read by `signalway env`


def _write_stack_file(data_dir: Path, values: dict[str, str]) -> None:
    """Where this stack listens, for `signalway env` in another shell (a Redis URL may hold a
    password: owner-only)."""
    partial = data_dir / (STACK_FILE + ".tmp")
    partial.write_text(json.dumps(values, indent=2) + "\n")
    partial.chmod(0o600)
    partial.replace(data_dir / STACK_FILE)


def env_lines(data_dir: Path) -> str:
    """`export` lines for the dev stack whose state is in `data_dir`: TOKEN and API_KEY for
    curl, SIGNALWAY_URL (the gateway's base URL), and what a worker of one's own needs to join
    the stack (the SIGNALWAY_* settings `signalway worker` and `worker.settings` read)."""
    path = data_dir / DEV_SECRET_FILE
    if not path.exists():
        raise StackError(f"no dev secret in {data_dir.resolve()}: run `signalway dev` first, or pass --data-dir")
    secret = path.read_text().strip()
    values = {"TOKEN": dev_token(secret), "API_KEY": dev_api_key(secret)}
    try:
        stack = json.loads((data_dir / STACK_FILE).read_text())
    except (OSError, ValueError):
        stack = {}  # a data dir from before stack.json: the credentials only
    if stack:
        values["SIGNALWAY_URL"] = stack["url"]
        values["SIGNALWAY_PUBLIC_URL"] = stack["url"]
        values["SIGNALWAY_TEMPORAL_ADDRESS"] = stack["temporal_address"]
        values["SIGNALWAY_TEMPORAL_NAMESPACE"] = stack["temporal_namespace"]
        values["SIGNALWAY_REDIS_URL"] = stack["redis_url"]
        for name, file in (("SIGNALWAY_RESUME_SECRET", "resume-secret"), ("SIGNALWAY_WEBHOOK_SECRET", "webhook-secret")):
            if (data_dir / file).exists():
                values[name] = (data_dir / file).read_text().strip()
    return "\n".join(f"export {name}={shlex.quote(value)}" for name, value in values.items())


def _webhook_targets(allowed: str) -> list[str]:
    """What the banner says about where webhooks may go, true to SIGNALWAY_WEBHOOK_ALLOWED_NETWORKS."""
    from ipaddress import ip_address

    from signalway.webhook_targets import parse_networks

    networks = parse_networks(allowed)  # already checked by _settings_problems
    if not networks:
        return ["public addresses only; for a receiver on this machine:",
                "SIGNALWAY_WEBHOOK_ALLOWED_NETWORKS=127.0.0.1/32 make dev"]
    loopback = any(ip_address("127.0.0.1") in net or ip_address("::1") in net for net in networks)
    where = ("receivers on this machine included" if loopback
             else "not to this machine: add 127.0.0.1/32 for a receiver here")
    return [f"public addresses and {', '.join(str(n) for n in networks)}", where]


def _banner(url: str, ui_port: int, temporal_port: int, redis_url: str, token: str, api_key: str,
            data_dir: Path, webhook_secret: str = "", allowed_networks: str = "",
            served: frozenset[str] = frozenset({"ApprovalWorkflow", "ConversationWorkflow"})) -> None:
    """What `signalway dev` prints once everything is up; no line of it is wider than 100
    columns but the dev token's, printed alone so that it can be copied whole. The curl lines
    use the example workflows the catalog serves (`served`); with a catalog of one's own, its
    types are named instead."""
    # For another shell, after `eval "$(signalway env)"`: they work on whatever port this is.
    curl_start = (
        'curl -s -X POST "$SIGNALWAY_URL/api/v1/durable/workflows" \\\n'
        """  -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\\n"""
        """  -d '{"workflow_type": "ApprovalWorkflow", "input": {"subject": "ship it"}}'"""
    )
    curl_signal = (
        'curl -s -X POST "$SIGNALWAY_URL/api/v1/durable/workflows/<ID>/signal" \\\n'
        """  -H "Authorization: $API_KEY" -H 'Content-Type: application/json' \\\n"""
        """  -d '{"signal_type": "approve", "payload": {"approver": "me"}}'"""
    )
    curl_runs = (
        'curl -s -X POST "$SIGNALWAY_URL/api/v1/workflows/execute/ConversationWorkflow" \\\n'
        """  -H "Authorization: Bearer $TOKEN" -d '{"vars": {}}'\n"""
        'curl -s -X POST "$SIGNALWAY_URL/api/v1/workflows/conversations" \\\n'
        """  -H "Authorization: Bearer $TOKEN" -d '{"status": "running"}'"""
    )
    env_command = f"{_cli()} env" + ("" if data_dir == Path(".signalway") else f" --data-dir {shlex.quote(str(data_dir))}")
    webhooks = _webhook_targets(allowed_networks)
    rows = [
        ("Gateway", f"{url}   (OpenAPI: {url}/openapi.json)"),
        ("Temporal Web UI", f"http://127.0.0.1:{ui_port}"),
        ("Temporal", f"127.0.0.1:{temporal_port}"),
        ("Redis", redis_url),
        ("State and logs", str(data_dir.resolve())),
        ("Dev API key", f"{api_key}   (durable workflows and event triggers)"),
        ("Webhook secret", webhook_secret),
        ("", "(it signs webhook-and-wait deliveries)"),
        ("Webhooks go to", webhooks[0]),
        ("", webhooks[1]),
        ("In another shell", f'eval "$({env_command})"'),
        ("", "sets SIGNALWAY_URL, TOKEN, API_KEY and what a worker of your own needs"),
    ]
    body = "\n".join(f"[bold]{label:<17}[/]{escape(value)}" for label, value in rows)
    console.print(Panel.fit(body, title="Signalway is running", border_style="green"))
    console.print(f"\nDev token (project {DEV_PROJECT!r}, user {DEV_USER!r}, valid 30 days):\n")
    console.print(token, soft_wrap=True, highlight=False, markup=False)
    if "ApprovalWorkflow" in served:
        console.print("\nIn another shell, after the eval above, start a workflow:\n", soft_wrap=True)
        console.print(curl_start, soft_wrap=True, highlight=False, markup=False)
        console.print("\nThen approve it (use the id from the answer):\n", soft_wrap=True)
        console.print(curl_signal, soft_wrap=True, highlight=False, markup=False)
    if "ConversationWorkflow" in served:
        console.print("\nThe workflow runs API: start a conversation, then list conversations:\n", soft_wrap=True)
        console.print(curl_runs, soft_wrap=True, highlight=False, markup=False)
    own = sorted(served - {"ApprovalWorkflow", "ConversationWorkflow", "StandardContentIngestion",
                           "OrderFulfillmentWorkflow"})
    if own:
        console.print("\nThe catalog (SIGNALWAY_WORKFLOWS) serves " + ", ".join(own)
                      + ": docs/your-workflows.md shows how to start and signal them.", soft_wrap=True)
    console.print("\nA child that crashes is restarted; Ctrl-C stops everything; state survives in the data"
                  " directory.\n", soft_wrap=True)
