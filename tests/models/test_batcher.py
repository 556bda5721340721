"""The dynamic batcher, with plain-Python forward functions (no model needed to test batching)."""

from __future__ import annotations

import asyncio
import itertools
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from reward_service.contract.errors import ModelUnavailableError
from reward_service.contract.task import Failure
from reward_service.metrics import Metrics
from reward_service.models.batcher import (
    MIN_EFFICIENCY,
    MIN_FILL,
    Batcher,
    buckets,
)
from tests.models.helpers import run


@dataclass(frozen=True)
class Job:
    tokens: int
    value: int


class Recorder:
    """A forward pass that doubles values and remembers every batch it saw."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.batches: list[list[Job]] = []
        self.delay_s = delay_s
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def __call__(self, jobs: list[Job]) -> list[int]:
        self.entered.set()
        self.gate.wait(10)
        time.sleep(self.delay_s)
        self.batches.append(jobs)
        return [job.value * 2 for job in jobs]


def batcher(forward: Any, **options: Any) -> Batcher[Job, Any]:
    settings = {"max_tokens": 64, "max_wait_s": 0.005, "max_queue": 10_000, **options}
    return Batcher("m", forward, **settings)


@given(st.lists(st.integers(1, 64), max_size=60), st.integers(64, 512))
def test_buckets_partition_sorted_lengths_within_the_budget(
    lengths: list[int], budget: int
) -> None:
    ascending = sorted(lengths)
    runs = buckets(ascending, budget)
    assert [i for r in runs for i in r] == list(range(len(ascending)))
    for r in runs:
        assert ascending[r[-1]] * len(r) <= budget
    for first, second in itertools.pairwise(runs):  # greedy: the next item did not fit
        rows, longest = len(first) + 1, ascending[second[0]]
        total = sum(ascending[i] for i in first)
        over_budget = longest * rows > budget
        too_padded = (
            total >= MIN_FILL * budget and total + longest < MIN_EFFICIENCY * longest * rows
        )
        assert over_budget or too_padded


def test_buckets_keep_padding_low_on_widely_spread_lengths() -> None:
    ascending = sorted(list(range(24, 129)) * 3)  # short RL answers, 3 of each length
    runs = buckets(ascending, 8192)
    padded = sum(ascending[r[-1]] * len(r) for r in runs)
    assert sum(ascending) / padded >= 0.9


def test_concurrent_callers_get_their_own_results_within_the_token_budget() -> None:
    rng = random.Random(7)
    requests = [
        [Job(rng.randint(1, 32), c * 1000 + i) for i in range(rng.randint(1, 9))] for c in range(60)
    ]
    forward = Recorder(delay_s=0.002)

    async def main() -> list[list[Any]]:
        b = batcher(forward, max_tokens=256)
        b.start()
        try:
            return await asyncio.gather(*(b.submit(jobs) for jobs in requests))
        finally:
            await b.close()

    results = run(main())
    assert results == [[job.value * 2 for job in jobs] for jobs in requests]
    assert all(len(b) * max(j.tokens for j in b) <= 256 for b in forward.batches)
    assert sum(len(b) for b in forward.batches) == sum(len(r) for r in requests)
    assert any(len({j.value // 1000 for j in b}) > 1 for b in forward.batches)  # callers merged


def test_a_full_queue_refuses_the_rest_with_unavailable() -> None:
    forward = Recorder()
    forward.gate.clear()

    async def main() -> tuple[list[Any], list[Any]]:
        b = batcher(forward, max_queue=3, max_wait_s=0.0)
        b.start()
        try:
            first = asyncio.create_task(b.submit([Job(4, 1)]))
            while not forward.entered.is_set():  # the first batch is running and blocked
                await asyncio.sleep(0.001)
            second = asyncio.create_task(b.submit([Job(4, v) for v in range(2, 7)]))
            await asyncio.sleep(0.05)
            forward.gate.set()
            return await first, await second
        finally:
            await b.close()

    first, second = run(main())
    assert first == [2]
    assert second[:3] == [4, 6, 8]
    assert all(isinstance(r, Failure) for r in second[3:])
    assert all(r.status == "unavailable" for r in second[3:])
    assert "overloaded" in second[3].message


@dataclass(frozen=True)
class SizedJob(Job):
    nbytes: int = 0


def test_the_queue_is_bounded_in_bytes_and_a_lone_item_is_always_taken() -> None:
    forward = Recorder()
    forward.gate.clear()

    async def main() -> tuple[list[Any], list[Any]]:
        b = batcher(forward, max_queue=100, max_queue_bytes=1000, max_wait_s=0.0)
        b.start()
        try:
            first = asyncio.create_task(b.submit([SizedJob(4, 1, nbytes=5000)]))  # alone: taken
            while not forward.entered.is_set():
                await asyncio.sleep(0.001)
            jobs = [SizedJob(4, v, nbytes=400) for v in range(2, 6)]
            second = asyncio.create_task(b.submit(jobs))
            await asyncio.sleep(0.05)
            forward.gate.set()
            return await first, await second
        finally:
            await b.close()

    first, second = run(main())
    assert first == [2]
    assert second[:2] == [4, 6]  # 400 + 400 fit 1000 bytes; a third would not
    assert all(isinstance(r, Failure) and r.status == "unavailable" for r in second[2:])
    assert "800 bytes" in second[2].message


def test_a_lone_item_waits_max_wait_and_no_longer() -> None:
    async def main() -> float:
        b = batcher(Recorder(), max_wait_s=0.3, max_tokens=1000)
        b.start()
        try:
            start = time.perf_counter()
            await b.submit([Job(5, 1)])
            return time.perf_counter() - start
        finally:
            await b.close()

    assert 0.29 <= run(main()) < 0.6


def test_a_full_budget_does_not_wait() -> None:
    async def main() -> float:
        b = batcher(Recorder(), max_wait_s=5.0, max_tokens=40)
        b.start()
        try:
            start = time.perf_counter()
            await b.submit([Job(10, v) for v in range(4)])  # 40 tokens: a full batch
            return time.perf_counter() - start
        finally:
            await b.close()

    assert run(main()) < 1.0


def test_the_oldest_item_is_served_first() -> None:
    """A long item is not starved by a stream of short ones that pack better."""
    forward = Recorder()
    forward.gate.clear()

    async def main() -> None:
        b = batcher(forward, max_tokens=64, max_wait_s=0.0)
        b.start()
        try:
            blocker = asyncio.create_task(b.submit([Job(1, 0)]))
            while not forward.entered.is_set():
                await asyncio.sleep(0.001)
            long = asyncio.create_task(b.submit([Job(60, 1)]))
            await asyncio.sleep(0.01)
            short = asyncio.create_task(b.submit([Job(2, v) for v in range(2, 30)]))
            await asyncio.sleep(0.01)
            forward.gate.set()
            await asyncio.gather(blocker, long, short)
        finally:
            await b.close()

    run(main())
    assert [job.value for job in forward.batches[1]] == [1]


def test_a_failing_forward_fails_its_batch_only() -> None:
    calls = []

    def flaky(jobs: list[Job]) -> list[int]:
        calls.append(len(jobs))
        if len(calls) == 1:
            raise RuntimeError("CUDA out of memory")
        if len(calls) == 2:
            raise ModelUnavailableError("server down")
        return [j.value for j in jobs]

    async def main() -> list[list[Any]]:
        b = batcher(flaky, max_wait_s=0.0)
        b.start()
        try:
            return [await b.submit([Job(1, v)]) for v in range(3)]
        finally:
            await b.close()

    first, second, third = run(main())
    assert first == [Failure("error", "RuntimeError: CUDA out of memory")]
    assert second[0].status == "unavailable"
    assert "server down" in second[0].message
    assert third == [2]


def test_a_cancelled_caller_does_not_disturb_the_others() -> None:
    forward = Recorder()
    forward.gate.clear()

    async def main() -> list[Any]:
        b = batcher(forward, max_wait_s=0.0)
        b.start()
        try:
            blocker = asyncio.create_task(b.submit([Job(1, 0)]))
            while not forward.entered.is_set():
                await asyncio.sleep(0.001)
            gone = asyncio.create_task(b.submit([Job(1, 1)]))
            kept = asyncio.create_task(b.submit([Job(1, 2)]))
            await asyncio.sleep(0.01)
            gone.cancel()
            forward.gate.set()
            await blocker
            return await kept
        finally:
            await b.close()

    assert run(main()) == [4]
    assert all(job.value != 1 for batch in forward.batches for job in batch)


def test_oversized_items_are_refused_and_close_fails_waiting_items() -> None:
    forward = Recorder()
    forward.gate.clear()

    async def main() -> tuple[list[Any], list[Any]]:
        b = batcher(forward, max_wait_s=0.0, max_tokens=8)
        b.start()
        too_big = await b.submit([Job(9, 1)])
        running = asyncio.create_task(b.submit([Job(1, 0)]))
        while not forward.entered.is_set():
            await asyncio.sleep(0.001)
        waiting = asyncio.create_task(b.submit([Job(1, 2)]))
        await asyncio.sleep(0.01)
        await b.close()
        forward.gate.set()
        running.cancel()
        return too_big, await waiting

    too_big, waiting = run(main())
    assert too_big[0].status == "invalid_input"
    assert waiting[0] == Failure("unavailable", "the model worker is shutting down")


def test_queue_depth_and_batch_shapes_are_exported() -> None:
    metrics = Metrics(CollectorRegistry())
    forward = Recorder()
    forward.gate.clear()

    async def main() -> float | None:
        b = batcher(forward, max_wait_s=0.0, metrics=metrics)
        b.start()
        try:
            first = asyncio.create_task(b.submit([Job(4, 0)]))
            while not forward.entered.is_set():
                await asyncio.sleep(0.001)
            rest = asyncio.create_task(b.submit([Job(2, 1), Job(4, 2)]))
            await asyncio.sleep(0.01)
            depth = metrics.registry.get_sample_value("raas_model_queue_depth", {"model": "m"})
            forward.gate.set()
            await asyncio.gather(first, rest)
            return depth
        finally:
            await b.close()

    assert run(main()) == 2
    get = metrics.registry.get_sample_value
    assert get("raas_model_batch_rows_count", {"model": "m"}) == 2
    assert get("raas_model_batch_padded_tokens_sum", {"model": "m"}) == 4 + 8
    assert get("raas_model_padding_efficiency_sum", {"model": "m"}) == pytest.approx(1 + 6 / 8)
