"""Scoring on remote workers: least-in-flight balancing, retries with jittered backoff, ejection.

A batch is cut into pieces; each piece goes to the healthy worker with the fewest pieces in
flight. Connection failures, broken connections and 502/503/504 are retried on another worker
with exponential backoff and jitter (scoring is a pure function, so a piece that died half-way
is safe to send again); a 4xx is never retried. A worker failing ``eject_after`` times in a row
is taken out of rotation until its ``/readyz`` answers 200 again. A piece no worker could score
gets ``unavailable``; the other pieces of the batch are unaffected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from reward_service.contract import Outcome, Task
from reward_service.errors import error_text
from reward_service.logs import request_id_header
from reward_service.outbound import AcyclicAsyncClient
from reward_service.remote.wire import outcome_from_wire, task_to_wire

logger = logging.getLogger("raas.remote")
RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_WAIT_S = 30.0


@dataclass(slots=True, eq=False)
class Endpoint:
    url: str
    in_flight: int = 0
    failures: int = 0  # consecutive
    healthy: bool = True


class _Retryable(Exception):
    def __init__(self, message: str, wait_s: float = 0.0) -> None:
        super().__init__(message)
        self.wait_s = wait_s  # what the worker asked for (Retry-After), at most MAX_WAIT_S


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
        timeout_s: float = 300.0,
        eject_after: int = 2,
        health_interval_s: float = 2.0,
        on_retry: Callable[[], None] | None = None,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """``headers`` go with every call (the internal token); ``transport`` replaces the
        network (httpx's seam for tests)."""
        if not urls:
            raise ValueError("RemoteBackend needs at least one worker URL")
        self._transport = transport
        self.endpoints = [Endpoint(url.rstrip("/")) for url in urls]
        self.path, self.piece_size, self.attempts = path, piece_size, attempts
        self.piece_bytes = piece_bytes
        self.backoff_s, self.eject_after, self.health_interval_s = (
            backoff_s,
            eject_after,
            health_interval_s,
        )
        self.retries = 0
        self.on_retry = on_retry
        self.headers = {"content-type": "application/json", **(headers or {})}
        self._timeout = httpx.Timeout(timeout_s, connect=5.0)
        self._client: AcyclicAsyncClient | None = None
        self._health: asyncio.Task[None] | None = None

    async def start(self) -> None:
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=64)
        self._client = AcyclicAsyncClient(
            timeout=self._timeout, limits=limits, transport=self._transport
        )
        self._health = asyncio.create_task(self._watch_health())

    async def close(self) -> None:
        if self._health is not None:
            self._health.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._health
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
        body = orjson.dumps({"tasks": [task_to_wire(t) for t in tasks]})
        error, wait_s = "no healthy worker", 0.0
        for attempt in range(self.attempts):
            if attempt:
                self.retries += 1
                if self.on_retry is not None:
                    self.on_retry()
                backoff = self.backoff_s * 2 ** (attempt - 1) * random.uniform(0.5, 1.5)
                await asyncio.sleep(max(backoff, wait_s))
            endpoint = self._pick()
            if endpoint is None:
                continue
            try:
                return await self._post(endpoint, body, len(tasks))
            except _Retryable as exc:
                error, wait_s = f"{endpoint.url}: {exc}", exc.wait_s
                if exc.wait_s == 0.0:  # a busy worker (429) is healthy, only full
                    self._failed(endpoint)
        return [Outcome("unavailable", error=f"no worker could score it ({error})") for _ in tasks]

    async def _post(self, endpoint: Endpoint, body: bytes, expected: int) -> list[Outcome]:
        assert self._client is not None, "RemoteBackend.start() was not awaited"
        endpoint.in_flight += 1
        try:
            headers = {**self.headers, **request_id_header()}
            response = await self._client.post(
                endpoint.url + self.path, content=body, headers=headers
            )
        except Exception as exc:  # no answer came, so retry: httpx's transport errors, and
            # (seen: anyio on uvloop, a connection to a worker that just died) "'NoneType' object
            # has no attribute 'getpeername'"
            raise _Retryable(error_text(exc)) from exc
        finally:
            endpoint.in_flight -= 1
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

    def _pick(self) -> Endpoint | None:
        healthy = [e for e in self.endpoints if e.healthy]
        if not healthy:
            return None
        least = min(e.in_flight for e in healthy)
        return random.choice([e for e in healthy if e.in_flight == least])

    def _failed(self, endpoint: Endpoint) -> None:
        endpoint.failures += 1
        if endpoint.failures >= self.eject_after and endpoint.healthy:
            endpoint.healthy = False
            logger.warning("worker %s taken out after %d failures", endpoint.url, endpoint.failures)

    async def _watch_health(self) -> None:
        while True:
            await asyncio.gather(*(self._check(e) for e in self.endpoints))
            await asyncio.sleep(self.health_interval_s)

    async def _check(self, endpoint: Endpoint) -> None:
        assert self._client is not None
        try:
            ok = (await self._client.get(endpoint.url + "/readyz", timeout=2.0)).status_code == 200
        except Exception:  # no answer (see _post): not ready, and the watch goes on
            ok = False
        if ok and not endpoint.healthy:
            logger.info("worker %s is back", endpoint.url)
            endpoint.failures = 0
        endpoint.healthy = ok


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
