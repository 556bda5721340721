"""``raas``: one package, three roles.

``raas serve`` runs the router (with its embedded rule pool unless ``RAAS_RULE_WORKERS`` is set);
``raas worker rules`` runs a rule worker for remote routers; ``raas worker model`` runs a model
worker (the models in ``RAAS_MODELS``; one per GPU, chosen with ``CUDA_VISIBLE_DEVICES``).
``raas score``, ``raas filter`` and ``raas report`` score and curate datasets offline
(``reward_service.offline``; the ``offline`` extra).
"""

from __future__ import annotations

import argparse
import logging.config
from collections.abc import Callable, Sequence
from typing import Any

import httpx
from fastapi import FastAPI

from reward_service.compat.settings import CompatSettings
from reward_service.gc_policy import tune_gc
from reward_service.http.server import serve
from reward_service.http.supervisor import Slot, router_count, supervise
from reward_service.logs import log_config
from reward_service.offline.commands import OFFLINE_COMMANDS, add_commands, run_command
from reward_service.settings import Settings

AppFactory = Callable[[Settings], FastAPI]


def _router_app(settings: Settings) -> FastAPI:
    from reward_service.http.app import create_app

    return create_app(settings, slot=Slot.from_env())


def _rules_app(settings: Settings) -> FastAPI:
    from reward_service.remote.worker import create_rules_app

    return create_rules_app(settings)


def _model_app(settings: Settings) -> FastAPI:
    from reward_service.remote.worker import create_model_app

    return create_model_app(settings)


FACTORIES: dict[str, AppFactory] = {
    "serve": _router_app,
    "rules": _rules_app,
    "model": _model_app,
}


def _add_server_options(parser: argparse.ArgumentParser, pool: bool = True) -> None:
    parser.add_argument("--host", help="bind address (RAAS_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (RAAS_PORT, default 8000)")
    parser.add_argument("--log-level", dest="log_level", help="log level (RAAS_LOG_LEVEL)")
    if pool:
        parser.add_argument(
            "--workers", type=int, dest="pool_workers", help="pool children (RAAS_POOL_WORKERS)"
        )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="raas", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the router (embedded rule pool by default)")
    _add_server_options(serve)
    serve.add_argument("--routers", help="router processes on the port: N or auto (RAAS_ROUTERS)")
    worker = commands.add_parser("worker", help="run a worker for remote routers")
    roles = worker.add_subparsers(dest="role", required=True)
    rules = roles.add_parser("rules", help="a rule worker: the process pool behind POST /v1/tasks")
    _add_server_options(rules)
    model = roles.add_parser("model", help="a model worker: RAAS_MODELS behind POST /v1/tasks")
    _add_server_options(model, pool=False)
    check = commands.add_parser("healthcheck", help="exit 0 if the local server's /healthz is ok")
    check.add_argument("--port", type=int, help="port (RAAS_PORT, default 8000)")
    add_commands(commands)
    return parser


def healthcheck(settings: Settings) -> int:
    """For container health checks: no curl in the image, and no shell needed."""
    url = f"http://127.0.0.1:{settings.port}/healthz"
    try:
        return 0 if httpx.get(url, timeout=3.0).status_code == 200 else 1
    except httpx.HTTPError:
        return 1


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {
        key: value
        for key in ("host", "port", "pool_workers", "log_level", "routers")
        if (value := getattr(args, key, None)) is not None
    }
    return Settings(**overrides)


def run(factory: AppFactory, settings: Settings) -> None:
    logging.config.dictConfig(log_config(settings.log_level, settings.log_format))
    app = factory(settings)
    tune_gc()
    serve(app)


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if args.command in OFFLINE_COMMANDS:
        run_command(args)
        return
    role = getattr(args, "role", None) or args.command
    settings = _settings(args)
    if role == "serve":  # each router's app reads them again: a bad value stops the start here
        CompatSettings()
    if role == "healthcheck":
        raise SystemExit(healthcheck(settings))
    if role == "model" and not settings.models:
        raise SystemExit("raas worker model: no models configured; set RAAS_MODELS (JSON list)")
    if role in ("model", "serve") and settings.models:
        from reward_service.models.devices import device_problems

        if problems := device_problems(settings.models):
            raise SystemExit(f"raas: refusing to start: {'; '.join(problems)}")
    if role == "serve" and (slot := Slot.from_env()) is not None:
        slot.die_with_supervisor()
    elif role == "serve" and (count := router_count(settings)) > 1:
        logging.config.dictConfig(log_config(settings.log_level, settings.log_format))
        raise SystemExit(supervise(settings, count))
    run(FACTORIES[role], settings)


if __name__ == "__main__":
    main()
