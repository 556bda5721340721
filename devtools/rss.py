"""Trainers sending batch after batch while a process's RSS is sampled: the memory test's and
``bench/bench_memory.py``'s traffic, written once.

Each trainer is a thread with its own :class:`~trainer_client.RewardClient` (as a trainer rank
is), sending the given batches in turn until ``count`` have been answered in all.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from reward_service.http.memory import rss
from trainer_client.client import RewardClient

MIB = 1 << 20


@dataclass
class Trace:
    """RSS samples of one process: (seconds since start, batches answered, MiB)."""

    points: list[tuple[float, int, float]] = field(default_factory=list)
    answered: int = 0
    failures: list[str] = field(default_factory=list)
    stopped: str | None = None  # why the run ended before ``count`` batches

    def mib_after(self, batches: int) -> float:
        """The first RSS sampled once ``batches`` batches had been answered."""
        return next(mib for _, done, mib in self.points if done >= batches)

    def peak_from(self, batches: int) -> float:
        return max(mib for _, done, mib in self.points if done >= batches)


class _Run:
    def __init__(self, count: int) -> None:
        self.lock = threading.Lock()
        self.count, self.taken = count, 0
        self.trace = Trace()
        self.stop = threading.Event()

    def take(self) -> int | None:
        with self.lock:
            if self.stop.is_set() or self.taken >= self.count:
                return None
            self.taken += 1
            return self.taken - 1


def drive(
    url: str,
    batches: Sequence[list[dict[str, Any]]],
    count: int,
    *,
    trainers: int,
    pid: int,
    every_s: float = 0.5,
    stop_above_mib: float | None = None,
) -> Trace:
    """Send ``count`` batches (``batches[i % len(batches)]``) from ``trainers`` threads and
    sample ``pid``'s RSS every ``every_s``; past ``stop_above_mib`` the run stops early."""
    run = _Run(count)
    threads = [threading.Thread(target=_trainer, args=(url, batches, run)) for _ in range(trainers)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        mib = rss(pid) / MIB
        run.trace.points.append((time.monotonic() - start, run.trace.answered, mib))
        if stop_above_mib is not None and mib > stop_above_mib and not run.stop.is_set():
            run.trace.stopped = f"RSS {mib:.0f} MiB passed {stop_above_mib:.0f} MiB"
            run.stop.set()
        time.sleep(every_s)
    run.trace.points.append((time.monotonic() - start, run.trace.answered, rss(pid) / MIB))
    return run.trace


def _trainer(url: str, batches: Sequence[list[dict[str, Any]]], run: _Run) -> None:
    size = max(len(batch) for batch in batches)
    with RewardClient(url, max_batch=size, max_concurrency=1) as client:
        while (number := run.take()) is not None:
            try:
                scored = client.score_sync(batches[number % len(batches)])
                ok = sum(sample.ok for sample in scored.results)
            except Exception as exc:  # recorded: a run with failures is reported as such
                with run.lock:
                    run.trace.failures.append(f"{type(exc).__name__}: {exc}"[:300])
                continue
            with run.lock:
                run.trace.answered += 1
                if ok == 0:
                    run.trace.failures.append(f"batch {number}: no sample scored ok")
