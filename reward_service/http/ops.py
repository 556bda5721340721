"""What every raas process serves besides its work: health, readiness, metrics, error shapes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict
from starlette.requests import ClientDisconnect

from reward_service.contract.errors import (
    BodyTimeoutError,
    BodyTooLargeError,
    ClientGoneError,
    RaasError,
    RequestError,
    detail,
)
from reward_service.http.auth import guard, metrics_keys
from reward_service.http.openapi import errors
from reward_service.http.shutdown import Draining, Shutdown
from reward_service.logs import RequestIds
from reward_service.metrics import Metrics
from reward_service.settings import Settings

Readiness = Callable[[], tuple[dict[str, Any], bool]]
T = TypeVar("T")


def json_response(
    payload: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(payload), status_code, headers, media_type="application/json")


async def until_disconnected(request: Request, work: Awaitable[T]) -> T:
    """``work``'s result, unless the client goes away first: then ``work`` is cancelled (its
    queued tasks leave the pool) and :class:`ClientGoneError` is raised."""
    job = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait((job, gone), return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        job.cancel()  # the request itself is cancelled (cut at shutdown): its work goes too
        raise
    finally:
        gone.cancel()
    if not job.done():
        job.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await job
        raise ClientGoneError("scoring")
    return job.result()


async def _disconnected(request: Request) -> None:
    """Return when the ASGI server reports the client gone (the body has been read already)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def parse_json(body: bytes | bytearray) -> Any:
    """The JSON value of a body, or the 422 :class:`RequestError` saying why it is none."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestError([detail(["body"], str(exc), "json_invalid")]) from None


async def read_body(request: Request, limit: int) -> bytearray:
    """The body, at most ``limit`` bytes (else :class:`BodyTooLargeError`), in a buffer that
    grows as chunks arrive: joining them at the end would copy the whole body in one step (23 ms
    for 261 MB in ``bench/bench_big_body.py``, more on fresh memory), an append takes at most
    1.5 ms. uvicorn has no body timeout of its own, so a client that stops or trickles mid-body
    would hold its connection and buffers: :class:`BodyTimeoutError` (408) for a body that
    stalls for ``RAAS_BODY_IDLE_TIMEOUT_S``, falls below ``RAAS_BODY_MIN_BYTES_PER_S`` on average
    once ``RAAS_BODY_RATE_GRACE_S`` have passed (:func:`body_deadline`), or takes over
    ``RAAS_BODY_TIMEOUT_S`` in all. A client that hangs up mid-body is
    :class:`ClientGoneError` (counted, no traceback)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLargeError(limit)
    settings: Settings = request.app.state.settings
    loop = asyncio.get_running_loop()
    start = loop.time()
    body = bytearray()
    try:
        async with asyncio.timeout(body_deadline(settings, start, start, 0)) as timer:
            async for chunk in request.stream():
                if len(body) + len(chunk) > limit:
                    raise BodyTooLargeError(limit)
                body += chunk
                timer.reschedule(body_deadline(settings, start, loop.time(), len(body)))
    except TimeoutError:
        raise BodyTimeoutError from None
    except ClientDisconnect:
        raise ClientGoneError("body") from None
    return body


def body_deadline(settings: Settings, start: float, now: float, received: int) -> float:
    """When a body begun at ``start`` that has brought ``received`` bytes by ``now`` is cut:
    after ``RAAS_BODY_IDLE_TIMEOUT_S`` without a byte, at ``RAAS_BODY_TIMEOUT_S`` in all, or
    when its average rate falls below ``RAAS_BODY_MIN_BYTES_PER_S`` — each byte buys
    ``1/rate`` s beyond ``RAAS_BODY_RATE_GRACE_S`` (Apache's ``mod_reqtimeout`` ``MinRate``,
    Kestrel's ``MinRequestBodyDataRate``). A body sent a byte every 2 s passes the idle check
    and would hold its connection the whole total; the rate cuts it after the grace period."""
    rate = start + settings.body_rate_grace_s + received / settings.body_min_bytes_per_s
    return min(now + settings.body_idle_timeout_s, start + settings.body_timeout_s, rate)


def add_ops_routes(
    app: FastAPI, settings: Settings, metrics: Metrics, readiness: Readiness
) -> None:
    """``/healthz`` (alive), ``/readyz`` (``readiness()`` says ready, else 503; 503 from SIGTERM
    on), ``/metrics``, the 422 / 413 / 408 / 429 error shapes, request ids and access lines, and
    the draining at SIGTERM (``app.state.shutdown``, which ``raas``'s server starts)."""
    shutdown = app.state.shutdown = Shutdown(settings.shutdown_grace_s)
    app.add_middleware(Draining, shutdown=shutdown)
    app.add_middleware(RequestIds)  # outside Draining: its access line shows a cut request's 503

    @app.exception_handler(RaasError)
    async def raas_error(_: Request, exc: RaasError) -> Response:
        """Every error raas raises on purpose, answered by what it carries."""
        if isinstance(exc, ClientGoneError):
            metrics.client_disconnects.labels(exc.stage).inc()
            return Response(status_code=499)  # nobody reads it; the access log shows why
        if exc.status is None:
            raise exc  # never meant to reach a handler: a bug, answered 500
        return json_response({"detail": exc.details()}, exc.status, exc.headers() or None)

    @app.get("/healthz", tags=["ops"], response_model=Health)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], response_model=Health, responses={503: {"model": Health}})
    async def readyz() -> Response:
        """Whether this process can score; what it knows of its backends (never their URLs)."""
        if shutdown.draining:
            return json_response({"status": "shutting down"}, 503)
        body, ready = readiness()
        return json_response(
            {"status": "ready" if ready else "not ready", **body}, 200 if ready else 503
        )

    @app.get(
        "/metrics",
        tags=["ops"],
        dependencies=[Depends(guard(metrics_keys(settings)))],
        response_class=PlainTextResponse,
        responses=errors(401),
    )
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


class Health(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: str
