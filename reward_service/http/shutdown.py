"""SIGTERM without a 500: readiness drops first, work in flight may finish within the grace
period, and work that cannot is answered 503 with ``Retry-After``, which clients retry.

uvicorn alone closes its listening socket at SIGTERM, waits ``timeout_graceful_shutdown`` for the
requests in flight, then cancels them and answers each 500 — which a client must take for a bug
and not retry. Every raas role instead, from SIGTERM on:

- ``/readyz`` answers 503 ``shutting down`` (a balancer stops sending work); ``/healthz`` and
  ``/metrics`` still answer;
- a new request for work is answered 503 with ``Retry-After`` and ``Connection: close`` (the
  listener stays open while work is in flight, so a client routed here before its balancer
  noticed gets an answer it retries, elsewhere or after the restart);
- the work in flight may finish until ``RAAS_SHUTDOWN_GRACE_S`` after the signal; a request still
  working then whose answer has not started is cancelled and answered 503 with ``Retry-After``;
- the server stops as soon as nothing is in flight (at once when idle), then closes its backends
  (pool children are killed).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass

import orjson
import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reward_service.contract.errors import detail

logger = logging.getLogger("raas.shutdown")
RETRY_AFTER_S = 1  # the retry goes to another replica, or waits (backing off) for the restart
UNTRACKED = frozenset({"/healthz", "/readyz", "/metrics"})  # answered at once, never cut
WRITE_GRACE_S = 5.0  # past the grace period, for answers already being sent


@dataclass(slots=True)
class _Working:
    answering: bool = False  # the answer has started: it is left to finish
    cut: bool = False  # cancelled at the end of the grace period: it is answered 503


class Shutdown:
    """The state SIGTERM starts, shared by :class:`Draining` and :class:`DrainingServer`."""

    def __init__(self, grace_s: float) -> None:
        self.grace_s = grace_s
        self.draining = False
        self.expired = False
        self.working: dict[asyncio.Task[object], _Working] = {}

    @property
    def done(self) -> bool:
        """Nothing left to wait for: nothing in flight, or the grace period is over."""
        return self.draining and (not self.working or self.expired)

    def begin(self) -> None:
        """Refuse new work from now on; cut what still works ``grace_s`` from now."""
        if not self.draining:
            self.draining = True
            asyncio.get_running_loop().call_later(self.grace_s, self._expire)
            logger.info("shutting down: %d requests in flight", len(self.working))

    def _expire(self) -> None:
        self.expired = True
        cut = [(task, w) for task, w in self.working.items() if not w.answering]
        for task, working in cut:
            working.cut = True
            task.cancel()
        if cut:
            logger.warning(
                "grace period of %s s over: %d requests answered 503 (retryable)",
                self.grace_s,
                len(cut),
            )


class Draining:
    """ASGI middleware: work requests are tracked so that :class:`Shutdown` can refuse and cut
    them; probes and metrics pass untouched."""

    def __init__(self, app: ASGIApp, shutdown: Shutdown) -> None:
        self.app, self.shutdown = app, shutdown

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNTRACKED:
            await self.app(scope, receive, send)
        elif self.shutdown.draining:
            await retry_later(send, "shutting down")
        else:
            await self._tracked(scope, receive, send)

    async def _tracked(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        assert task is not None  # an ASGI request always runs in a task
        working = self.shutdown.working[task] = _Working()

        async def watched(message: Message) -> None:
            working.answering = working.answering or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except asyncio.CancelledError:
            if not working.cut:
                raise  # cancelled by someone else: not ours to answer
            task.uncancel()
            await retry_later(send, "shutting down: the grace period ended before the answer")
        finally:
            del self.shutdown.working[task]


async def retry_later(send: Send, why: str) -> None:
    """503 with ``Retry-After`` and ``Connection: close`` (its body may not have been read)."""
    body = orjson.dumps({"detail": [detail([], f"{why}; retry", "unavailable")]})
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(RETRY_AFTER_S).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _nothing() -> None:
    pass


class DrainingServer(uvicorn.Server):
    """uvicorn's server, which at SIGTERM first drains (:class:`Shutdown`) and only then stops
    listening and shuts down. A second Ctrl-C still forces the exit at once."""

    def __init__(
        self, config: uvicorn.Config, shutdown: Shutdown, on_started: Callable[[], None] = _nothing
    ) -> None:
        super().__init__(config)
        self.drain = shutdown  # not ``self.shutdown``: uvicorn's method of that name
        self.on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.on_started()

    async def on_tick(self, counter: int) -> bool:
        stop = await super().on_tick(counter)  # True once a signal has set should_exit
        if not self.should_exit or self.force_exit:
            return stop
        self.drain.begin()
        return self.drain.done
