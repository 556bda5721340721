"""``raas worker rules``: a rule worker, the embedded pool behind ``POST /v1/tasks``.

Routers reach it through :class:`~reward_service.workers.remote.RemoteBackend`. It keeps no
state between requests, so it scales by replicas.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import ValidationError

from reward_service import __version__
from reward_service.errors import RequestError, UnknownNameError
from reward_service.metrics import Metrics
from reward_service.ops import add_ops_routes, json_response, read_body
from reward_service.settings import Settings
from reward_service.workers.execute import Task
from reward_service.workers.local import PoolBackend, build_pool
from reward_service.workers.wire import TaskBatch, WireTask, outcome_to_wire, task_from_wire


def parse_tasks(body: bytes) -> list[Task]:
    try:
        wires = TaskBatch.model_validate_json(body).tasks
    except ValidationError as exc:
        raise RequestError(
            [
                {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
                for e in exc.errors()[:100]
            ]
        ) from None
    return [_task(index, wire) for index, wire in enumerate(wires)]


def _task(index: int, wire: WireTask) -> Task:
    try:
        return task_from_wire(wire)
    except UnknownNameError as exc:
        raise RequestError(
            [{"loc": ["tasks", index, "verifier"], "msg": str(exc), "type": "unknown_name"}]
        ) from None
    except ValidationError as exc:
        loc = ["tasks", index, "params"]
        raise RequestError(
            [{"loc": [*loc, *e["loc"]], "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        ) from None


def create_rules_app(settings: Settings | None = None, metrics: Metrics | None = None) -> FastAPI:
    settings = settings if settings is not None else Settings()
    metrics = metrics if metrics is not None else Metrics(max_sources=settings.metrics_max_sources)
    rules = PoolBackend(build_pool(settings, metrics), metrics)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await rules.start()
        try:
            yield
        finally:
            await rules.close()

    app = FastAPI(title="raas rule worker", version=__version__, lifespan=lifespan)
    app.state.settings, app.state.metrics, app.state.rules = settings, metrics, rules
    add_ops_routes(app, settings, metrics, rules.readiness)

    @app.post("/v1/tasks", tags=["worker"])
    async def tasks(request: Request) -> Response:
        """Score tasks the router already validated and deduplicated; outcomes in order."""
        start = time.perf_counter()
        batch = parse_tasks(await read_body(request, settings.max_body_bytes))
        outcomes = await rules.run(batch)
        metrics.observe_tasks(batch, outcomes)
        metrics.request_latency.labels("/v1/tasks").observe(time.perf_counter() - start)
        return json_response({"outcomes": [outcome_to_wire(o) for o in outcomes]})

    return app
