"""Structured logs: one JSON object a line, each with the id of the request it belongs to.

Every request gets an id: the caller's ``X-Request-ID`` when it is a short token, else a fresh
one; it is echoed in the response header, stamped on every log line written while the request
is served, and sent on to remote workers, so a router's line and its workers' lines join up.
One access line per request (method, path, status, milliseconds; no body, no response text).
Rollout text never reaches a log above ``debug``: a trainer's data stays out of shared logs.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from contextvars import ContextVar
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "x-request-id"
_VALID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_request_id: ContextVar[str | None] = ContextVar("raas_request_id", default=None)
_PROBES = frozenset({"/healthz", "/readyz", "/metrics"})  # polled every few seconds: debug
access_logger = logging.getLogger("raas.access")


def current_request_id() -> str | None:
    return _request_id.get()


def request_id_header() -> dict[str, str]:
    """The header that carries this request's id on to a worker (none outside a request)."""
    found = _request_id.get()
    return {} if found is None else {HEADER: found}


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", "request_id"?, "exc"?}`` per line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if (found := _request_id.get()) is not None:
            line["request_id"] = found
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def log_config(level: str, fmt: str) -> dict[str, Any]:
    """``logging.config.dictConfig`` for uvicorn and raas: JSON (or plain text) on stderr.
    uvicorn's own access log is replaced by :class:`RequestIds`' line."""
    formatter = (
        {"()": JsonFormatter}
        if fmt == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    )
    handler = {"class": "logging.StreamHandler", "formatter": "raas", "stream": "ext://sys.stderr"}
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"raas": formatter},
        "handlers": {"raas": handler},
        "loggers": {
            "raas": {"handlers": ["raas"], "level": level, "propagate": False},
            "uvicorn": {"handlers": ["raas"], "level": level, "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


class RequestIds:
    """ASGI middleware: a request id for every HTTP request, and its access line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(HEADER.encode(), b"").decode("latin-1")
        request_id = given if _VALID.match(given) else uuid.uuid4().hex
        token = _request_id.set(request_id)
        start, status = time.perf_counter(), [500]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                headers = [*message.get("headers", []), (HEADER.encode(), request_id.encode())]
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            fields = {
                "method": scope["method"],
                "path": scope["path"],
                "status": status[0],
                "ms": round((time.perf_counter() - start) * 1000, 2),
            }
            level = logging.DEBUG if scope["path"] in _PROBES else logging.INFO
            access_logger.log(
                level,
                "%s %s %d",
                scope["method"],
                scope["path"],
                status[0],
                extra={"fields": fields},
            )
            _request_id.reset(token)
