"""Scoring on remote workers: least-in-flight balancing, retries within a budget, ejection,
and pieces moved off a worker that stopped answering.

A batch is cut into pieces; each piece goes to the healthy worker with the fewest pieces in
flight (:mod:`.health` says which are healthy). Connection failures, broken connections and
502/503/504 are retried on another worker with exponential backoff and jitter (scoring is a pure
function, so a piece that died half-way is safe to send again); a 4xx is never retried. A piece
is retried until it has had ``attempts`` tries and ``retry_budget_s`` have passed since its first
failure: when every worker is briefly out (one restarting, another frozen), pieces wait for the
first to come back instead of failing. A worker silent for ``stall_s`` (no answer to the piece,
none to ``/readyz``: frozen, not dead) gets its piece sent to another worker as well; the first
answer wins and the other send is cancelled, so each task is answered once. A piece still
without an answer when the budget is spent gets ``unavailable`` with ``details.retryable`` (the
trainer may send it again); the other pieces of the batch are unaffected.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from reward_service.contract.errors import error_text
from reward_service.contract.task import Outcome, Task
from reward_service.http.outbound import AcyclicAsyncClient
from reward_service.logs import request_id_header
from reward_service.remote.discovery import Discovery, Resolve
from reward_service.remote.health import Endpoint, Endpoints
from reward_service.remote.wire import outcome_from_wire, task_to_wire

logger = logging.getLogger("raas.remote")
RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_WAIT_S = 30.0
MAX_BACKOFF_S = 1.0  # past a few tries, a piece waiting out its budget still retries each second


class _Retryable(Exception):
    def __init__(self, message: str, wait_s: float = 0.0) -> None:
        super().__init__(message)
        self.wait_s = wait_s  # what the worker asked for (Retry-After), at most MAX_WAIT_S


@dataclass(slots=True, eq=False)
class _Sent:
    endpoint: Endpoint
    at: float  # monotonic


class _Piece:
    """A piece's sends, its tries, and the clock of its retry budget."""

    def __init__(self, body: bytes, expected: int, budget_s: float) -> None:
        self.body, self.expected, self.budget_s = body, expected, budget_s
        self.sent: dict[asyncio.Future[list[Outcome]], _Sent] = {}
        self.tries = 0
        self.troubled: float | None = None  # when it first failed, stalled or found no worker
        self.error, self.wait_s = "no healthy worker", 0.0

    def trouble(self, error: str | None = None, wait_s: float = 0.0) -> None:
        if self.troubled is None:
            self.troubled = time.monotonic()
        if error is not None:
            self.error, self.wait_s = error, wait_s

    def budget_end(self) -> float:
        start = self.troubled if self.troubled is not None else time.monotonic()
        return start + self.budget_s

    def spent(self, attempts: int) -> bool:
        return self.tries >= attempts and time.monotonic() >= self.budget_end()

    def drop(self) -> None:
        """Sends still out lose: cancelled (their connections closed), their answers unread."""
        for send in self.sent:
            send.cancel()
            send.add_done_callback(_seen)
        self.sent.clear()

    def unavailable(self) -> list[Outcome]:
        error = f"no worker could score it ({self.error})"
        details = {"retryable": True}
        return [Outcome("unavailable", error=error, details=details) for _ in range(self.expected)]


def _landed(endpoint: Endpoint, _: asyncio.Future[Any]) -> None:
    endpoint.in_flight -= 1


def _seen(send: asyncio.Future[Any]) -> None:
    """Marks a dropped send's exception as read (asyncio logs those never read)."""
    if not send.cancelled():
        send.exception()


