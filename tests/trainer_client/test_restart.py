"""``RewardClient`` (its default retry policy) through a router that goes away mid-batch: killed
and started again on its port after 9 s (a restart: the slow end of the 6–9 s that failed every
batch before), or stopped with SIGTERM while batches too big for its grace period are in flight.
Every sample is answered exactly once, with the result a clean run gives."""

from __future__ import annotations

import random
import signal
import threading
import time
from concurrent.futures import Future

import pytest

from bench.workload import batch
from devtools.live import LiveServer
from devtools.ports import free_port
from tests.security.test_server_limits import PATHOLOGICAL, busy_children, poll
from tests.trainer_client.test_client import samples_scored
from trainer_client import RewardClient, ScoredBatch

pytestmark = pytest.mark.slow

DOWN_S = 9.0  # the router is gone this long before it starts again
TRAINERS, ROUNDS = 4, 2  # each trainer scores the batches back to back, ROUNDS times
PIECE = 256  # samples per request: 8 pieces of a batch in flight at once
GIVE_UP_S = 300.0  # generous: a shared 2-core machine; the waits end when the work does
BIG = 24_576  # samples per batch at SIGTERM: far more than the grace period lets finish


@pytest.fixture(scope="module")
def batches() -> list[list[dict[str, object]]]:
    """Two batches of 2,048 rollouts of the mixed tasks, long chains of thought."""
    rng = random.Random(20)
    return [batch(rng, 2048) for _ in range(2)]


def clean_run(
    url: str, batches: list[list[dict[str, object]]], max_batch: int
) -> list[ScoredBatch]:
    """The batches scored by a router nobody disturbs, cut into the same pieces (a summary
    merged from other pieces differs in the last bits of its means)."""
    with RewardClient(url, max_batch=max_batch) as client:
        return [client.score_sync(samples) for samples in batches]


class Router:
    """``raas serve`` on a port that stays the same across restarts."""

    def __init__(self, **env: str) -> None:
        self.port, self.env = free_port(), env
        self.live = LiveServer.start(port=self.port, **env)
        self.url = self.live.url

    def restart(self) -> None:
        self.live = LiveServer.start(port=self.port, **self.env)

    def stop(self) -> None:
        self.live.stop()


class Trainer:
    """A thread scoring ``batches`` back to back, ``ROUNDS`` times, with the default policy."""

    def __init__(self, url: str, batches: list[list[dict[str, object]]]) -> None:
        self.client = RewardClient(url, max_batch=PIECE)
        self.out: list[ScoredBatch | BaseException] = []
        self.thread = threading.Thread(target=self.run, args=(batches,), daemon=True)
        self.thread.start()

    def run(self, batches: list[list[dict[str, object]]]) -> None:
        try:
            for _ in range(ROUNDS):
                self.out.extend(self.client.score_sync(samples) for samples in batches)
        except BaseException as exc:  # the test reports it
            self.out.append(exc)
        finally:
            self.client.close()


def test_batches_in_flight_outlast_a_router_killed_and_restarted(
    batches: list[list[dict[str, object]]],
) -> None:
    router = Router()
    try:
        clean = clean_run(router.url, batches, PIECE)
        scored_before = samples_scored(router.url)
        trainers = [Trainer(router.url, batches) for _ in range(TRAINERS)]
        # mid-stream: every trainer has batches in flight (4 × 8 pieces), some already answered
        poll(lambda: samples_scored(router.url) - scored_before >= 4096, "scoring under way")
        router.live.process.kill()
        router.live.process.wait()
        time.sleep(DOWN_S)
        router.restart()
        for t in trainers:
            t.thread.join(GIVE_UP_S)
            errors = [o for o in t.out if isinstance(o, BaseException)]
            assert not errors, errors
            assert t.out == clean * ROUNDS  # every sample once, in order, as in the clean run
        assert sum(t.client.stats.retries for t in trainers) > 0  # the kill did cut batches
    finally:
        router.stop()


@pytest.fixture(scope="module")
def big_batches() -> list[list[dict[str, object]]]:
    """Three 24,576-sample batches that each hold a pool child until the 3 s deadline (one
    power tower each), the rest 64 distinct easy samples repeated (deduplicated: cheap)."""
    made = []
    for b in range(3):
        easy = [
            {
                "id": i,
                "response": f"\\boxed{{{i % 64}}}",
                "ground_truth": str((i + b) % 64),
                "verifier": "math",
            }
            for i in range(BIG - 1)
        ]
        made.append([*easy, {**PATHOLOGICAL, "id": "tower"}])
    return made


def test_batches_in_flight_at_sigterm_get_no_500_and_complete_after_a_restart(
    big_batches: list[list[dict[str, object]]],
) -> None:
    router = Router(RAAS_SAMPLE_TIMEOUT_S="3", RAAS_SHUTDOWN_GRACE_S="1")
    try:
        clean = clean_run(router.url, big_batches, BIG)
        client = RewardClient(router.url, max_batch=BIG)  # each batch one request, as the issue
        futures: list[Future[ScoredBatch]] = [client.submit(b) for b in big_batches]
        poll(lambda: busy_children(router.live) >= 2, "the batches to reach the pool")
        router.live.process.send_signal(signal.SIGTERM)
        assert router.live.process.wait(GIVE_UP_S) in (0, -signal.SIGTERM)
        router.restart()
        # before: HTTP 500 when the grace period ran out, raised as RequestRejectedError
        assert [f.result(timeout=GIVE_UP_S) for f in futures] == clean
        assert client.stats.retries >= 3  # each batch was refused once, retryably
        client.close()
    finally:
        router.stop()
