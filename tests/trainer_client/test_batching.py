"""``SampleBatcher``: single-sample awaits gathered into ``/reward`` requests, against a live raas
(its own request counter says how many requests it answered)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from devtools.live import LiveServer
from tests.trainers.conftest import requests_to
from trainer_client import RequestRejectedError, RewardClient, ScoredBatch, ScoredSample
from trainer_client.batching import Key, SampleBatcher


def math(i: int) -> dict[str, Any]:
    return {"verifier": "math", "response": f"\\boxed{{{i}}}", "ground_truth": str(i % 7)}


async def gather(batcher: SampleBatcher, samples: list[dict[str, Any]], **kw: Any) -> list[Any]:
    return await asyncio.gather(*(batcher.score(s, **kw) for s in samples))


def rewards(results: list[ScoredSample]) -> list[float | None]:
    return [r.reward for r in results]


@pytest.mark.parametrize(("count", "max_batch", "requests"), [(1, 10, 1), (40, 64, 1), (25, 10, 3)])
def test_awaits_within_a_window_are_one_request_up_to_max_batch(
    server: LiveServer, count: int, max_batch: int, requests: int
) -> None:
    before = requests_to(server, "/reward")
    with RewardClient(server.url) as client:
        batcher = SampleBatcher(client, max_batch=max_batch, window_s=0.2)
        results = asyncio.run(gather(batcher, [math(i) for i in range(count)]))
    assert rewards(results) == [1.0 if i < 7 else 0.0 for i in range(count)]
    assert requests_to(server, "/reward") - before == requests


def test_each_step_and_group_is_its_own_request(server: LiveServer) -> None:
    """A request carries one step: samples of two policy versions are sent apart, each with its
    own (a box of IoU 0.9 passes at τ 0.85, r = 0, and fails at τ 0.99, r = 0.3)."""
    box = '<answer>[{"bbox_2d": [0, 0, 100, 90], "label": "cat"}]</answer>'
    sample = {
        "verifier": "detection",
        "response": box,
        "params": {"iou_threshold": "dynamic"},
        "ground_truth": [{"bbox_2d": [0, 0, 100, 100], "label": "cat"}],
    }
    seen: list[Key] = []

    async def both() -> list[ScoredSample]:
        batcher = SampleBatcher(client, window_s=0.2, on_batch=lambda _, key: seen.append(key))
        return await asyncio.gather(
            batcher.score(sample, step=0, total_steps=10, group="train"),
            batcher.score(sample, step=3, total_steps=10, group="train"),
            batcher.score(sample, step=3, total_steps=10, group="val"),
        )

    before = requests_to(server, "/reward")
    with RewardClient(server.url) as client:
        early, late, validation = asyncio.run(both())
    assert early.reward == pytest.approx(0.93)
    assert late.reward == validation.reward == 0.0
    assert requests_to(server, "/reward") - before == 3
    assert sorted(seen, key=str) == [(0, 10, "train"), (3, 10, "train"), (3, 10, "val")]


def test_on_batch_sees_the_summary_of_each_request(server: LiveServer) -> None:
    batches: list[ScoredBatch] = []
    with RewardClient(server.url) as client:
        batcher = SampleBatcher(client, window_s=0.1, on_batch=lambda b, _: batches.append(b))
        asyncio.run(gather(batcher, [{**math(i), "data_source": "s"} for i in range(12)]))
    (batch,) = batches
    assert len(batch) == 12
    assert batch.scalars()["reward/s"] == pytest.approx(7 / 12)


def test_a_refused_request_fails_every_sample_in_it(server: LiveServer) -> None:
    """raas refuses a request naming an unknown verifier (422): each waiter gets the error, none
    a guessed reward."""
    samples = [math(1), {**math(2), "verifier": "no-such-verifier"}, math(3)]

    async def run() -> list[Any]:
        batcher = SampleBatcher(client, window_s=0.1)
        return await asyncio.gather(*(batcher.score(s) for s in samples), return_exceptions=True)

    with RewardClient(server.url) as client:
        outcomes = asyncio.run(run())
    assert all(isinstance(o, RequestRejectedError) for o in outcomes), outcomes


def test_a_cancelled_await_leaves_the_others_their_results(server: LiveServer) -> None:
    async def run() -> list[Any]:
        batcher = SampleBatcher(client, window_s=0.2)
        tasks = [asyncio.create_task(batcher.score(math(i))) for i in range(5)]
        await asyncio.sleep(0)
        tasks[2].cancel()
        return await asyncio.gather(*tasks, return_exceptions=True)

    with RewardClient(server.url) as client:
        outcomes = asyncio.run(run())
    assert isinstance(outcomes[2], asyncio.CancelledError)
    assert [o.reward for i, o in enumerate(outcomes) if i != 2] == [1.0, 1.0, 1.0, 1.0]


def test_one_event_loop_per_batcher(server: LiveServer) -> None:
    with RewardClient(server.url) as client:
        batcher = SampleBatcher(client, window_s=0.0)
        asyncio.run(batcher.score(math(1)))
        with pytest.raises(RuntimeError, match="one event loop"):
            asyncio.run(batcher.score(math(1)))


@pytest.mark.parametrize(("max_batch", "window_s"), [(0, 0.1), (1, -0.1)])
def test_bounds_are_checked(max_batch: int, window_s: float) -> None:
    with RewardClient("http://127.0.0.1:9") as client, pytest.raises(ValueError, match="max_batch"):
        SampleBatcher(client, max_batch=max_batch, window_s=window_s)
