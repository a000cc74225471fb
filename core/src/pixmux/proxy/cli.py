"""
``pixmux serve``: start the gateway.

``pixmux serve --config config.yaml [--host 127.0.0.1] [--port 4000] [--workers 1]``
(and the short form ``pixmux --config config.yaml``) end up in :func:`main`; so does
``python -m pixmux.proxy.cli --config config.yaml``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

__all__ = ["main", "DEFAULT_HOST", "DEFAULT_PORT"]

#: Loopback by default, so that a gateway started on a laptop is not reachable from the network;
#: pass ``--host 0.0.0.0`` in a container or behind a load balancer.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4000
DEFAULT_SHUTDOWN_TIMEOUT = 120.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pixmux serve",
        description="Start the OpenAI-compatible image gateway.",
    )
    parser.add_argument(
        "--config",
        default=os.environ.get("PIXMUX_CONFIG"),
        help="the gateway's YAML config (LiteLLM's shape); default: $PIXMUX_CONFIG",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT})")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"], help="default info"
    )
    parser.add_argument(
        "--shutdown-timeout",
        type=float,
        default=DEFAULT_SHUTDOWN_TIMEOUT,
        help=f"seconds in-flight requests get to finish after SIGTERM/SIGINT (default {DEFAULT_SHUTDOWN_TIMEOUT:g})",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """
    Run the gateway until SIGINT or SIGTERM; returns the process exit code.

    ``argv`` excludes the word ``serve``. A config error prints one line naming the file, the
    place in it and what was expected, and returns 2 without starting.
    """
    parser = _parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    if not args.config:
        parser.error("--config is required (or set PIXMUX_CONFIG)")
    if not 0 <= args.port <= 65535:
        parser.error(f"--port {args.port} is not a port number")
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    from pixmux.proxy.process import LOG_LEVEL_ENV, configure_logging

    configure_logging(args.log_level)
    try:
        import uvicorn

        from pixmux.exceptions import ConfigurationError
        from pixmux.proxy._collector import tune_collector
        from pixmux.proxy._memory import keep_freed_memory
        from pixmux.proxy.app import CONFIG_ENV, create_app
        from pixmux.proxy.process import apply_process_settings
        from pixmux.proxy.telemetry import multiprocess_dir
    except ImportError as exc:  # pragma: no cover - depends on what is installed
        print(
            f"pixmux serve: the gateway needs the proxy extra: pip install 'pixmux[proxy]' "
            f"(from a checkout of pixmux: pip install './core[proxy]', or uv sync --all-packages) ({exc})",
            file=sys.stderr,
        )
        return 2
    try:
        app = create_app(args.config)
    except ConfigurationError as exc:
        print(f"pixmux serve: config error: {exc}", file=sys.stderr)
        return 2
    from pixmux.proxy._guard import exposure_problem
    from pixmux.proxy._limits import uvicorn_options

    config = app.config
    refused = exposure_problem([args.host], config.master_key, allow_unauthenticated=config.allow_unauthenticated)
    if refused is not None:
        print(f"pixmux serve: {config.path}: {refused}", file=sys.stderr)
        return 2
    apply_process_settings(app.config)
    options = {
        "host": args.host,
        "port": args.port,
        "log_config": None,
        "log_level": args.log_level,
        "access_log": False,
        "server_header": False,
        "lifespan": "on",
        "timeout_graceful_shutdown": args.shutdown_timeout,
        **uvicorn_options(config.limits),  # header size, count and read time, open connections, keep-alive
    }
    try:
        if args.workers == 1:
            keep_freed_memory()  # this process serves; with --workers, each worker does it in app_from_env
            tune_collector()  # start-up's objects frozen, young collections on a real surplus
            uvicorn.run(app, **options)
        else:
            os.environ[CONFIG_ENV] = os.path.abspath(args.config)
            os.environ[LOG_LEVEL_ENV] = args.log_level
            with multiprocess_dir(args.workers):  # /metrics counts every worker
                uvicorn.run("pixmux.proxy.app:app_from_env", factory=True, workers=args.workers, **options)
    except SystemExit as exc:  # uvicorn exits this way when it cannot bind
        return exc.code if isinstance(exc.code, int) else 1
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
