"""The HTTP app: ``create_app(settings)`` wires settings, metrics, the pool and the router, and
mounts the compat endpoints with their own settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel

from reward_service import __version__
from reward_service.compat.endpoints import add_compat_routes
from reward_service.compat.nemo_gym import GymSeed, GymSession, GymVerifyRequest
from reward_service.compat.openrlhf import OpenRLHFRequest
from reward_service.compat.settings import CompatSettings
from reward_service.compat.slime import SlimePayload
from reward_service.compat.vtriune import JudgePayload
from reward_service.contract.registry import FORMATS, VERIFIERS
from reward_service.contract.schemas import RewardRequest, RewardResponse, VerifierList
from reward_service.contract.task import Backend, running
from reward_service.http.auth import api_keys, guard, internal_headers, presented
from reward_service.http.idempotency import HEADER as IDEMPOTENCY
from reward_service.http.idempotency import IdempotencyCache
from reward_service.http.memory import MemoryCeiling, MemoryGuard
from reward_service.http.openapi import add_docs, errors, json_body
from reward_service.http.ops import add_ops_routes, read_body, until_disconnected
from reward_service.http.parsing import parse_in_pieces
from reward_service.metrics import Metrics
from reward_service.pool.backend import PoolBackend, build_pool
from reward_service.remote.backend import RemoteBackend
from reward_service.remote.discovery import resolve_dns
from reward_service.routing.route_spec import RouteList
from reward_service.routing.router import Router
from reward_service.settings import Settings
from reward_service.verifiers import load_verifiers

if TYPE_CHECKING:
    from reward_service.http.supervisor import Slot


def verifier_list() -> dict[str, Any]:
    verifiers = [
        {
            "name": name,
            "kind": "verifier",
            "summary": spec.summary,
            "params_schema": spec.params.model_json_schema(),
            "reads_prompt": spec.reads_prompt,
        }
        for name in VERIFIERS
        if (spec := VERIFIERS.get(name))
    ]
    formats = [
        {"name": name, "kind": "format", "summary": FORMATS.get(name).summary, "params_schema": {}}
        for name in FORMATS
    ]
    return {"verifiers": verifiers + formats}


def remote_backend(
    urls: list[str], family: str, settings: Settings, metrics: Metrics
) -> RemoteBackend:
    return RemoteBackend(
        urls,
        piece_size=settings.remote_piece_size,
        attempts=settings.remote_attempts,
        retry_budget_s=settings.remote_retry_budget_s,
        stall_s=settings.sample_timeout_s + settings.remote_stall_margin_s,
        timeout_s=settings.remote_timeout_s,
        on_retry=lambda: metrics.remote_retries.labels(family).inc(),
        headers=internal_headers(settings),
        resolve=resolve_dns if settings.remote_discovery == "dns" else None,
        discovery_interval_s=settings.remote_discovery_interval_s,
    )


def rule_backend(settings: Settings, metrics: Metrics) -> Backend:
    """Remote rule workers when ``RAAS_RULE_WORKERS`` names some, else the embedded pool."""
    if settings.rule_workers:
        return remote_backend(settings.rule_workers, "rules", settings, metrics)
    return PoolBackend(build_pool(settings, metrics), metrics)


def model_backend(settings: Settings, metrics: Metrics) -> Backend | None:
    """The models in this process when ``RAAS_MODELS`` is set, else remote model workers when
    ``RAAS_MODEL_WORKERS`` names some, else none (``rm``/``bmas`` are then ``unavailable``)."""
    if settings.models:
        from reward_service.models.backend import ModelBackend  # needs torch: only when used

        return ModelBackend(settings.models, metrics)
    if settings.model_workers:
        return remote_backend(settings.model_workers, "model", settings, metrics)
    return None


def backends(settings: Settings, metrics: Metrics) -> dict[str, Backend]:
    """The router's backends by family: ``rules`` always, ``model`` where models are served
    (in-process or remote). ``create_app`` and offline scoring (``raas score``) both build these,
    so their verdicts agree."""
    found = {"rules": rule_backend(settings, metrics)}
    if (models := model_backend(settings, metrics)) is not None:
        found["model"] = models
    return found


def create_app(
    settings: Settings | None = None,
    metrics: Metrics | None = None,
    slot: Slot | None = None,
    compat: CompatSettings | None = None,
) -> FastAPI:
    """``slot``: one of several routers on one port (``reward_service.http.siblings``); ``compat``:
    the compatibility endpoints' knobs, which the core ``settings`` do not hold. Both are read
    from the environment when not given."""
    load_verifiers()
    settings = settings if settings is not None else Settings()
    compat = compat if compat is not None else CompatSettings()
    metrics = metrics if metrics is not None else Metrics.for_settings(settings)
    served = backends(settings, metrics)
    rules, models = served["rules"], served.get("model")
    router = Router(settings, served, metrics)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with running(served.values()):
            yield

    def readiness() -> tuple[dict[str, Any], bool]:
        """The rules decide; models in this process (``RAAS_MODELS``) also, until they have
        loaded (or failed). Remote model workers are reported, never gating: the rule verifiers
        serve without them."""
        body, ready = rules.readiness()
        if models is not None:
            model_body, models_ready = models.readiness()
            body = {**body, "model_backend": model_body}
            ready = ready and (models_ready or not settings.models)
        return body, ready

    app = FastAPI(
        title="raas",
        version=__version__,
        lifespan=lifespan,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings, app.state.metrics, app.state.rules = settings, metrics, rules
    app.state.models = models
    keyed = [Depends(guard(api_keys(settings)))]
    bodies: list[type[BaseModel]] = [RewardRequest, OpenRLHFRequest, JudgePayload, SlimePayload]
    add_docs(app, keyed[0].dependency, [*bodies, GymVerifyRequest, GymSeed, GymSession])
    if slot is not None:  # innermost middleware: the ceiling and draining apply to it
        from reward_service.http.siblings import install

        install(app, slot)
    app.add_middleware(MemoryCeiling, guard=MemoryGuard(settings.memory_ceiling_mb << 20, metrics))
    add_ops_routes(app, settings, metrics, readiness)

    idempotency = IdempotencyCache(
        settings.idempotency_cache_size,
        settings.idempotency_ttl_s,
        settings.idempotency_cache_bytes,
        settings.idempotency_max_entry_bytes,
    )

    @app.post(
        "/reward",
        response_model=RewardResponse,
        tags=["reward"],
        dependencies=keyed,
        responses=errors(401, 413, 422, 429, 503),
        openapi_extra=json_body(RewardRequest),
    )
    @metrics.timed("/reward")
    async def reward(request: Request) -> Response:
        """Score a batch: one result per sample, in request order. A batch retried with the
        same ``Idempotency-Key`` header is answered from memory, not scored twice."""
        body = await read_body(request, settings.max_body_bytes)

        async def score() -> bytes:
            return orjson.dumps(await router.score(await parse_in_pieces(body)))

        key = request.headers.get(IDEMPOTENCY)
        work = idempotency.run(key, body, score, scope=presented(request))
        # without a key nobody can collect the answer once the client has gone: stop scoring
        content, replayed = await (work if key else until_disconnected(request, work))
        headers = {"Idempotent-Replayed": "true"} if replayed else None
        return Response(content, media_type="application/json", headers=headers)

    @app.get(
        "/v1/verifiers",
        response_model=VerifierList,
        tags=["reward"],
        dependencies=keyed,
        responses=errors(401),
    )
    async def verifiers() -> dict[str, Any]:
        return verifier_list()

    @app.get(
        "/v1/routes",
        response_model=RouteList,
        tags=["reward"],
        dependencies=keyed,
        responses=errors(401),
        response_model_exclude_none=True,
    )
    async def routes() -> dict[str, Any]:
        """The server's routes by ``data_source`` (``RAAS_ROUTES``), in the order they are
        tried: a sample without a ``verifier`` gets the first that matches."""
        return {"routes": router.routes.ordered()}

    # OpenRLHF, V-Triune, slime, NeMo Gym
    add_compat_routes(app, router, compat, settings.max_body_bytes, keyed)
    return app
