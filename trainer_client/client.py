"""``RewardClient``: a trainer's connection to raas, async and sync over one connection pool.

    client = RewardClient("http://raas:8000")
    batch = client.score_sync(samples, step=12, total_steps=460)      # blocking
    batch = await client.score(samples, step=12, total_steps=460)     # from any event loop
    future = client.submit(samples)                                   # keep generating meanwhile
    rewards = batch.rewards                                           # float, or None if unscored
    batch.summary                      # per data_source: reward, accuracy, IoU, threshold, …
    batch.scalars()                    # {"reward/mm_math": 0.61, "iou/det": 0.7, …} to log

A sample is the wire dict of ``POST /reward`` (``response``, ``verifier``, ``ground_truth``, …).
Batches above ``max_batch`` samples are split and sent concurrently (at most
``max_concurrency`` requests in flight per client), each piece with its own
``Idempotency-Key`` so that a retry is never scored twice; results come back in input order.
A sample raas could not score has ``reward`` ``None`` and a ``status`` saying why — never a
silent 0; with ``retry_unavailable_s``, a piece holding samples raas marks retryable (every
worker was out past the router's own retry budget) is sent again. Errors:
:class:`RequestRejectedError` (HTTP 4xx: the batch is malformed; fix it),
:class:`RewardUnavailableError` (still failing when the retry budget, two minutes by default,
ran out: see :mod:`trainer_client.retry`), both :class:`RewardServiceError` (itself raised for
an answer that is neither: a 500, or no results list).

Requests run on ``max_concurrency`` worker threads sharing one ``httpx.Client`` pool; the async
API awaits their futures, so it works from any event loop, and the sync API works from any
thread, including one whose event loop is running (TRL in a notebook). Threads rather than an
event loop because a trainer generates on its main thread while rewards are in flight, and every
bit of Python the client runs competes with generation for the GIL: the sync httpx path costs
about 1.6 ms of CPU per request against 3.6 ms for ``AsyncClient`` on a private loop (measured).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
import weakref
from collections.abc import Mapping, Sequence
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeGuard

import httpx
import orjson

from trainer_client.retry import RETRY_ERRORS, Retrying, RetryPolicy
from trainer_client.shapes import RewardAnswer, SampleResult
from trainer_client.summary import BySource, merge, scalars

Sample = Mapping[str, Any]


class RewardServiceError(Exception):
    """Base of the client's errors."""


class RequestRejectedError(RewardServiceError):
    """raas refused the batch (HTTP 4xx); ``detail`` names the sample index and field."""

    def __init__(self, status_code: int, detail: Any) -> None:
        super().__init__(f"HTTP {status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail


class RewardUnavailableError(RewardServiceError):
    """raas could not be reached, or kept failing, until the retry budget ran out."""


@dataclass(frozen=True, slots=True)
class ScoredSample:
    reward: float | None
    status: str
    components: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    id: str | int | None = None
    verifier: str | None = None  # what scored it: a routed sample's route's verifier

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True, slots=True)
class ScoredBatch:
    """The results in input order, and raas's per-``data_source`` summary of the whole batch
    (merged over its pieces): counts, reward and component means, response length, reflection
    ratios, and for perception sources IoU, mAP, the IoU threshold in effect and the share of
    answers that parsed (see ``summary.by_source`` in the README)."""

    results: list[ScoredSample]
    summary: BySource = field(default_factory=dict)

    @property
    def rewards(self) -> list[float | None]:
        return [r.reward for r in self.results]

    def scalars(self, prefix: str = "") -> dict[str, float]:
        """The summary flattened for a logger: ``{"<prefix>reward/<source>": …}``."""
        return scalars(self.summary, prefix)

    def __len__(self) -> int:
        return len(self.results)


@dataclass(slots=True)
class ClientStats:
    """What the client did so far: HTTP requests sent (retries included) and retries."""

    requests: int = 0
    retries: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, *, retry: bool = False) -> None:
        with self._lock:
            if retry:
                self.retries += 1
            else:
                self.requests += 1


def _scored(result: SampleResult) -> ScoredSample:
    """A result as the client hands it on; read leniently (a field an older raas did not send
    takes its default)."""
    return ScoredSample(
        reward=result.get("reward"),
        status=result.get("status", "error"),
        components=result.get("components") or {},
        details=result.get("details") or {},
        error=result.get("error"),
        id=result.get("id"),
        verifier=result.get("verifier"),
    )


Piece = tuple[list[ScoredSample], BySource]


