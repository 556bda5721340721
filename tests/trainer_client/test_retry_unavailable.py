"""``RewardClient(retry_unavailable_s=…)`` against a router whose only rule worker is down (and
comes up later): samples marked retryable are sent again until they are scored."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from devtools.live import LiveServer
from devtools.ports import free_port
from trainer_client import RetryPolicy, RewardClient

SAMPLES = [
    {"id": i, "verifier": "math", "response": f"\\boxed{{{i}}}", "ground_truth": "2"}
    for i in range(6)
]
REWARDS = [1.0 if i == 2 else 0.0 for i in range(6)]


@pytest.fixture
def router() -> Iterator[tuple[LiveServer, int]]:
    """A router with no retry budget of its own, naming a worker port nobody listens on yet
    (not ready, so not waited for by its ``/readyz``: by its ``/healthz``)."""
    port = free_port()
    live = LiveServer.start(
        wait=False,
        RAAS_RULE_WORKERS=f"http://127.0.0.1:{port}",
        RAAS_REMOTE_RETRY_BUDGET_S="0",
    )
    try:
        live.wait_ready(probe="/healthz")
        yield live, port
    finally:
        live.stop()


def details(results: list[Any]) -> list[dict[str, Any]]:
    return [r.details for r in results]


def test_unavailable_samples_are_marked_retryable(router: tuple[LiveServer, int]) -> None:
    live, _ = router
    with RewardClient(live.url) as client:
        batch = client.score_sync(SAMPLES)
    assert batch.rewards == [None] * len(SAMPLES)
    assert {r.status for r in batch.results} == {"unavailable"}
    assert details(batch.results) == [{"retryable": True}] * len(SAMPLES)


def test_retryable_samples_are_sent_again_until_scored(router: tuple[LiveServer, int]) -> None:
    live, port = router
    worker: LiveServer | None = None
    fast = RetryPolicy(backoff_base_s=0.1, backoff_max_s=0.5)
    with RewardClient(live.url, retry=fast, retry_unavailable_s=120) as client:
        try:
            future = client.submit(SAMPLES)
            while client.stats.retries < 1:  # at least one answer was all unavailable
                time.sleep(0.05)
            worker = LiveServer.start("worker", "rules", port=port)
            batch = future.result(timeout=120)
        finally:
            if worker is not None:
                worker.stop()
    assert batch.rewards == REWARDS
    assert [r.id for r in batch.results] == [s["id"] for s in SAMPLES]
    assert batch.summary["default"]["count"] == len(SAMPLES)  # one answer's summary, not two
