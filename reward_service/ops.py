"""What every raas process serves besides its work: health, readiness, metrics, error shapes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from reward_service.errors import RequestError
from reward_service.metrics import Metrics
from reward_service.settings import Settings

Readiness = Callable[[], tuple[dict[str, Any], bool]]


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


def add_ops_routes(
    app: FastAPI, settings: Settings, metrics: Metrics, readiness: Readiness
) -> None:
    """``/healthz`` (alive), ``/readyz`` (``readiness()`` says ready, else 503), ``/metrics``,
    and the 422 / 413 error shapes."""

    @app.exception_handler(RequestError)
    async def request_error(_: Request, exc: RequestError) -> Response:
        return json_response({"detail": exc.errors}, 422)

    @app.exception_handler(BodyTooLargeError)
    async def too_large(_: Request, __: BodyTooLargeError) -> Response:
        msg = f"body over {settings.max_body_bytes} bytes"
        return json_response({"detail": [{"loc": ["body"], "msg": msg, "type": "too_large"}]}, 413)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    async def readyz() -> Response:
        body, ready = readiness()
        return json_response(
            {"status": "ready" if ready else "not ready", **body}, 200 if ready else 503
        )

    @app.get("/metrics", tags=["ops"])
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
