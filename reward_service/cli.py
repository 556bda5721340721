"""``raas``: the command line. ``raas serve`` runs the embedded service."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import uvicorn

from reward_service.app import create_app
from reward_service.settings import Settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="raas", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the router with its embedded rule pool")
    serve.add_argument("--host", help="bind address (RAAS_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (RAAS_PORT, default 8000)")
    serve.add_argument(
        "--workers", type=int, dest="pool_workers", help="pool children (RAAS_POOL_WORKERS)"
    )
    serve.add_argument("--log-level", dest="log_level", help="uvicorn log level (RAAS_LOG_LEVEL)")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {
        key: value
        for key in ("host", "port", "pool_workers", "log_level")
        if (value := getattr(args, key, None)) is not None
    }
    return Settings(**overrides)


def serve(settings: Settings) -> None:
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        log_level=settings.log_level,
        timeout_graceful_shutdown=10,
    )
    uvicorn.Server(config).run()


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        serve(_settings(args))


if __name__ == "__main__":
    main()
