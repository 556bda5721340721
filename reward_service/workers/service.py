"""A worker as a service of its own: a backend behind ``POST /v1/tasks``.

``raas worker rules`` serves the process pool and ``raas worker model`` the reward models through
this one app; routers reach either with :class:`~reward_service.workers.remote.RemoteBackend`.
A worker keeps no state between requests, so it scales by replicas. It trusts no caller: every
task is validated again against its own registry.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import ValidationError

from reward_service import __version__
from reward_service.contract import Outcome, Task
from reward_service.errors import RequestError, UnknownNameError
from reward_service.metrics import Metrics
from reward_service.ops import add_ops_routes, json_response, read_body
from reward_service.registry import Params
from reward_service.settings import Settings
from reward_service.verifiers import load_verifiers
from reward_service.workers.local import PoolBackend, build_pool
from reward_service.workers.wire import TaskBatch, WireTask, outcome_to_wire, task_from_wire


class WorkerBackend(Protocol):
    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def run(self, tasks: Sequence[Task]) -> list[Outcome]: ...
    def readiness(self) -> tuple[dict[str, Any], bool]: ...


def parse_tasks(body: bytes, settings: Settings) -> list[Task | Outcome]:
    """The tasks of a ``POST /v1/tasks`` body, checked as the router checks samples: a task
    over the size limits is answered ``invalid_input`` here, never sent to the pool."""
    try:
        wires = TaskBatch.model_validate_json(body).tasks
    except ValidationError as exc:
        errors = exc.errors()[:100]
        raise RequestError([_error(list(e["loc"]), e["msg"], e["type"]) for e in errors]) from None
    cache: dict[str, Params] = {}
    return [_task(index, wire, settings, cache) for index, wire in enumerate(wires)]


def _too_big(task: Task, settings: Settings) -> Outcome | None:
    if len(task.response) > (limit := settings.max_response_chars):
        return Outcome("invalid_input", error=f"response longer than {limit} characters")
    if len(task.ground_truth) > (limit := settings.max_ground_truth_chars):
        return Outcome("invalid_input", error=f"ground_truth longer than {limit} characters")
    return None


def _error(loc: list[Any], msg: str, kind: str) -> dict[str, Any]:
    return {"loc": loc, "msg": msg, "type": kind}


def _task(
    index: int, wire: WireTask, settings: Settings, cache: dict[str, Params]
) -> Task | Outcome:
    where: list[Any] = ["tasks", index]
    try:
        task = task_from_wire(wire, cache)
        return _too_big(task, settings) or task
    except UnknownNameError as exc:
        raise RequestError([_error([*where, "verifier"], str(exc), "unknown_name")]) from None
    except ValidationError as exc:
        errors = [_error([*where, "params", *e["loc"]], e["msg"], e["type"]) for e in exc.errors()]
        raise RequestError(errors) from None


def create_worker_app(
    title: str, backend: WorkerBackend, settings: Settings, metrics: Metrics
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await backend.start()
        try:
            yield
        finally:
            await backend.close()

    app = FastAPI(title=title, version=__version__, lifespan=lifespan)
    app.state.settings, app.state.metrics, app.state.backend = settings, metrics, backend
    add_ops_routes(app, settings, metrics, backend.readiness)

    @app.post("/v1/tasks", tags=["worker"])
    async def tasks(request: Request) -> Response:
        """Score tasks a router already validated and deduplicated; outcomes in order."""
        start = time.perf_counter()
        parsed = parse_tasks(await read_body(request, settings.max_body_bytes), settings)
        batch = [task for task in parsed if isinstance(task, Task)]
        scored = await backend.run(batch)
        metrics.observe_tasks(batch, scored)
        answers = iter(scored)
        outcomes = [next(answers) if isinstance(p, Task) else p for p in parsed]
        metrics.request_latency.labels("/v1/tasks").observe(time.perf_counter() - start)
        return json_response({"outcomes": [outcome_to_wire(o) for o in outcomes]})

    return app


def create_rules_app(settings: Settings | None = None, metrics: Metrics | None = None) -> FastAPI:
    """``raas worker rules``: the sandboxed process pool."""
    load_verifiers()
    settings = settings if settings is not None else Settings()
    metrics = metrics if metrics is not None else Metrics(max_sources=settings.metrics_max_sources)
    backend = PoolBackend(build_pool(settings, metrics), metrics)
    return create_worker_app("raas rule worker", backend, settings, metrics)