def _all_of(pieces: list[Future[Piece]]) -> Future[ScoredBatch]:
    """One future for the pieces of a batch: their results in order with their summaries
    merged, or the first error."""
    batch: Future[ScoredBatch] = Future()
    remaining = [len(pieces)]
    lock = threading.Lock()

    def settle(_: Future[Piece]) -> None:
        with lock:
            remaining[0] -= 1
            if remaining[0] or not batch.set_running_or_notify_cancel():
                return  # pieces still out, or the caller cancelled the batch
        errors = (CancelledError() if p.cancelled() else p.exception() for p in pieces)
        failed = next((error for error in errors if error is not None), None)
        if failed is not None:
            batch.set_exception(failed)
        else:
            done = [p.result() for p in pieces]
            results = [r for piece_results, _ in done for r in piece_results]
            batch.set_result(ScoredBatch(results, merge(summary for _, summary in done)))

    if not pieces:
        batch.set_result(ScoredBatch([]))
    for piece in pieces:
        piece.add_done_callback(settle)
    return batch


def auth_header(api_key: str | None = None) -> dict[str, str]:
    """``Authorization`` for ``api_key``, else for ``$RAAS_API_KEY``; none when neither is set."""
    key = api_key if api_key is not None else os.environ.get("RAAS_API_KEY")
    return {"authorization": f"Bearer {key}"} if key else {}


def _shutdown(executor: ThreadPoolExecutor, http: httpx.Client) -> None:
    executor.shutdown(wait=False, cancel_futures=True)
    http.close()


class RewardClient:
    """One connection pool and ``max_concurrency`` worker threads for every way of calling raas."""

    def __init__(
        self,
        url: str = "http://127.0.0.1:8000",
        *,
        max_batch: int = 512,
        max_concurrency: int = 8,
        timeout_s: float = 300.0,
        connect_timeout_s: float = 10.0,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        api_key: str | None = None,
        retry_unavailable_s: float = 0.0,
        reflection: str | None = None,
    ) -> None:
        """``max_batch`` keeps each request small enough to be scored and retried cheaply (a
        lost 512-sample piece costs one resend, not the whole rollout); ``max_concurrency``
        bounds the connections one trainer process opens; ``timeout_s`` is how long raas may
        take to answer a piece (a hard math sample can take the server's full deadline);
        ``connect_timeout_s`` is short because a connect that slow will not succeed — the
        retry will. ``api_key`` (default: the ``RAAS_API_KEY`` environment variable) is sent as
        ``Authorization: Bearer <key>`` to a raas started with ``RAAS_API_KEYS``.
        ``retry_unavailable_s``: how long a piece with samples raas marks retryable (``status``
        ``unavailable``, ``details.retryable``: every worker was out past the router's own retry
        budget) is sent again (0, the default: never; their ``reward`` stays ``None``).
        ``reflection`` (``"raas"`` or ``"vtriune"``): the summary's reflection mode for every
        request (default: each route's, else raas's)."""
        if max_batch < 1 or max_concurrency < 1:
            raise ValueError("max_batch and max_concurrency must be at least 1")
        if retry_unavailable_s < 0:
            raise ValueError("retry_unavailable_s must not be negative")
        self.retry_unavailable_s = retry_unavailable_s
        self.reflection = reflection
        self.url = url.rstrip("/")
        self.max_batch = max_batch
        self.retry = retry if retry is not None else RetryPolicy()
        self.stats = ClientStats()
        limits = httpx.Limits(
            max_connections=max_concurrency, max_keepalive_connections=max_concurrency
        )
        self._http = httpx.Client(
            base_url=self.url,
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
            limits=limits,
            headers={**auth_header(api_key), **(headers or {})},
        )
        self._executor = ThreadPoolExecutor(max_concurrency, thread_name_prefix="raas-client")
        self._pid = os.getpid()
        # a client dropped without close() still closes its sockets and lets its threads go
        self._finalizer = weakref.finalize(self, _shutdown, self._executor, self._http)

    # --- public API ---------------------------------------------------------------------

    def submit(
        self, samples: Sequence[Sample], *, step: int | None = None, total_steps: int | None = None
    ) -> Future[ScoredBatch]:
        """Start scoring ``samples`` and return at once; the future holds the batch."""
        if os.getpid() != self._pid:
            raise RuntimeError("a RewardClient cannot cross a fork: create one per process")
        schedule: dict[str, int | str] = {
            k: v for k, v in (("step", step), ("total_steps", total_steps)) if v is not None
        }
        if self.reflection is not None:
            schedule["reflection"] = self.reflection
        samples = list(samples)
        pieces = [samples[i : i + self.max_batch] for i in range(0, len(samples), self.max_batch)]
        return _all_of([self._executor.submit(self._piece, piece, schedule) for piece in pieces])

    async def score(
        self, samples: Sequence[Sample], *, step: int | None = None, total_steps: int | None = None
    ) -> ScoredBatch:
        """Score ``samples`` (from any event loop)."""
        return await asyncio.wrap_future(self.submit(samples, step=step, total_steps=total_steps))

    def score_sync(
        self, samples: Sequence[Sample], *, step: int | None = None, total_steps: int | None = None
    ) -> ScoredBatch:
        """Score ``samples``, blocking this thread (fine inside a running event loop too)."""
        return self.submit(samples, step=step, total_steps=total_steps).result()

    async def rewards(
        self, samples: Sequence[Sample], **schedule: int | None
    ) -> list[float | None]:
        return (await self.score(samples, **schedule)).rewards

    def rewards_sync(self, samples: Sequence[Sample], **schedule: int | None) -> list[float | None]:
        return self.score_sync(samples, **schedule).rewards

    def close(self) -> None:
        """Close the connections and let the worker threads go; the client is done."""
        self._finalizer()

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    def __enter__(self) -> RewardClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    async def __aenter__(self) -> RewardClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    # --- on a worker thread ---------------------------------------------------------------

    def _piece(self, samples: list[Sample], schedule: dict[str, int | str]) -> Piece:
        body = orjson.dumps({"samples": samples, **schedule}, option=orjson.OPT_SERIALIZE_NUMPY)
        answer = self._until_scored(body)
        results = answer["results"]
        if len(results) != len(samples):
            raise RewardServiceError(f"{len(results)} results for {len(samples)} samples")
        summary: Any = answer.get("summary")  # checked, not trusted: an older raas sent none
        by_source = summary.get("by_source") if isinstance(summary, dict) else None
        return [_scored(r) for r in results], by_source if isinstance(by_source, dict) else {}

    def _until_scored(self, body: bytes) -> RewardAnswer:
        """One piece's answer, sent again (a new key) while samples in it are retryable and
        ``retry_unavailable_s`` lasts. The whole piece goes again, not only those samples, so
        that its summary stays the summary of one answer; verdicts are deterministic, so the
        samples scored the first time come back the same."""
        give_up, retry = time.monotonic() + self.retry_unavailable_s, 0
        while True:
            answer = self._post(body)
            left = give_up - time.monotonic()
            if left <= 0 or not any(map(_retryable, answer["results"])):
                return answer
            self.stats.count(retry=True)
            time.sleep(min(left, self.retry.backoff(retry)))
            retry += 1

    def _post(self, body: bytes) -> RewardAnswer:
        """One piece, retried alone under the policy's budget with one idempotency key: the
        other pieces of its batch neither wait for it nor fail with it while the budget lasts."""
        headers = {"content-type": "application/json", "idempotency-key": uuid.uuid4().hex}
        retrying = Retrying(self.retry)
        while True:
            response: httpx.Response | None = None
            self.stats.count()
            try:
                response = self._http.post("/reward", content=body, headers=headers)
            except RETRY_ERRORS as exc:
                failure = f"{type(exc).__name__}: {exc}"
            if response is not None:
                if response.status_code == 200:
                    return _decoded(response)
                if response.status_code not in self.retry.retry_statuses:
                    raise _refused(response)
                failure = f"HTTP {response.status_code}"
            wait = retrying.next_wait(response)
            if wait is None:
                raise RewardUnavailableError(
                    f"{self.url}: gave up after {retrying.failures} tries in "
                    f"{retrying.spent_s:.0f} s: {failure}"
                )
            self.stats.count(retry=True)
            time.sleep(wait)


