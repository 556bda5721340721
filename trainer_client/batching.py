"""One ``/reward`` request for many single-sample awaits: for trainers that score per sample.

verl's reward loop awaits one coroutine per sample, all at once on a worker's event loop (a
whole chunk of a batch) or as rollouts finish (streamed from the agent loop). Sent one by one,
each sample would be a request of its own: hundreds of round trips per step, and a raas summary
per sample instead of per source. :class:`SampleBatcher` holds the samples that arrive within
``window_s`` of the first one and sends them together — at once when ``max_batch`` are waiting —
so a batch scored at once goes out as one request per ``max_batch``, and a streamed one as one
per window. Samples of a different ``step`` (an asynchronous trainer may score two policy
versions at the same time) or ``group`` go in separate requests: a request carries one step, and
its summary is logged under one group.

Everything runs on the caller's event loop (timers and futures, no thread per sample); the HTTP
work is the :class:`~trainer_client.RewardClient`'s. An error of the request (raas refused the
batch, or stayed unreachable through the retries) is raised to every sample in it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from trainer_client.client import RewardClient, Sample, ScoredBatch, ScoredSample

Key = tuple[int | None, int | None, str]  # step, total_steps, group
OnBatch = Callable[[ScoredBatch, Key], None]
logger = logging.getLogger(__name__)


@dataclass
class _Pending:
    samples: list[Sample] = field(default_factory=list)
    futures: list[asyncio.Future[ScoredSample]] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None


class SampleBatcher:
    """Gathers :meth:`score` calls on one event loop into requests (see the module docstring).

    ``window_s`` bounds the wait a sample adds (50 ms: nothing next to a rollout, long enough
    for a chunk of a batch to gather); ``max_batch`` bounds a request (256: a few MB of
    reasoning responses, scored and retried cheaply). ``on_batch`` sees each answered request
    (its summary, for logging) with its key."""

    def __init__(
        self,
        client: RewardClient,
        *,
        max_batch: int = 256,
        window_s: float = 0.05,
        on_batch: OnBatch | None = None,
    ) -> None:
        if max_batch < 1 or window_s < 0:
            raise ValueError("max_batch must be at least 1 and window_s not negative")
        self.client = client
        self.max_batch = max_batch
        self.window_s = window_s
        self.on_batch = on_batch
        self._pending: dict[Key, _Pending] = {}
        self._sending: set[asyncio.Task[None]] = set()  # held so that none is collected midway
        self._loop: asyncio.AbstractEventLoop | None = None

    async def score(
        self,
        sample: Sample,
        *,
        step: int | None = None,
        total_steps: int | None = None,
        group: str = "",
    ) -> ScoredSample:
        """``sample``'s result, from the request it joins."""
        loop = self._bind()
        key = (step, total_steps, group)
        pending = self._pending.setdefault(key, _Pending())
        future: asyncio.Future[ScoredSample] = loop.create_future()
        pending.samples.append(sample)
        pending.futures.append(future)
        if len(pending.samples) >= self.max_batch:
            self._flush(key)
        elif pending.timer is None:
            pending.timer = loop.call_later(self.window_s, self._flush, key)
        return await future

    def _bind(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            raise RuntimeError("a SampleBatcher serves one event loop; make one per loop")
        return loop

    def _flush(self, key: Key) -> None:
        pending = self._pending.pop(key, None)
        if pending is None:
            return
        if pending.timer is not None:
            pending.timer.cancel()
        task = asyncio.get_running_loop().create_task(self._send(key, pending))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, key: Key, pending: _Pending) -> None:
        step, total_steps, _ = key
        try:
            batch = await self.client.score(pending.samples, step=step, total_steps=total_steps)
        except Exception as exc:  # every waiter gets the request's error
            for future in pending.futures:
                if not future.done():
                    future.set_exception(exc)
            return
        for future, result in zip(pending.futures, batch.results, strict=True):
            if not future.done():  # a waiter may have been cancelled
                future.set_result(result)
        if self.on_batch is not None:
            try:
                self.on_batch(batch, key)
            except Exception:  # logging must not lose the scores already handed out
                logger.exception("raas: the on_batch hook failed")