class RemoteBackend:
    """The router's backend for a family of remote workers (``POST {url}{path}``)."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        path: str = "/v1/tasks",
        piece_size: int = 256,
        piece_bytes: int = 16 * 1024 * 1024,
        attempts: int = 4,
        backoff_s: float = 0.1,
        retry_budget_s: float = 30.0,
        stall_s: float = 7.0,
        timeout_s: float = 300.0,
        eject_after: int = 2,
        health_interval_s: float = 2.0,
        on_retry: Callable[[], None] | None = None,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        resolve: Resolve | None = None,
        discovery_interval_s: float = 5.0,
    ) -> None:
        """``retry_budget_s``: how long past its first failure a piece is still retried;
        ``stall_s``: how long a worker may stay silent before its pieces go elsewhere too (the
        router gives the sample deadline plus a margin: a live worker answers ``/readyz`` in
        milliseconds, whatever it is scoring). ``headers`` go with every call (the internal
        token); ``transport`` replaces the network (httpx's seam for tests). ``resolve``: each
        URL's name resolved to one worker per address every ``discovery_interval_s``
        (:mod:`.discovery`); None: the URLs are the workers."""
        if not urls:
            raise ValueError("RemoteBackend needs at least one worker URL")
        self.health = Endpoints(
            [] if resolve else urls, eject_after=eject_after, interval_s=health_interval_s
        )
        self.discovery = (
            Discovery(urls, self.health, resolve=resolve, interval_s=discovery_interval_s)
            if resolve
            else None
        )
        self._transport = transport
        self.path, self.piece_size, self.attempts = path, piece_size, attempts
        self.piece_bytes, self.backoff_s = piece_bytes, backoff_s
        self.retry_budget_s, self.stall_s = retry_budget_s, stall_s
        self.retries = self.hedges = 0
        self.on_retry = on_retry
        self.headers = {"content-type": "application/json", **(headers or {})}
        self._timeout = httpx.Timeout(timeout_s, connect=5.0)
        self._client: AcyclicAsyncClient | None = None

    @property
    def endpoints(self) -> list[Endpoint]:
        return self.health.all

    async def start(self) -> None:
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=64)
        self._client = AcyclicAsyncClient(
            timeout=self._timeout, limits=limits, transport=self._transport
        )
        self.health.start(self._client)
        if self.discovery is not None:
            await self.discovery.start()

    async def close(self) -> None:
        if self.discovery is not None:
            await self.discovery.close()
        await self.health.close()
        if self._client is not None:
            await self._client.aclose()

    def readiness(self) -> tuple[dict[str, Any], bool]:
        """Per worker, in configured order: healthy and pieces in flight (URLs stay private)."""
        workers = [{"healthy": e.healthy, "in_flight": e.in_flight} for e in self.endpoints]
        return {"workers": workers}, any(e.healthy for e in self.endpoints)

    async def run(self, tasks: Sequence[Task]) -> list[Outcome]:
        count = max(2 * len(self.endpoints), math.ceil(len(tasks) / self.piece_size))
        pieces = _split(list(tasks), count, self.piece_bytes)
        scored = await asyncio.gather(*(self._run_piece(piece) for piece in pieces))
        return [outcome for piece in scored for outcome in piece]

    async def _run_piece(self, tasks: list[Task]) -> list[Outcome]:
        """The first answer a worker gives for the piece; ``unavailable`` when none came."""
        body = orjson.dumps({"tasks": [task_to_wire(t) for t in tasks]})
        piece = _Piece(body, len(tasks), self.retry_budget_s)
        try:
            while True:
                if not piece.sent:
                    endpoint = await self._next(piece)
                    if endpoint is None:
                        return piece.unavailable()
                    self._send(piece, endpoint)
                done, _ = await asyncio.wait(
                    piece.sent, timeout=min(1.0, self.stall_s / 4), return_when="FIRST_COMPLETED"
                )
                for send in done:
                    answer = self._answer(piece, send)
                    if answer is not None:
                        return answer
                if piece.sent and self._stalled(piece):
                    piece.trouble()
                    if time.monotonic() >= piece.budget_end():
                        return piece.unavailable()
                    self._hedge(piece)
        finally:
            piece.drop()

    async def _next(self, piece: _Piece) -> Endpoint | None:
        """The worker for the piece's next try, after a backoff if it had one, waiting within
        the budget for one to be healthy; ``None`` once the tries and the budget are spent."""
        while True:
            if piece.tries:
                if piece.spent(self.attempts):
                    return None
                self._count_retry()
                await asyncio.sleep(self._backoff(piece))
            endpoint = self.health.pick()
            if endpoint is None:  # every worker is out: wait for one within the budget
                piece.trouble()
                endpoint = await self.health.healthy(piece.budget_end())
            if endpoint is not None or self.retry_budget_s > 0:
                return endpoint  # None: the budget went by with no worker to send it to
            piece.tries += 1  # no budget: a try with no worker counts as a try

    def _backoff(self, piece: _Piece) -> float:
        jittered = self.backoff_s * 2.0 ** min(piece.tries - 1, 16) * random.uniform(0.5, 1.5)
        wait = max(min(jittered, MAX_BACKOFF_S), piece.wait_s)
        if piece.tries >= self.attempts:  # only the budget is left: do not sleep past it
            wait = min(wait, max(0.0, piece.budget_end() - time.monotonic()))
        return wait

    def _send(self, piece: _Piece, endpoint: Endpoint) -> None:
        piece.tries += 1
        endpoint.in_flight += 1  # counted now, not when the send first runs: the next piece's
        # pick (in the same loop step, for a batch's pieces) sees it and goes elsewhere
        send = asyncio.ensure_future(self._post(endpoint, piece.body, piece.expected))
        send.add_done_callback(functools.partial(_landed, endpoint))
        piece.sent[send] = _Sent(endpoint, time.monotonic())

    def _answer(self, piece: _Piece, send: asyncio.Future[list[Outcome]]) -> list[Outcome] | None:
        """A send that finished: its outcomes, or ``None`` after noting its failure."""
        endpoint = piece.sent.pop(send).endpoint
        exc = send.exception()  # not ``result()``: raising here would put this frame, and the
        # send in it, on the exception's traceback, a cycle holding the worker's answer
        if exc is None:
            return send.result()
        if not isinstance(exc, _Retryable):
            raise exc
        piece.trouble(f"{endpoint.url}: {exc}", exc.wait_s)
        if exc.wait_s == 0.0:  # a busy worker (429) is healthy, only full
            self.health.failed(endpoint)
        return None

    def _stalled(self, piece: _Piece) -> bool:
        """Whether every worker the piece is out on has been silent for ``stall_s``. One silent
        for half that is probed: a live worker answers and so is heard again."""
        now, stalled = time.monotonic(), True
        for sent in piece.sent.values():
            silent = now - max(sent.endpoint.heard, sent.at)
            if silent > self.stall_s / 2:
                self.health.probe(sent.endpoint, revive=False, spacing=self.stall_s / 2)
            stalled = stalled and silent > self.stall_s
        return stalled

    def _hedge(self, piece: _Piece) -> None:
        """Send the piece to a healthy worker it is not out on (none: keep waiting)."""
        out = [sent.endpoint for sent in piece.sent.values()]
        spare = self.health.pick(exclude=out)
        if spare is None:
            return
        self.hedges += 1
        self._count_retry()
        piece.trouble(f"{', '.join(e.url for e in out)}: silent for over {self.stall_s:g} s")
        logger.debug("worker %s silent: its piece goes to %s as well", out[0].url, spare.url)
        self._send(piece, spare)

    def _count_retry(self) -> None:
        self.retries += 1
        if self.on_retry is not None:
            self.on_retry()

    async def _post(self, endpoint: Endpoint, body: bytes, expected: int) -> list[Outcome]:
        assert self._client is not None, "RemoteBackend.start() was not awaited"
        try:
            headers = {**self.headers, **request_id_header()}
            response = await self._client.post(
                endpoint.url + self.path, content=body, headers=headers
            )
        except Exception as exc:  # no answer came, so retry: httpx's transport errors, and
            # (seen: anyio on uvloop, a connection to a worker that just died) "'NoneType' object
            # has no attribute 'getpeername'"
            raise _Retryable(error_text(exc)) from exc
        endpoint.heard = time.monotonic()
        if response.status_code in RETRY_STATUSES:
            raise _Retryable(f"HTTP {response.status_code}", _retry_after(response))
        endpoint.failures = 0
        if response.status_code != 200:
            error = f"worker refused the tasks: HTTP {response.status_code} {response.text[:500]}"
            return [Outcome("error", error=error) for _ in range(expected)]
        try:
            payload = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            payload = None
        return _outcomes(payload, expected)


def _retry_after(response: httpx.Response) -> float:
    """Seconds a 429 asks for (``Retry-After``, capped); 0 for other statuses."""
    if response.status_code != 429:
        return 0.0
    value = response.headers.get("retry-after", "1")
    return min(MAX_WAIT_S, float(value)) if value.isdigit() else 1.0


def _split(tasks: list[Task], pieces: int, max_bytes: int) -> list[list[Task]]:
    """Contiguous pieces (tasks arrive sorted by ground truth: neighbours share a parse), about
    ``pieces`` of them, none over ``max_bytes`` unless a single task is."""
    size = max(1, math.ceil(len(tasks) / max(1, pieces)))
    out: list[list[Task]] = []
    piece: list[Task] = []
    held = 0
    for task in tasks:
        weight = task.size()
        if piece and (len(piece) == size or held + weight > max_bytes):
            out.append(piece)
            piece, held = [], 0
        piece.append(task)
        held += weight
    if piece:
        out.append(piece)
    return out


def _outcomes(payload: Any, expected: int) -> list[Outcome]:
    outcomes = payload.get("outcomes") if isinstance(payload, dict) else None
    if not isinstance(outcomes, list) or len(outcomes) != expected:
        return [
            Outcome("error", error="worker answered with a malformed body") for _ in range(expected)
        ]
    try:
        return [outcome_from_wire(o) for o in outcomes]
    except ValueError as exc:
        return [
            Outcome("error", error=f"worker answered with a bad outcome: {exc}")
            for _ in range(expected)
        ]
