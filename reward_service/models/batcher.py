"""The dynamic batcher: items from many concurrent callers → length-bucketed forward passes.

Common RM servers batch in arrival order with a fixed batch size, so every batch is padded to
its longest member; RL rollouts vary from a few tokens to thousands, and most of such a batch is
padding. Here one consumer per model takes the waiting items, sorts them by length and cuts them
into consecutive runs whose *padded* size (longest × rows) fits ``max_tokens``; it runs the run
holding the oldest item (so nothing starves), leaving the rest to merge with new arrivals.

The first item of a batch waits at most ``max_wait_s`` for company, less once a full budget is
waiting. The forward pass runs on an executor thread (torch releases the GIL), never on the
event loop. The queue is bounded in items and bytes: past ``max_queue`` items or
``max_queue_bytes`` (what waiting token ids and pixel tensors hold) an item is refused at once with
``unavailable``, which tells a trainer to back off rather than to learn from a 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from reward_service.contract.errors import MAX_MESSAGE, ModelUnavailableError, error_text
from reward_service.contract.task import Failure
from reward_service.metrics import Metrics


class HasTokens(Protocol):
    @property
    def tokens(self) -> int: ...


ItemT = TypeVar("ItemT", bound=HasTokens)
ResultT = TypeVar("ResultT")


@dataclass(slots=True)
class BatchStats:
    """Running totals over every forward pass, for benchmarks and tests."""

    batches: int = 0
    rows: int = 0
    tokens: int = 0
    padded_tokens: int = 0
    max_padded_tokens: int = 0
    max_rows: int = 0

    @property
    def padding_efficiency(self) -> float:
        return self.tokens / self.padded_tokens if self.padded_tokens else 1.0


@dataclass(slots=True, eq=False)
class _Entry(Generic[ItemT, ResultT]):
    item: ItemT
    seq: int
    arrived: float
    future: asyncio.Future[ResultT | Failure]


MIN_EFFICIENCY = 0.92  # real / padded tokens a bucket keeps once it is worth a forward pass
MIN_FILL = 1 / 8  # ... which is from an eighth of the budget: below, per-pass overhead dominates


def buckets(ascending: Sequence[int], budget: int) -> list[range]:
    """Cut ascending lengths into consecutive runs whose padded size (last × count) ≤ budget.

    A run also ends where the next length would push its padding efficiency below
    ``MIN_EFFICIENCY`` once it holds ``MIN_FILL`` of the budget: RL lengths spread widely, and a
    run filled to the budget alone would pad short answers to three times their length.
    """
    runs, start, total = [], 0, 0
    for index, length in enumerate(ascending):
        rows = index - start + 1
        over_budget = length * rows > budget
        too_padded = total >= MIN_FILL * budget and total + length < MIN_EFFICIENCY * length * rows
        if index > start and (over_budget or too_padded):
            runs.append(range(start, index))
            start, total = index, 0
        total += length
    if start < len(ascending):
        runs.append(range(start, len(ascending)))
    return runs


def _nbytes(item: HasTokens) -> int:
    return int(getattr(item, "nbytes", 0))


class Batcher(Generic[ItemT, ResultT]):
    """Merges items across callers into token-budgeted batches for ``forward``."""

    def __init__(
        self,
        name: str,
        forward: Callable[[list[ItemT]], list[ResultT]],
        *,
        max_tokens: int,
        max_wait_s: float,
        max_queue: int,
        max_queue_bytes: int | None = None,
        executor: Executor | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        """``max_queue_bytes`` bounds what waiting items hold, by their ``nbytes`` (items
        without one count 0); an item that finds the queue empty is always taken."""
        self.name, self.forward = name, forward
        self.max_tokens, self.max_wait_s, self.max_queue = max_tokens, max_wait_s, max_queue
        self.max_queue_bytes = max_queue_bytes
        self.metrics = metrics
        self.stats = BatchStats()
        self._own_executor = executor is None
        self._executor = executor or ThreadPoolExecutor(1, thread_name_prefix=f"raas-{name}")
        self._pending: list[_Entry[ItemT, ResultT]] = []  # arrival order
        self._pending_tokens = 0
        self._pending_bytes = 0
        self._seq = 0
        self._arrived = asyncio.Event()
        self._consumer: asyncio.Task[None] | None = None

    @property
    def depth(self) -> int:
        return len(self._pending)

    def start(self) -> None:
        self._consumer = asyncio.create_task(self._consume(), name=f"batcher-{self.name}")
        if self.metrics is not None:
            self.metrics.model_queue_depth.labels(self.name).set_function(lambda: self.depth)

    async def close(self) -> None:
        if self._consumer is not None:
            self._consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._consumer
        self._fail(self._pending, Failure("unavailable", "the model worker is shutting down"))
        self._pending, self._pending_tokens, self._pending_bytes = [], 0, 0
        if self._own_executor:
            self._executor.shutdown(wait=False, cancel_futures=True)

    async def submit(self, items: Sequence[ItemT]) -> list[ResultT | Failure]:
        """Queue ``items`` and wait for their results, in order; refusals come back at once."""
        loop = asyncio.get_running_loop()
        slots: list[asyncio.Future[ResultT | Failure]] = []
        for item in items:
            future: asyncio.Future[ResultT | Failure] = loop.create_future()
            refusal = self._refusal(item)
            if refusal is not None:
                future.set_result(refusal)
            else:
                self._pending.append(_Entry(item, self._seq, loop.time(), future))
                self._pending_tokens += item.tokens
                self._pending_bytes += _nbytes(item)
                self._seq += 1
            slots.append(future)
        self._arrived.set()
        return list(await asyncio.gather(*slots))

    def _refusal(self, item: ItemT) -> Failure | None:
        if item.tokens > self.max_tokens:
            return Failure(
                "invalid_input", f"{item.tokens} tokens do not fit a batch of {self.max_tokens}"
            )
        full = len(self._pending) >= self.max_queue
        limit = self.max_queue_bytes
        if limit is not None and self._pending and self._pending_bytes + _nbytes(item) > limit:
            full = True
        if full:
            if self.metrics is not None:
                self.metrics.model_rejected.labels(self.name).inc()
            return Failure(
                "unavailable",
                f"model {self.name!r} is overloaded: {len(self._pending)} items "
                f"({self._pending_bytes} bytes) already queued; retry later or add model workers",
            )
        return None

    async def _consume(self) -> None:
        while True:
            await self._gather()
            batch = self._take()
            if batch:
                await self._run(batch)

    async def _gather(self) -> None:
        """Return once the oldest item has waited ``max_wait_s`` or a full budget is waiting."""
        loop = asyncio.get_running_loop()
        while True:
            if not self._pending:
                self._arrived.clear()
                await self._arrived.wait()
                continue
            remaining = self._pending[0].arrived + self.max_wait_s - loop.time()
            if remaining <= 0 or self._pending_tokens >= self.max_tokens:
                return
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)

    def _take(self) -> list[_Entry[ItemT, ResultT]]:
        """Remove and return the length bucket that holds the oldest live item."""
        live = [entry for entry in self._pending if not entry.future.done()]
        if not live:
            self._pending, self._pending_tokens, self._pending_bytes = [], 0, 0
            return []
        order = sorted(range(len(live)), key=lambda i: (live[i].item.tokens, live[i].seq))
        runs = buckets([live[i].item.tokens for i in order], self.max_tokens)
        oldest = order.index(0)  # ``live`` is in arrival order
        run = next(r for r in runs if oldest in r)
        picked = {order[k] for k in run}
        self._pending = [entry for i, entry in enumerate(live) if i not in picked]
        self._pending_tokens = sum(entry.item.tokens for entry in self._pending)
        self._pending_bytes = sum(_nbytes(entry.item) for entry in self._pending)
        return [live[order[k]] for k in run]

    async def _run(self, batch: list[_Entry[ItemT, ResultT]]) -> None:
        items = [entry.item for entry in batch]
        start = time.perf_counter()
        try:
            loop = asyncio.get_running_loop()
            results = await loop.run_in_executor(self._executor, self.forward, items)
            if len(results) != len(items):
                raise RuntimeError(f"forward returned {len(results)} results for {len(items)}")
        except ModelUnavailableError as exc:
            self._fail(batch, Failure("unavailable", f"model {self.name!r}: {exc}"[:MAX_MESSAGE]))
            return
        except Exception as exc:
            self._fail(batch, Failure("error", error_text(exc)))
            return
        finally:
            self._record(items, time.perf_counter() - start)
        for entry, result in zip(batch, results, strict=True):
            if not entry.future.done():
                entry.future.set_result(result)

    def _record(self, items: list[ItemT], seconds: float) -> None:
        rows, tokens = len(items), sum(item.tokens for item in items)
        padded = rows * max(item.tokens for item in items)
        s = self.stats
        s.batches, s.rows, s.tokens, s.padded_tokens = (
            s.batches + 1,
            s.rows + rows,
            s.tokens + tokens,
            s.padded_tokens + padded,
        )
        s.max_padded_tokens = max(s.max_padded_tokens, padded)
        s.max_rows = max(s.max_rows, rows)
        if self.metrics is not None:
            self.metrics.observe_model_batch(self.name, rows, tokens, padded, seconds)

    @staticmethod
    def _fail(entries: Sequence[_Entry[ItemT, ResultT]], failure: Failure) -> None:
        for entry in entries:
            if not entry.future.done():
                entry.future.set_result(failure)
