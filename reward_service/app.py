"""The HTTP app: ``create_app(settings)`` wires settings, metrics, the pool and the router."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from reward_service import __version__
from reward_service.metrics import Metrics
from reward_service.ops import add_ops_routes, json_response, read_body
from reward_service.registry import FORMATS, VERIFIERS
from reward_service.router import Router, parse_request
from reward_service.schemas import RewardResponse, VerifierList
from reward_service.settings import Settings
from reward_service.workers.local import PoolBackend, build_pool
from reward_service.workers.remote import RemoteBackend


def verifier_list() -> dict[str, Any]:
    verifiers = [
        {"name": name, "kind": "verifier", "summary": spec.summary,
         "params_schema": spec.params.model_json_schema()}
        for name in VERIFIERS if (spec := VERIFIERS.get(name))
    ]  # fmt: skip
    formats = [
        {"name": name, "kind": "format", "summary": FORMATS.get(name).summary, "params_schema": {}}
        for name in FORMATS
    ]
    return {"verifiers": verifiers + formats}


def rule_backend(settings: Settings, metrics: Metrics) -> PoolBackend | RemoteBackend:
    """Remote rule workers when ``RAAS_RULE_WORKERS`` names some, else the embedded pool."""
    if settings.rule_workers:
        return RemoteBackend(
            settings.rule_workers,
            piece_size=settings.remote_piece_size,
            attempts=settings.remote_attempts,
            timeout_s=settings.remote_timeout_s,
            on_retry=lambda: metrics.remote_retries.labels("rules").inc(),
        )
    return PoolBackend(build_pool(settings, metrics), metrics)


def create_app(settings: Settings | None = None, metrics: Metrics | None = None) -> FastAPI:
    settings = settings if settings is not None else Settings()
    metrics = metrics if metrics is not None else Metrics(max_sources=settings.metrics_max_sources)
    rules = rule_backend(settings, metrics)
    router = Router(settings, {"rules": rules}, metrics)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await rules.start()
        try:
            yield
        finally:
            await rules.close()

    app = FastAPI(title="raas", version=__version__, lifespan=lifespan)
    app.state.settings, app.state.metrics, app.state.rules = settings, metrics, rules

    add_ops_routes(app, settings, metrics, rules.readiness)

    @app.post("/reward", response_model=RewardResponse, tags=["reward"])
    async def reward(request: Request) -> Response:
        """Score a batch: one result per sample, in request order."""
        start = time.perf_counter()
        payload = await router.score(
            parse_request(await read_body(request, settings.max_body_bytes))
        )
        metrics.request_latency.labels("/reward").observe(time.perf_counter() - start)
        return json_response(payload)

    @app.get("/v1/verifiers", response_model=VerifierList, tags=["reward"])
    async def verifiers() -> dict[str, Any]:
        return verifier_list()

    return app
