"""A worker as a service of its own: a backend behind ``POST /v1/tasks``.

``raas worker rules`` serves the process pool and ``raas worker model`` the reward models through
this one app; routers reach either with :class:`~reward_service.remote.backend.RemoteBackend`.
A worker keeps no state between requests, so it scales by replicas. It trusts no caller: every
task is admitted again against its own registry (:mod:`reward_service.contract.admission`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.responses import Response
from pydantic import TypeAdapter, ValidationError

from reward_service import __version__
from reward_service.contract.admission import Admissions, located, too_big
from reward_service.contract.errors import RequestError, validation_errors
from reward_service.contract.registry import VERIFIERS
from reward_service.contract.task import Backend, Outcome, Task, running
from reward_service.http.auth import guard, internal_keys
from reward_service.http.openapi import add_docs, errors, json_body
from reward_service.http.ops import add_ops_routes, json_response, read_body
from reward_service.http.parsing import validated
from reward_service.metrics import Metrics
from reward_service.pool.backend import PoolBackend, build_pool
from reward_service.remote.wire import (
    OutcomeBatch,
    TaskBatch,
    WireTask,
    outcome_to_wire,
    task_from_wire,
)
from reward_service.settings import Settings
from reward_service.verifiers import load_verifiers

_BATCH: TypeAdapter[TaskBatch] = TypeAdapter(TaskBatch)


def parse_tasks(body: bytes | bytearray, settings: Settings) -> list[Task | Outcome]:
    """The tasks of a ``POST /v1/tasks`` body, admitted as the router admits samples
    (:mod:`reward_service.contract.admission`): a task over the size limits is answered
    ``invalid_input`` here, never sent to the pool; the first task refused refuses the body."""
    try:
        wires = validated(_BATCH, body).tasks
    except ValidationError as exc:
        raise RequestError(validation_errors(exc)) from None
    admissions = Admissions()
    return [_task(index, wire, settings, admissions) for index, wire in enumerate(wires)]


def _task(index: int, wire: WireTask, settings: Settings, admissions: Admissions) -> Task | Outcome:
    try:
        task = task_from_wire(wire, admissions)
    except RequestError as exc:
        raise RequestError(located(exc.errors, ["tasks", index])) from None
    reads_prompt = VERIFIERS.get(task.verifier).reads_prompt
    return too_big(task.response, task.ground_truth, task.prompt, reads_prompt, settings) or task


def create_worker_app(
    title: str, backend: Backend, settings: Settings, metrics: Metrics
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with running([backend]):
            yield

    app = FastAPI(
        title=title,
        version=__version__,
        lifespan=lifespan,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings, app.state.metrics, app.state.backend = settings, metrics, backend
    check = guard(internal_keys(settings))
    add_docs(app, check, [TaskBatch])
    add_ops_routes(app, settings, metrics, backend.readiness)

    @app.post(
        "/v1/tasks",
        tags=["worker"],
        dependencies=[Depends(check)],
        response_model=OutcomeBatch,
        responses=errors(401, 413, 422, 429),
        openapi_extra=json_body(TaskBatch),
    )
    @metrics.timed("/v1/tasks")
    async def tasks(request: Request) -> Response:
        """Score tasks for a router (``RAAS_INTERNAL_TOKEN`` as its bearer token when set);
        each is validated again here, and outcomes come back in order."""
        parsed = parse_tasks(await read_body(request, settings.max_body_bytes), settings)
        batch = [task for task in parsed if isinstance(task, Task)]
        scored = await backend.run(batch)
        metrics.observe_tasks(batch, scored)
        answers = iter(scored)
        outcomes = [next(answers) if isinstance(p, Task) else p for p in parsed]
        return json_response({"outcomes": [outcome_to_wire(o) for o in outcomes]})

    return app


def create_rules_app(settings: Settings | None = None, metrics: Metrics | None = None) -> FastAPI:
    """``raas worker rules``: the sandboxed process pool."""
    load_verifiers()
    settings = settings if settings is not None else Settings()
    metrics = metrics if metrics is not None else Metrics.for_settings(settings)
    backend = PoolBackend(build_pool(settings, metrics), metrics)
    return create_worker_app("raas rule worker", backend, settings, metrics)


def create_model_app(settings: Settings | None = None, metrics: Metrics | None = None) -> FastAPI:
    """``raas worker model``: the models in ``RAAS_MODELS``, one worker per GPU (pin it with
    ``CUDA_VISIBLE_DEVICES``); none configured, every task is ``unavailable``. It loads only the
    model verifiers and format checkers (no sympy, no shapely)."""
    from reward_service.models.backend import ModelBackend  # needs torch: only in this role

    load_verifiers(models_only=True)
    settings = settings if settings is not None else Settings()
    metrics = metrics if metrics is not None else Metrics.for_settings(settings)
    return create_worker_app(
        "raas model worker", ModelBackend(settings.models, metrics), settings, metrics
    )