def _refused(response: httpx.Response) -> RewardServiceError:
    """A 4xx is the batch's fault (:class:`RequestRejectedError`, naming sample and field);
    another status nobody retries (a 500: a bug in raas) is raas's."""
    if 400 <= response.status_code < 500:
        return RequestRejectedError(response.status_code, _detail(response))
    return RewardServiceError(f"HTTP {response.status_code}: {_detail(response)}")


def _retryable(result: Any) -> bool:
    """A sample raas could not score now but may on a later try (every worker was out)."""
    if not isinstance(result, dict) or result.get("status") != "unavailable":
        return False
    details = result.get("details")
    return isinstance(details, dict) and details.get("retryable") is True


def _decoded(response: httpx.Response) -> RewardAnswer:
    try:
        answer = orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        raise RewardServiceError(f"raas answered with invalid JSON: {exc}") from None
    if not _is_answer(answer):
        raise RewardServiceError("raas answered without a results list")
    return answer


def _is_answer(answer: object) -> TypeGuard[RewardAnswer]:
    """A dict with a results list: all the client relies on (each result, the summary and its
    sources are read leniently where they are used)."""
    return isinstance(answer, dict) and isinstance(answer.get("results"), list)


def _detail(response: httpx.Response) -> Any:
    try:
        return orjson.loads(response.content).get("detail", response.text)
    except (orjson.JSONDecodeError, AttributeError):
        return response.text[:2000]
