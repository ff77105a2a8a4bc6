"""The `signalway` command: `dev`, `gateway`, `worker`, `token`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

DEV_DIR = Path(".signalway")
DEV_SECRET_FILE = DEV_DIR / "dev-secret"


def _exit_now(code: int) -> None:
    """End the process once its work is finished and drained.

    The Temporal SDK's core threads can still release the GIL while the interpreter
    finalizes, which aborts the process (SIGABRT) after a clean shutdown; skipping
    finalization keeps the exit code honest.
    """
    import logging

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _graceful_server_class() -> type:
    import contextlib
    import signal
    from collections.abc import Iterator

    import uvicorn

    class GracefulServer(uvicorn.Server):
        """uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown, so a clean stop
        would exit by signal; here a signal only asks for that shutdown."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    return GracefulServer


def _gateway(args: argparse.Namespace) -> int:
    import logging

    import uvicorn

    from gateway.app import create_app
    from gateway.middleware import RequestIdFilter
    from gateway.redaction import RedactingFilter
    from gateway.settings import GatewaySettings
    from signalway._config_errors import load_settings

    settings = load_settings(GatewaySettings)
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    # On the handler, so every record printed passes through it, whichever logger made it.
    handler.addFilter(RedactingFilter())
    logging.basicConfig(
        level=settings.log_level, handlers=[handler],
        format="%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
    )
    config = uvicorn.Config(
        create_app(settings), host=settings.host, port=settings.port,
        log_level=settings.log_level.lower(), access_log=False,
        # No handlers of uvicorn's own: its records propagate to the redacting handler above.
        log_config=None,
        # The client address is worked out by gateway.client_address from
        # SIGNALWAY_TRUSTED_PROXIES; uvicorn's would trust X-Forwarded-For from loopback.
        proxy_headers=False,
        # httptools (the default here) has no header limit and HeaderLimitMiddleware answers
        # 431; if h11 runs, this bounds what it buffers, with room for the request line.
        h11_max_incomplete_event_size=settings.max_header_bytes + 16 * 1024,
        timeout_graceful_shutdown=10,
    )
    _graceful_server_class()(config).run()
    _exit_now(0)
    return 0


def _worker(args: argparse.Namespace) -> int:
    from worker.__main__ import main as worker_main

    worker_main()
    _exit_now(0)
    return 0


def _token(args: argparse.Namespace) -> int:
    from signalway.tokens import mint

    secret = os.environ.get("SIGNALWAY_JWT_SECRET")
    if not secret and DEV_SECRET_FILE.exists():
        secret = DEV_SECRET_FILE.read_text().strip()
        print(f"(using the dev secret in {DEV_SECRET_FILE})", file=sys.stderr)
    if not secret:
        print("set SIGNALWAY_JWT_SECRET (the gateway's HS256 secret) to mint a token", file=sys.stderr)
        return 2
    print(mint(
        secret, project=args.project, user=args.user, permissions=args.permission,
        ttl_seconds=args.ttl, audience=os.environ.get("SIGNALWAY_JWT_AUDIENCE"),
        issuer=os.environ.get("SIGNALWAY_JWT_ISSUER"),
    ))
    return 0


def _dev(args: argparse.Namespace) -> int:
    from signalway.devstack import run_dev

    return run_dev(
        data_dir=Path(args.data_dir), gateway_port=args.port, temporal_port=args.temporal_port,
        ui_port=args.ui_port, redis_port=args.redis_port,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="signalway", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    dev = sub.add_parser("dev", help="run Temporal, Redis, a worker and the gateway locally")
    dev.add_argument("--data-dir", default=str(DEV_DIR), help="where state and logs live")
    dev.add_argument("--port", type=int, default=8000, help="gateway port")
    dev.add_argument("--temporal-port", type=int, default=7233)
    dev.add_argument("--ui-port", type=int, default=8233)
    dev.add_argument("--redis-port", type=int, default=6390)
    dev.set_defaults(func=_dev)

    sub.add_parser("gateway", help="run the HTTP gateway (settings from SIGNALWAY_*)").set_defaults(func=_gateway)
    sub.add_parser("worker", help="run a Temporal worker (settings from SIGNALWAY_*)").set_defaults(func=_worker)

    token = sub.add_parser("token", help="mint a JWT signed with SIGNALWAY_JWT_SECRET")
    token.add_argument("--project", required=True)
    token.add_argument("--user", required=True)
    token.add_argument("--permission", action="append", default=[], help="e.g. workflow_superadmin")
    token.add_argument("--ttl", type=int, default=24 * 3600, help="lifetime in seconds")
    token.set_defaults(func=_token)

    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
