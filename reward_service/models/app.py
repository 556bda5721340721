"""``raas worker model``: a model worker as its own service, one per GPU.

It speaks the same wire as a rule worker (``POST /v1/tasks``: tasks in, outcomes out, see
``reward_service.workers.wire``), so a router reaches it through the same
:class:`~reward_service.workers.remote.RemoteBackend` (``RAAS_MODEL_WORKERS``), with its
balancing and retries. Pin each worker to its GPU with ``CUDA_VISIBLE_DEVICES``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import Response

from reward_service import __version__
from reward_service.metrics import Metrics
from reward_service.models.worker import ModelWorker
from reward_service.ops import add_ops_routes, json_response, read_body
from reward_service.settings import Settings
from reward_service.workers.rules_app import parse_tasks
from reward_service.workers.wire import outcome_to_wire


def create_model_app(settings: Settings | None = None, metrics: Metrics | None = None) -> FastAPI:
    settings = settings if settings is not None else Settings()
    metrics = metrics if metrics is not None else Metrics(max_sources=settings.metrics_max_sources)
    worker = ModelWorker(settings.models, metrics)  # none: every task is ``unavailable``

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await worker.start()
        try:
            yield
        finally:
            await worker.close()

    app = FastAPI(title="raas model worker", version=__version__, lifespan=lifespan)
    app.state.settings, app.state.metrics, app.state.models = settings, metrics, worker
    add_ops_routes(app, settings, metrics, worker.readiness)

    @app.post("/v1/tasks", tags=["worker"])
    async def tasks(request: Request) -> Response:
        """Score model-verifier tasks (``rm``, ``bmas``); outcomes in order."""
        start = time.perf_counter()
        batch = parse_tasks(await read_body(request, settings.max_body_bytes))
        outcomes = await worker.run(batch)
        metrics.observe_tasks(batch, outcomes)
        metrics.request_latency.labels("/v1/tasks").observe(time.perf_counter() - start)
        return json_response({"outcomes": [outcome_to_wire(o) for o in outcomes]})

    return app
