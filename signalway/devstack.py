"""`signalway dev`: Temporal dev server, Redis, a worker and the gateway, all local."""

from __future__ import annotations

import base64
import json
import secrets
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from rich.console import Console
from rich.panel import Panel

from signalway.localstack import (
    ManagedProcess,
    StackError,
    free_port,
    port_open,
    start_redis,
    start_temporal,
)
from signalway.tokens import mint

console = Console(stderr=False)
DEV_PROJECT = "dev"
DEV_USER = "dev"


def _pick(port: int, what: str) -> int:
    if not port_open("127.0.0.1", port):
        return port
    other = free_port()
    console.print(f"[yellow]port {port} is taken; {what} uses {other}[/]")
    return other


def _dev_secret(data_dir: Path, name: str = "dev-secret", make: Callable[[], str] | None = None) -> str:
    """A secret made once and kept in the data directory, so tokens and URLs survive restarts."""
    path = data_dir / name
    if not path.exists():
        path.write_text((make or (lambda: secrets.token_urlsafe(32)))())
        path.chmod(0o600)
    return path.read_text().strip()


def _webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _wait_ready(url: str, children: list[ManagedProcess], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in children:
            if not child.running():
                raise StackError(f"{child.name} exited early:\n{child.tail()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise StackError(f"the gateway did not become ready within {timeout:.0f}s")


def run_dev(*, data_dir: Path, gateway_port: int, temporal_port: int, ui_port: int, redis_port: int) -> int:
    data_dir.mkdir(parents=True, exist_ok=True)
    if port_open("127.0.0.1", gateway_port):
        console.print(f"[red]port {gateway_port} is already in use: is another `make dev` running?[/]")
        return 1
    temporal_port = _pick(temporal_port, "Temporal")
    ui_port = _pick(ui_port, "the Temporal Web UI")
    redis_port = _pick(redis_port, "Redis")
    secret = _dev_secret(data_dir)
    api_key = f"sk_dev_{secret[:16]}"
    env = {
        "SIGNALWAY_TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
        "SIGNALWAY_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "SIGNALWAY_JWT_SECRET": secret,
        "SIGNALWAY_API_KEYS": json.dumps({api_key: DEV_PROJECT}),
        "SIGNALWAY_HOST": "127.0.0.1",
        "SIGNALWAY_PORT": str(gateway_port),
        "SIGNALWAY_ACCESS_LOG": "true",
        "SIGNALWAY_PUBLIC_URL": f"http://127.0.0.1:{gateway_port}",
        "SIGNALWAY_RESUME_SECRET": _dev_secret(data_dir, "resume-secret"),
        "SIGNALWAY_WEBHOOK_SECRET": _dev_secret(data_dir, "webhook-secret", _webhook_secret),
    }
    children: list[ManagedProcess] = []
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        with console.status("starting Temporal, Redis, worker and gateway…"):
            children.append(start_temporal(data_dir, port=temporal_port, ui_port=ui_port))
            children.append(start_redis(data_dir / "redis", port=redis_port, persistent=True))
            python = sys.executable
            children.append(ManagedProcess("worker", [python, "-m", "worker"], env=env,
                                           log_path=data_dir / "worker.log"))
            children.append(ManagedProcess("gateway", [python, "-m", "gateway"], env=env,
                                           log_path=data_dir / "gateway.log"))
            url = f"http://127.0.0.1:{gateway_port}"
            _wait_ready(url, children)
        token = mint(secret, project=DEV_PROJECT, user=DEV_USER, ttl_seconds=30 * 24 * 3600)
        _banner(url, ui_port, temporal_port, redis_port, token, api_key, data_dir, env["SIGNALWAY_WEBHOOK_SECRET"])
        while not stopping:
            for child in children:
                if not child.running():
                    console.print(f"[red]{child.name} exited ({child.popen.returncode}):[/]\n{child.tail()}")
                    return 1
            time.sleep(0.5)
        return 0
    except StackError as exc:
        console.print(f"[red]{exc}[/]")
        return 1
    finally:
        console.print("stopping…")
        # Gateway first (stop taking requests), then the worker (drains), then the backends.
        for child in reversed(children):
            child.stop()
        console.print("stopped")


def _banner(url: str, ui_port: int, temporal_port: int, redis_port: int, token: str, api_key: str,
            data_dir: Path, webhook_secret: str = "") -> None:
    curl_start = (
        f"curl -s -X POST {url}/api/v1/durable/workflows \\\n"
        f"  -H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' \\\n"
        """  -d '{"workflow_type": "ApprovalWorkflow", "input": {"subject": "ship it"}}'"""
    )
    curl_signal = (
        f"curl -s -X POST {url}/api/v1/durable/workflows/<ID>/signal \\\n"
        f"  -H 'Authorization: {api_key}' -H 'Content-Type: application/json' \\\n"
        """  -d '{"signal_type": "approve", "payload": {"approver": "me"}}'"""
    )
    curl_runs = (
        f"curl -s -X POST {url}/api/v1/workflows/execute/ConversationWorkflow \\\n"
        f"  -H 'Authorization: Bearer {token}' -d '{{\"vars\": {{}}}}'\n"
        f"curl -s -X POST {url}/api/v1/workflows/conversations \\\n"
        f"  -H 'Authorization: Bearer {token}' -d '{{\"status\": \"running\"}}'"
    )
    console.print(Panel.fit(
        f"[bold]Gateway[/]          {url}   (OpenAPI: {url}/openapi.json)\n"
        f"[bold]Temporal Web UI[/]  http://127.0.0.1:{ui_port}\n"
        f"[bold]Temporal[/]         127.0.0.1:{temporal_port}    [bold]Redis[/] redis://127.0.0.1:{redis_port}\n"
        f"[bold]State and logs[/]   {data_dir.resolve()}\n"
        f"[bold]Dev API key[/]      {api_key}   (durable surface: `Authorization: <key>`)\n"
        f"[bold]Webhook secret[/]   {webhook_secret}   (verify webhook-and-wait deliveries)\n"
        "[bold]Local receivers[/]  webhooks go to public addresses only; to allow one on this machine: "
        "SIGNALWAY_WEBHOOK_ALLOWED_NETWORKS=127.0.0.1/32 make dev",
        title="Signalway is running", border_style="green",
    ))
    console.print(f"\nDev token (project {DEV_PROJECT!r}, user {DEV_USER!r}, valid 30 days):\n")
    console.print(token, soft_wrap=True, highlight=False, markup=False)
    console.print("\nStart a workflow:\n", soft_wrap=True)
    console.print(curl_start, soft_wrap=True, highlight=False, markup=False)
    console.print("\nThen approve it (use the id from the answer):\n", soft_wrap=True)
    console.print(curl_signal, soft_wrap=True, highlight=False, markup=False)
    console.print("\nThe runs surface (the workflow runs API) — start a conversation, then list conversations:\n", soft_wrap=True)
    console.print(curl_runs, soft_wrap=True, highlight=False, markup=False)
    console.print("\nCtrl-C stops everything; state survives in the data directory.\n")
