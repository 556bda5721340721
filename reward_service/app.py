"""The HTTP app: ``create_app(settings)`` wires settings, metrics, the pool and the router."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from reward_service import __version__
from reward_service.errors import RequestError
from reward_service.metrics import Metrics
from reward_service.registry import FORMATS, VERIFIERS
from reward_service.router import PoolBackend, Router, parse_request
from reward_service.schemas import RewardResponse, VerifierList
from reward_service.settings import Settings
from reward_service.workers.pool import ProcessPool

RULE_TARGET = "reward_service.workers.execute:run_task"
RULE_WARM_UP = "reward_service.workers.execute:warm_up"


class BodyTooLargeError(Exception):
    pass


def json_response(payload: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(payload), status_code, media_type="application/json")


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLargeError
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError
        chunks.append(chunk)
    return b"".join(chunks)


def build_pool(settings: Settings, metrics: Metrics) -> ProcessPool:
    return ProcessPool(
        RULE_TARGET,
        init=RULE_WARM_UP,
        size=settings.pool_workers,
        deadline_s=settings.sample_timeout_s,
        memory_mb=settings.worker_memory_mb,
        start_timeout_s=settings.worker_start_timeout_s,
        max_chunk=settings.max_chunk,
        spares=settings.pool_spares,
        on_restart=lambda kind: metrics.restarts.labels(kind).inc(),
    )


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


def create_app(settings: Settings | None = None, metrics: Metrics | None = None) -> FastAPI:
    settings = settings if settings is not None else Settings()
    metrics = metrics if metrics is not None else Metrics(max_sources=settings.metrics_max_sources)
    pool = build_pool(settings, metrics)
    router = Router(settings, {"rules": PoolBackend(pool)}, metrics)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await pool.start()
        metrics.watch_pool(pool.size, lambda: pool.ready, lambda: pool.busy)
        try:
            yield
        finally:
            await pool.close()

    app = FastAPI(title="raas", version=__version__, lifespan=lifespan)
    app.state.settings, app.state.metrics, app.state.pool = settings, metrics, pool

    @app.exception_handler(RequestError)
    async def request_error(_: Request, exc: RequestError) -> Response:
        return json_response({"detail": exc.errors}, 422)

    @app.exception_handler(BodyTooLargeError)
    async def too_large(_: Request, __: BodyTooLargeError) -> Response:
        limit = settings.max_body_bytes
        return json_response({"detail": [{"loc": ["body"], "msg": f"body over {limit} bytes",
                                          "type": "too_large"}]}, 413)  # fmt: skip

    @app.post("/reward", response_model=RewardResponse, tags=["reward"])
    async def reward(request: Request) -> Response:
        """Score a batch: one result per sample, in request order."""
        start = time.perf_counter()
        payload = await router.score(
            parse_request(await read_body(request, settings.max_body_bytes))
        )
        metrics.request_latency.labels("/reward").observe(time.perf_counter() - start)
        return json_response(payload)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    async def readyz() -> JSONResponse:
        body = {"status": "ready", "pool": {"size": pool.size, "ready": pool.ready}}
        if pool.ready == 0:
            return JSONResponse({**body, "status": "not ready"}, 503)
        return JSONResponse(body)

    @app.get("/metrics", tags=["ops"])
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/verifiers", response_model=VerifierList, tags=["reward"])
    async def verifiers() -> dict[str, Any]:
        return verifier_list()

    return app
