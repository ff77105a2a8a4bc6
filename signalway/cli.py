"""The `signalway` command: `dev`, `gateway`, `worker`, `token`, `env`, `catalog`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from signalway.gateway.settings import GatewaySettings

DEV_DIR = Path(".signalway")
DEV_SECRET_FILE = "dev-secret"  # in the data dir; made by `signalway dev`


def _data_dir_default() -> str:
    return os.environ.get("SIGNALWAY_DATA_DIR") or str(DEV_DIR)


def _gateway_port(flag: int | None) -> int:
    """`signalway dev`'s gateway port: the flag, else SIGNALWAY_PORT (which the gateway itself
    reads, so one variable moves both), else 8000."""
    if flag is not None:
        return flag
    raw = os.environ.get("SIGNALWAY_PORT")
    if not raw:
        return 8000
    try:
        port = int(raw)
    except ValueError:
        port = -1
    if not 0 < port < 65536:
        # Like every other bad setting: one line, exit code 2 (the gateway would say the same).
        print("configuration error: SIGNALWAY_PORT: must be a port number (1-65535)", file=sys.stderr)
        raise SystemExit(2)
    return port


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


def _prepare_gateway_process(settings: GatewaySettings) -> None:
    """What every gateway process sets up before its app is built (each of `--workers N` too)."""
    from signalway import tracing
    from signalway.gateway.http_protocol import GuardedHttpToolsProtocol
    from signalway.gateway.middleware import RequestContextFilter
    from signalway.logging_setup import configure as configure_logging

    # Before the app is built: create_app reads the tracer, the Temporal client its interceptor.
    tracing.configure_or_exit("signalway-gateway")
    # Every logger's records (uvicorn's included) go to one handler: the request's context
    # first, then redaction, then text or JSON (SIGNALWAY_LOG_FORMAT).
    configure_logging(settings.log_level, settings.log_format, [RequestContextFilter()])
    # The head timeout and byte caps of every connection (gateway.http_protocol).
    GuardedHttpToolsProtocol.configure(header_timeout=settings.header_timeout_seconds,
                                       max_header_bytes=settings.max_header_bytes,
                                       max_request_line_bytes=settings.max_request_line_bytes)


def _tune_gc() -> None:
    """Keep the cyclic garbage collector's pauses out of a gateway's latency (its process only).

    A full collection walks every tracked object: with 1,000 open SSE streams that was
    70-140 ms during which no frame went out (bench/updates.py's p99). What exists once the
    app is built (modules, schemas, routes) never becomes garbage, so it is frozen out of the
    collector's sight; and the young generation is collected after 20,000 allocations
    instead of 700, so the older ones fill (and are walked) far less often. Refcounting frees
    everything acyclic as before.
    """
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 10)


def _gateway_process_app() -> Starlette:
    """uvicorn's app factory in each process of `signalway gateway --workers N` (spawned: it
    reads its settings from the environment, as the parent did, and sets itself up)."""
    from signalway._config_errors import load_settings
    from signalway.gateway.app import create_app
    from signalway.gateway.settings import GatewaySettings

    settings = load_settings(GatewaySettings)
    _prepare_gateway_process(settings)
    app = create_app(settings)
    _tune_gc()
    return app


def _gateway(args: argparse.Namespace) -> int:
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from signalway import tracing
    from signalway._config_errors import load_settings, warn_unknown_variables
    from signalway.gateway.app import create_app
    from signalway.gateway.settings import GatewaySettings

    settings = load_settings(GatewaySettings)
    workers = args.workers if args.workers is not None else settings.gateway_workers
    if workers < 1:
        raise SystemExit("--workers must be at least 1")
    _prepare_gateway_process(settings)
    warn_unknown_variables()
    options: dict[str, Any] = dict(
        host=settings.host, port=settings.port,
        log_level=settings.log_level.lower(), access_log=False,
        # No handlers of uvicorn's own: its records propagate to the redacting handler above.
        log_config=None,
        # The client address is worked out by gateway.client_address from
        # SIGNALWAY_TRUSTED_PROXIES; uvicorn's would trust X-Forwarded-For from loopback.
        proxy_headers=False,
        # httptools with a guard of ours: a head timeout and the head's bytes capped while they
        # are read (uvicorn has neither; h11's max_incomplete_event_size only the second).
        http="signalway.gateway.http_protocol:GuardedHttpToolsProtocol",
        timeout_graceful_shutdown=10,
    )
    try:
        if workers == 1:
            config = uvicorn.Config(create_app(settings), **options)
            _tune_gc()
            _graceful_server_class()(config).run()
        else:
            # N processes accept on one socket bound here. uvicorn's supervisor spawns them
            # (each builds its own app through the factory, so an import string), restarts
            # one that dies, and on SIGTERM/SIGINT stops them all, each draining gracefully.
            config = uvicorn.Config("signalway.cli:_gateway_process_app", factory=True, workers=workers,
                                    **options)
            Multiprocess(config, sockets=[config.bind_socket()]).run()
    finally:
        tracing.shutdown()  # the last spans, before _exit_now skips atexit
    _exit_now(0)
    return 0


def _worker(args: argparse.Namespace) -> int:
    from signalway.worker.__main__ import main as worker_main

    worker_main(workflows=args.workflows, task_queue=args.task_queue)
    _exit_now(0)
    return 0


def _token(args: argparse.Namespace) -> int:
    from signalway.tokens import mint

    secret = os.environ.get("SIGNALWAY_JWT_SECRET")
    dev_secret = Path(args.data_dir) / DEV_SECRET_FILE
    if not secret and dev_secret.exists():
        secret = dev_secret.read_text().strip()
        print(f"(using the dev secret in {dev_secret})", file=sys.stderr)
    if not secret:
        print(f"set SIGNALWAY_JWT_SECRET (the gateway's HS256 secret) to mint a token; no dev secret "
              f"in {Path(args.data_dir).resolve()} either (--data-dir names `signalway dev`'s)", file=sys.stderr)
        return 2
    print(mint(
        secret, project=args.project, user=args.user, permissions=args.permission,
        ttl_seconds=args.ttl, audience=os.environ.get("SIGNALWAY_JWT_AUDIENCE"),
        issuer=os.environ.get("SIGNALWAY_JWT_ISSUER"),
    ))
    return 0


def _env(args: argparse.Namespace) -> int:
    from signalway.devstack import env_lines
    from signalway.localstack import StackError

    try:
        print(env_lines(Path(args.data_dir)))
    except StackError as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


def _catalog(args: argparse.Namespace) -> int:
    import json

    from signalway.catalog import CatalogError, catalog_of, workflow_classes

    # The current folder first, as `python -m` would: a team runs this from its project.
    sys.path.insert(0, os.getcwd())
    try:
        classes = [cls for target in args.targets for cls in workflow_classes(target)]
        catalog = catalog_of(classes, task_queue=args.task_queue, conversations=args.conversation)
    except (CatalogError, ImportError, AttributeError) as exc:
        print(f"signalway catalog: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(catalog, indent=2, ensure_ascii=False))
    return 0


def _dev(args: argparse.Namespace) -> int:
    from signalway.devstack import run_dev

    return run_dev(
        data_dir=Path(args.data_dir), gateway_port=_gateway_port(args.port),
        temporal_port=args.temporal_port, ui_port=args.ui_port, redis_port=args.redis_port,
        redis_url=args.redis_url,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="signalway", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    data_dir_help = "the dev stack's state and logs (default: $SIGNALWAY_DATA_DIR, else .signalway)"
    dev = sub.add_parser("dev", help="run and supervise Temporal, Redis, a worker and the gateway locally")
    dev.add_argument("--data-dir", default=_data_dir_default(), help=data_dir_help)
    dev.add_argument("--port", type=int, default=None, help="gateway port (default: $SIGNALWAY_PORT, else 8000)")
    dev.add_argument("--temporal-port", type=int, default=7233)
    dev.add_argument("--ui-port", type=int, default=8233, help="Temporal Web UI port")
    dev.add_argument("--redis-port", type=int, default=6390)
    dev.add_argument("--redis-url", default=None,
                     help="use this Redis (or Redis Cluster / Sentinel URL) instead of starting one")
    dev.set_defaults(func=_dev)

    gateway = sub.add_parser("gateway", help="run the HTTP gateway (settings from SIGNALWAY_*)")
    gateway.add_argument("--workers", type=int, default=None,
                         help="gateway processes on one port (default: $SIGNALWAY_GATEWAY_WORKERS, else 1); "
                              "admission and stream bounds hold per process")
    gateway.set_defaults(func=_gateway)
    worker = sub.add_parser("worker", help="run a Temporal worker (settings from SIGNALWAY_*): Signalway's step "
                                           "activities and the shipped examples, or your workflows")
    worker.add_argument("--workflows", default=None, metavar="MODULE:ATTR",
                        help="your workflows instead of the examples: a @workflow.defn class or a list/tuple of them, "
                             "e.g. myteam.workflows:WORKFLOWS (imported from the current directory first)")
    worker.add_argument("--task-queue", default=None,
                        help="the task queue to poll (default: $SIGNALWAY_TASK_QUEUE, else signalway)")
    worker.set_defaults(func=_worker)

    token = sub.add_parser("token", help="mint a JWT signed with SIGNALWAY_JWT_SECRET, else the dev secret")
    token.add_argument("--project", required=True)
    token.add_argument("--user", required=True)
    token.add_argument("--permission", action="append", default=[], help="e.g. workflow_superadmin")
    token.add_argument("--ttl", type=int, default=24 * 3600, help="lifetime in seconds")
    token.add_argument("--data-dir", default=_data_dir_default(), help=data_dir_help)
    token.set_defaults(func=_token)

    env = sub.add_parser("env", help="print `export` lines for the dev stack (TOKEN, API_KEY, SIGNALWAY_URL, and "
                                     "the SIGNALWAY_* settings a worker of your own needs to join it): "
                                     'eval "$(signalway env)"')
    env.add_argument("--data-dir", default=_data_dir_default(), help=data_dir_help)
    env.set_defaults(func=_env)

    catalog = sub.add_parser(
        "catalog", help="print the SIGNALWAY_WORKFLOWS entries of Python workflow classes (module:attr, "
                        "a class or a list of classes), their schemas read from the type hints")
    catalog.add_argument("targets", nargs="+", metavar="module:attr")
    catalog.add_argument("--task-queue", default=None,
                         help="the task queue their worker polls (default: none, i.e. Signalway's own)")
    catalog.add_argument("--conversation", action="append", default=[], metavar="TYPE",
                         help="a workflow type the conversations endpoint lists (repeatable)")
    catalog.set_defaults(func=_catalog)

    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
