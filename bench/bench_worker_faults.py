"""Remote rule workers failing under load: what trainers see.

A router and two ``raas worker rules`` on 127.0.0.1, four trainers (the project's own
``RewardClient``, one thread each) sending 512-sample batches of long chains of thought (mixed
tasks, ``bench/workload.py``) back to back; each trainer cycles through its own batches, whose
rewards a clean run gave first. Scenarios, faults injected 3 s into the run:

- ``kill+freeze``: worker 0 killed (``SIGKILL``) and worker 1 frozen (``SIGSTOP``) for
  ``--freeze`` seconds, then thawed: for that while no worker can score anything.
- ``freeze``: worker 1 frozen for ``--long-freeze`` seconds while worker 0 stays up.

Reported per scenario: samples sent, ``unavailable`` results (inside HTTP 200 answers), results
whose reward differs from the clean run, batches that raised, and batch latency (p50, p99, max).
Results: ``bench/results/worker_faults.json``.

    python bench/bench_worker_faults.py [--freeze 8] [--long-freeze 15]
"""

from __future__ import annotations

import argparse
import random
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from _harness import ROOT, machine, write
from workload import batch

from devtools.cluster import RemoteCluster, Sent, keep_sending
from trainer_client import RewardClient

TRAINERS = 4
BATCH = 512
BATCHES_PER_TRAINER = 3
FAULT_AT_S = 3.0
Sample = dict[str, Any]


def clean_rewards(url: str, batches: list[list[Sample]]) -> list[list[float | None]]:
    with RewardClient(url, max_batch=256) as client:
        return [client.score_sync(samples).rewards for samples in batches]


def tally(sent: list[Sent], expected: list[list[list[float | None]]]) -> dict[str, Any]:
    """Unavailable results, ok results whose reward differs from the clean run's, and what
    else lost a clean run's reward (by status and error)."""
    unavailable = wrong = 0
    lost: dict[str, int] = {}
    for one in sent:
        for result, reward in zip(one.results or [], expected[one.trainer][one.batch], strict=True):
            if result.status == "unavailable":
                unavailable += 1
            elif result.reward != reward and result.status == "ok":
                wrong += 1
            elif result.reward != reward:
                key = f"{result.status}: {result.error}"[:200]
                lost[key] = lost.get(key, 0) + 1
    return {"unavailable": unavailable, "wrong_reward": wrong, "other_failed": lost}


def scenario(
    name: str, faults: Callable[[RemoteCluster], None], length_s: float, seed: int
) -> dict[str, Any]:
    rng = random.Random(seed)
    batches = [[batch(rng, BATCH) for _ in range(BATCHES_PER_TRAINER)] for _ in range(TRAINERS)]
    stop = threading.Event()
    with RemoteCluster.start() as cluster, ThreadPoolExecutor(1) as background:
        expected = [clean_rewards(cluster.url, mine) for mine in batches]
        trainers = background.submit(keep_sending, cluster.url, batches, stop)
        time.sleep(FAULT_AT_S)
        faults(cluster)
        time.sleep(max(0.0, length_s - FAULT_AT_S))
        stop.set()
        sent = trainers.result()
    latencies = sorted(s.seconds for s in sent)
    return {
        "scenario": name,
        "samples": sum(len(s.results or []) for s in sent),
        **tally(sent, expected),
        "batches": len(sent),
        "batches_raised": sum(s.results is None for s in sent),
        "latency_p50_s": round(statistics.median(latencies), 2),
        "latency_p99_s": round(latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 2),
        "latency_max_s": round(latencies[-1], 2),
    }


def kill_and_freeze(freeze_s: float) -> Callable[[RemoteCluster], None]:
    def faults(cluster: RemoteCluster) -> None:
        cluster.kill(0)
        cluster.freeze(1)
        time.sleep(freeze_s)
        cluster.thaw(1)

    return faults


def freeze_one(freeze_s: float) -> Callable[[RemoteCluster], None]:
    def faults(cluster: RemoteCluster) -> None:
        cluster.freeze(1)
        time.sleep(freeze_s)
        cluster.thaw(1)

    return faults


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--freeze", type=float, default=8.0)
    parser.add_argument("--long-freeze", type=float, default=15.0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/worker_faults.json")
    args = parser.parse_args()
    rows = [
        scenario("kill+freeze", kill_and_freeze(args.freeze), FAULT_AT_S + args.freeze + 4, 1),
        scenario("freeze", freeze_one(args.long_freeze), FAULT_AT_S + args.long_freeze + 2, 2),
    ]
    for row in rows:
        print(row)
    write({"machine": machine(), "trainers": TRAINERS, "batch": BATCH, "rows": rows}, args.out)


if __name__ == "__main__":
    main()
