"""``RewardClient`` against a live raas, directly and through a misbehaving proxy."""

from __future__ import annotations

import asyncio
import random
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from devtools.live import LiveServer
from devtools.ports import free_port
from tests.trainer_client.flaky import FlakyProxy
from trainer_client import (
    RequestRejectedError,
    RetryPolicy,
    RewardClient,
    RewardServiceError,
    RewardUnavailableError,
)
from trainer_client.retry import Retrying, retry_after

FAST = RetryPolicy(attempts=5, backoff_base_s=0.01, backoff_max_s=0.02)


def math_sample(answer: int, truth: int | str = 4, **extra: Any) -> dict[str, Any]:
    return {
        "response": f"\\boxed{{{answer}}}",
        "ground_truth": str(truth),
        "verifier": "math",
    } | extra


def samples_scored(url: str) -> float:
    """The router's ``raas_samples_total``, summed over its labels."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(float(v) for v in re.findall(r"^raas_samples_total\{[^}]*\} (\S+)$", text, re.M))


@pytest.fixture
def proxy(server: LiveServer) -> Iterator[FlakyProxy]:
    flaky = FlakyProxy(server.url)
    yield flaky
    flaky.stop()


def test_scores_in_order_with_none_for_unscorable(server: LiveServer) -> None:
    samples = [math_sample(4), math_sample(5), math_sample(4, truth="no-math ???", id="bad")]
    with RewardClient(server.url) as client:
        batch = client.score_sync(samples, step=1, total_steps=10)
    assert batch.rewards == [1.0, 0.0, None]
    assert [r.status for r in batch.results] == ["ok", "ok", "invalid_input"]
    assert batch.results[2].id == "bad"
    assert batch.results[2].error


def test_large_batches_are_split_and_reassembled_in_order(server: LiveServer) -> None:
    samples = [math_sample(i % 6, truth=i % 6) for i in range(10)]
    samples[7] = math_sample(0, truth=1)
    with RewardClient(server.url, max_batch=3) as client:
        batch = client.score_sync(samples)
        assert client.stats.requests == 4  # 3 + 3 + 3 + 1
    assert batch.rewards == [1.0] * 7 + [0.0] + [1.0] * 2


def test_concurrency_is_bounded(proxy: FlakyProxy) -> None:
    proxy.script = ["slow"] * 6
    with RewardClient(proxy.url, max_batch=1, max_concurrency=2) as client:
        client.score_sync([math_sample(4)] * 6)
    assert proxy.max_in_flight == 2  # concurrent, but never more than the limit


def test_async_and_sync_share_one_pool_and_work_inside_a_running_loop(server: LiveServer) -> None:
    client = RewardClient(server.url)

    async def trainer_step() -> tuple[list[float | None], list[float | None]]:
        awaited = await client.rewards([math_sample(4)])
        blocking = client.rewards_sync([math_sample(3)])  # e.g. TRL in a notebook
        return awaited, blocking

    try:
        assert asyncio.run(trainer_step()) == ([1.0], [0.0])
        future = client.submit([math_sample(4)])  # returns at once; generation goes on
        assert future.result(timeout=30).rewards == [1.0]
    finally:
        client.close()


def test_retries_503_429_and_a_dropped_answer_without_scoring_twice(
    server: LiveServer, proxy: FlakyProxy
) -> None:
    proxy.script = ["503", "429:0", "drop"]
    before = samples_scored(server.url)
    with RewardClient(proxy.url, retry=FAST) as client:
        assert client.rewards_sync([math_sample(4), math_sample(5)]) == [1.0, 0.0]
        assert client.stats.retries == 3
    keys = {seen.key for seen in proxy.seen}
    assert len(keys) == 1
    assert None not in keys
    # the dropped attempt was scored by raas; the retry was answered from its memory
    assert [s.action for s in proxy.seen] == ["503", "429:0", "drop", "forward"]
    assert proxy.seen[-1].replayed
    assert samples_scored(server.url) - before == 2


def test_retry_after_is_honoured(proxy: FlakyProxy) -> None:
    proxy.script = ["429:1"]
    start = time.monotonic()
    with RewardClient(proxy.url, retry=FAST) as client:
        assert client.rewards_sync([math_sample(4)]) == [1.0]
    assert time.monotonic() - start >= 1.0


def test_retry_after_forms() -> None:
    def after(value: str) -> float | None:
        return retry_after(httpx.Response(429, headers={"Retry-After": value}))

    assert after("7") == 7.0
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= (after(soon) or 0) <= 30
    assert after(format_datetime(datetime(2000, 1, 1, tzinfo=UTC), usegmt=True)) == 0.0
    assert after("soon") is None
    assert retry_after(httpx.Response(429)) is None
    assert (
        RetryPolicy(max_retry_after_s=5).wait(
            0, httpx.Response(429, headers={"Retry-After": "3600"})
        )
        < 6
    )


def test_full_jitter_backoff_is_bounded_and_spread() -> None:
    policy = RetryPolicy(backoff_base_s=1.0, backoff_max_s=8.0)
    waits = [policy.backoff(10) for _ in range(200)]
    assert max(waits) <= 8.0
    assert min(waits) >= 0.0
    assert max(waits) - min(waits) > 4.0  # jitter: ranks do not retry in lockstep
    assert all(policy.backoff(0) <= 1.0 for _ in range(50))


@pytest.mark.parametrize(
    ("policy", "try_s", "tries", "span_s"),
    [
        # the default: retries for two minutes after the first failure, the last try at 120 s
        (RetryPolicy(), 0.0, None, 120.0),
        # a connect timeout per try: the budget still ends it, one try past it at most
        (RetryPolicy(), 10.0, None, 120.0),
        (RetryPolicy(budget_s=8.0, backoff_base_s=4.0, backoff_max_s=4.0), 0.0, None, 8.0),
        # a cap on tries ends it first
        (RetryPolicy(attempts=3, backoff_base_s=0.0), 0.0, 3, 0.0),
        # no budget: one try
        (RetryPolicy(budget_s=0.0), 0.0, 1, 0.0),
    ],
)
def test_retries_span_the_budget(
    policy: RetryPolicy, try_s: float, tries: int | None, span_s: float
) -> None:
    """A request that keeps failing, each try taking ``try_s``: it gives up ``span_s`` after
    its first failure (at most one try later), having tried ``tries`` times where that is fixed."""
    now = [0.0]
    retrying = Retrying(policy, clock=lambda: now[0], rng=random.Random(7))
    now[0] += try_s
    while (wait := retrying.next_wait()) is not None:
        assert wait >= 0
        now[0] += wait + try_s
    assert retrying.first_failure == try_s
    assert span_s <= retrying.spent_s <= span_s + try_s
    if tries is not None:
        assert retrying.failures == tries


def test_a_server_s_retry_after_is_cut_to_the_budget() -> None:
    now = [0.0]
    retrying = Retrying(RetryPolicy(budget_s=30.0), clock=lambda: now[0])
    later = httpx.Response(503, headers={"Retry-After": "50"})
    assert retrying.next_wait(later) == 30.0  # a last try when the budget ends
    now[0] = 30.0
    assert retrying.next_wait(later) is None


def test_gives_up_after_the_policy_s_budget(proxy: FlakyProxy) -> None:
    proxy.script = ["503"] * 1000
    policy = RetryPolicy(budget_s=1.0, backoff_base_s=0.05, backoff_max_s=0.1)
    start = time.monotonic()
    with (
        RewardClient(proxy.url, retry=policy) as client,
        pytest.raises(RewardUnavailableError, match=r"tries in 1 s: HTTP 503"),
    ):
        client.score_sync([math_sample(4)])
    assert time.monotonic() - start >= 1.0  # not a try less than the budget allows


def test_gives_up_after_the_policy_s_attempts(proxy: FlakyProxy) -> None:
    proxy.script = ["503"] * 10
    with RewardClient(proxy.url, retry=RetryPolicy(attempts=3, backoff_base_s=0.01)) as client:
        with pytest.raises(RewardUnavailableError, match="3 tries in 0 s: HTTP 503"):
            client.score_sync([math_sample(4)])
        assert client.stats.requests == 3


def test_connect_errors_are_retried_until_the_router_is_up() -> None:
    port = free_port()
    started: list[LiveServer] = []
    timer = threading.Timer(1.0, lambda: started.append(LiveServer.start(port=port, wait=False)))
    timer.start()
    # ~100 s of tries (full jitter: 0.125 s on average): a loaded machine starts raas slowly
    policy = RetryPolicy(attempts=800, backoff_base_s=0.25, backoff_max_s=0.25)
    try:
        with RewardClient(f"http://127.0.0.1:{port}", retry=policy) as client:
            assert client.rewards_sync([math_sample(4)]) == [1.0]
            assert client.stats.retries > 0
    finally:
        timer.join()
        for live in started:
            live.stop()


def test_a_500_is_raas_s_error_not_a_rejected_batch_and_not_retried(proxy: FlakyProxy) -> None:
    proxy.script = ["500"]
    with RewardClient(proxy.url, retry=FAST) as client:
        with pytest.raises(RewardServiceError, match="HTTP 500") as info:
            client.score_sync([math_sample(4)])
        assert client.stats.requests == 1
    assert not isinstance(info.value, RequestRejectedError | RewardUnavailableError)


def test_a_malformed_batch_is_rejected_not_retried(proxy: FlakyProxy) -> None:
    with RewardClient(proxy.url, retry=FAST) as client:
        with pytest.raises(RequestRejectedError) as info:
            client.score_sync([math_sample(4), {"response": "x", "verifier": "no_such"}])
        assert client.stats.requests == 1
    assert info.value.status_code == 422
    assert info.value.detail[0]["loc"] == ["samples", 1, "verifier"]


def test_importing_the_client_pulls_in_neither_torch_nor_fastapi() -> None:
    code = (
        "import sys, trainer_client; "
        "print(sorted(m for m in ('torch', 'fastapi', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
