"""The HTTP server every role runs: uvicorn, bounded in what one client can hold.

- ``RAAS_MAX_CONNECTIONS``: connections and requests at once; past it uvicorn answers 503 at once
  (clients retry), so a flood costs a refusal, not memory. ``/healthz`` and ``/readyz`` are never
  refused: they are answered from memory at once, and a probe refused because trainers (or
  trickling clients) hold every connection would have Kubernetes restart a healthy router.
- ``RAAS_HEADER_TIMEOUT_S``: a request's headers must arrive within this of the connection
  opening (or of the previous response): uvicorn alone keeps a half-sent request for ever.
- ``RAAS_BODY_IDLE_TIMEOUT_S``, ``RAAS_BODY_MIN_BYTES_PER_S`` (after ``RAAS_BODY_RATE_GRACE_S``)
  and ``RAAS_BODY_TIMEOUT_S``: the body, in ``ops.read_body`` (408).
- ``RAAS_KEEP_ALIVE_S``: an idle keep-alive connection is closed after this.
- SIGTERM: readiness drops, new work gets 503, requests in flight may finish for
  ``RAAS_SHUTDOWN_GRACE_S``, the rest get 503 with ``Retry-After``
  (``reward_service.http.shutdown``); then the backends close (pool children are killed; they also
  die with the process).
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from reward_service.http.shutdown import WRITE_GRACE_S, DrainingServer
from reward_service.http.supervisor import Slot
from reward_service.logs import log_config
from reward_service.settings import Settings

_PROBES = frozenset({b"/healthz", b"/readyz"})


class _HeaderDeadline(HttpToolsProtocol):
    """httptools' protocol with a deadline for each request's headers."""

    header_timeout_s = 10.0
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        if self.url.split(b"?", 1)[0] not in _PROBES:
            super().on_headers_complete()
            return
        limit, self.limit_concurrency = self.limit_concurrency, None  # probes: never refused
        try:
            super().on_headers_complete()
        finally:
            self.limit_concurrency = limit

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.header_timeout_s, self._headers_late)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _headers_late(self) -> None:
        self._deadline = None
        if (self.cycle is None or self.cycle.response_complete) and not self.transport.is_closing():
            self.transport.close()


def protocol(header_timeout_s: float) -> type[asyncio.Protocol]:
    return type("HeaderDeadline", (_HeaderDeadline,), {"header_timeout_s": header_timeout_s})


def config(app: FastAPI, settings: Settings, **overrides: Any) -> uvicorn.Config:
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "loop": "uvloop",
        "http": protocol(settings.header_timeout_s),
        "limit_concurrency": settings.max_connections,
        "timeout_keep_alive": settings.keep_alive_s,
        "timeout_graceful_shutdown": WRITE_GRACE_S,  # the grace period is DrainingServer's
        "log_config": log_config(settings.log_level, settings.log_format),
        "log_level": settings.log_level,
        "access_log": False,
    }
    return uvicorn.Config(app, **(options | overrides))


def serve(app: FastAPI) -> None:
    """Serve ``app`` (built by ``create_app`` or a worker factory: it holds its settings and
    its :class:`~reward_service.http.shutdown.Shutdown`) until SIGTERM has drained it. One of
    several routers (``app.state.slot``) serves the shared port and its own Unix socket, and tells
    the supervisor once it serves."""
    settings: Settings = app.state.settings
    slot: Slot | None = getattr(app.state, "slot", None)
    if slot is None:
        DrainingServer(config(app, settings), app.state.shutdown).run()
        return
    server = DrainingServer(config(app, settings), app.state.shutdown, slot.serving)
    server.run(sockets=slot.sockets(settings.host, settings.port))
