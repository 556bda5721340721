"""A router and two real ``raas worker rules`` under trainers (``RewardClient`` threads) while
workers are killed (``SIGKILL``) and frozen (``SIGSTOP``, then ``SIGCONT``): every sample is
answered once, with the reward a clean run gave, and a frozen worker does not hold batches."""

from __future__ import annotations

import random
import re
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

import httpx

from devtools.cluster import RemoteCluster, Sent, keep_sending
from trainer_client import RewardClient

TRAINERS = 3
PER_TRAINER = 2
BATCH = 256
_WORDS = ("so", "the", "sum", "is", "then", "we", "get", "wait,", "let", "me", "re-check", "it")


def rollout(rng: random.Random, index: int) -> dict[str, Any]:
    """A math rollout with a chain of thought of 1–4 kB, right about half the time; a unique
    response each, so the router scores every one (nothing deduplicated away)."""
    truth = rng.randint(0, 10**6)
    answer = truth if rng.random() < 0.5 else truth + 1
    thinking = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(200, 800)))
    return {
        "id": index,
        "verifier": "math",
        "response": f"<think>{thinking} #{index}</think> The answer is \\boxed{{{answer}}}.",
        "ground_truth": str(truth),
    }


def trainer_batches(seed: int) -> list[list[list[dict[str, Any]]]]:
    rng = random.Random(seed)
    return [
        [[rollout(rng, BATCH * b + i) for i in range(BATCH)] for b in range(PER_TRAINER)]
        for _ in range(TRAINERS)
    ]


def clean_run(url: str, batches: list[list[list[dict[str, Any]]]]) -> list[list[list[Any]]]:
    """Each trainer's batches scored once with every worker up: the rewards to compare with."""
    with RewardClient(url, max_batch=BATCH) as client:
        clean = [[client.score_sync(b).rewards for b in mine] for mine in batches]
    assert all(r in (0.0, 1.0) for mine in clean for rewards in mine for r in rewards)
    return clean


def check_answers(
    sent: list[Sent],
    batches: list[list[list[dict[str, Any]]]],
    clean: list[list[list[Any]]],
) -> None:
    """Every batch answered, each sample once (ids echoed in order) with the clean reward."""
    assert sent
    assert [one.error for one in sent if one.results is None] == []
    answered = [(one, r) for one in sent for r in one.results or []]
    statuses = Counter(r.status for _, r in answered)
    assert statuses == {"ok": len(answered)}, (statuses, {r.error for _, r in answered})
    for one in sent:
        assert one.results is not None
        samples = batches[one.trainer][one.batch]
        assert [r.id for r in one.results] == [s["id"] for s in samples]
        assert [r.reward for r in one.results] == clean[one.trainer][one.batch]


def remote_retries(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    found = re.search(r'^raas_remote_retries_total\{backend="rules"\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def test_a_killed_and_a_frozen_worker_lose_no_sample() -> None:
    """One worker killed and the other frozen 5 s: for those seconds nothing can be scored, and
    the frozen one breaks connections as it resumes. Within the router's retry budget (30 s)
    the pieces wait for it instead of coming back ``unavailable`` inside HTTP 200 answers."""
    batches = trainer_batches(seed=1)
    stop = threading.Event()
    with RemoteCluster.start() as cluster, ThreadPoolExecutor(1) as background:
        clean = clean_run(cluster.url, batches)
        trainers = background.submit(keep_sending, cluster.url, batches, stop)
        try:
            cluster.wait_busy([0, 1])
            cluster.kill(0)
            cluster.freeze(1)
            time.sleep(5.0)
            cluster.thaw(1)
            time.sleep(2.0)  # batches keep coming while the router finds the worker back
        finally:
            stop.set()
        sent = trainers.result(timeout=120)
        retries = remote_retries(cluster.url)
    check_answers(sent, batches, clean)
    assert retries > 0  # the faults did hit pieces in flight


def test_a_frozen_workers_pieces_move_to_another_worker() -> None:
    """A worker frozen with pieces out is silent past the sample deadline plus the margin
    (2 s + 1 s here): its pieces go to the other worker, and the batches are answered while it
    is still frozen instead of after the freeze. When it resumes its late answers are dropped."""
    batches = trainer_batches(seed=2)
    stop = threading.Event()
    fast = {"RAAS_SAMPLE_TIMEOUT_S": "2", "RAAS_REMOTE_STALL_MARGIN_S": "1"}
    with (
        RemoteCluster.start(worker_env={"RAAS_SAMPLE_TIMEOUT_S": "2"}, **fast) as cluster,
        ThreadPoolExecutor(1) as background,
    ):
        clean = clean_run(cluster.url, batches)
        trainers = background.submit(keep_sending, cluster.url, batches, stop)
        try:
            cluster.wait_busy([1])
            cluster.freeze(1)
            stop.set()  # the batches in flight now are the last ones
            # an answer well within the freeze, which only ends after this wait (old: 30 s)
            done, _ = wait([trainers], timeout=30)
            still_frozen = cluster.is_stopped(1)
        finally:
            stop.set()
            cluster.thaw(1)
        sent = trainers.result(timeout=120)
        after_thaw = clean_run(cluster.url, batches)  # the thawed worker serves again
        retries = remote_retries(cluster.url)
    assert done, "the batches waited for the frozen worker to resume"
    assert still_frozen
    check_answers(sent, batches, clean)
    assert retries > 0  # pieces were sent again: to the other worker
    assert after_thaw == clean
