"""A router in front of remote rule workers, as real processes on 127.0.0.1, with the faults a
cluster sees: a worker killed, a worker frozen (``SIGSTOP``, as a stalled node or a paused
container) and thawed again; and trainers (the project's own ``RewardClient``) sending batches
through it meanwhile. For the tests and the benchmark of the router's failure handling."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import httpx

from devtools.live import LiveServer, children_of
from trainer_client import RewardClient, RewardServiceError, ScoredSample

Sample = Mapping[str, Any]


@dataclass
class RemoteCluster:
    """``router`` with ``RAAS_RULE_WORKERS`` naming ``workers`` (one pool child each: the
    machine's cores are shared by every process here)."""

    router: LiveServer
    workers: list[LiveServer]
    router_env: dict[str, str] = field(default_factory=dict)
    worker_env: dict[str, str] = field(default_factory=dict)
    frozen: set[int] = field(default_factory=set)

    @classmethod
    def start(
        cls, workers: int = 2, worker_env: Mapping[str, str] | None = None, **router_env: str
    ) -> RemoteCluster:
        """``router_env``: the router's ``RAAS_*`` settings (its retry budget, its deadline)."""
        env = {"RAAS_POOL_WORKERS": "1", **(worker_env or {})}
        started: list[LiveServer] = []
        try:
            for _ in range(workers):
                started.append(LiveServer.start("worker", "rules", **env))
            router_env = {"RAAS_RULE_WORKERS": ",".join(w.url for w in started), **router_env}
            return cls(LiveServer.start(**router_env), started, router_env, env)
        except BaseException:
            for worker in started:
                worker.stop()
            raise

    def restart_router(self, sig: signal.Signals, down_s: float = 0.0) -> None:
        """Stop the router with ``sig`` (``SIGTERM`` drains what it has in flight first), wait
        until it has exited, and ``down_s`` more, then start it again on the same port."""
        port = self.router.port
        self.router.stop(sig)
        time.sleep(down_s)
        self.router = LiveServer.start(port=port, **self.router_env)

    def restart_worker(self, index: int) -> None:
        """A worker started again on its port (after :meth:`kill`): the router finds it back."""
        port = self.workers[index].port
        self.workers[index] = LiveServer.start("worker", "rules", port=port, **self.worker_env)

    @property
    def url(self) -> str:
        return self.router.url

    def in_flight(self) -> list[int]:
        """Pieces the router has out on each worker (its ``/readyz``)."""
        body = httpx.get(f"{self.url}/readyz", timeout=10).json()
        return [int(worker["in_flight"]) for worker in body["workers"]]

    def wait_busy(self, indices: Sequence[int], give_up_s: float = 60.0) -> None:
        """Until the router has pieces out on each of these workers."""
        end = time.monotonic() + give_up_s
        while not all(self.in_flight()[i] for i in indices):
            if time.monotonic() > end:
                raise TimeoutError(f"workers {indices} got no pieces")
            time.sleep(0.02)

    def kill(self, index: int) -> None:
        """``SIGKILL``: the worker is gone, its connections refused from now on."""
        self.workers[index].stop(signal.SIGKILL)

    def freeze(self, index: int) -> None:
        """``SIGSTOP`` the worker and its pool children: connections stay open, the kernel still
        accepts new ones, and nothing answers."""
        self._signal(index, signal.SIGSTOP)
        self.frozen.add(index)

    def thaw(self, index: int) -> None:
        self._signal(index, signal.SIGCONT)
        self.frozen.discard(index)

    def is_stopped(self, index: int) -> bool:
        """Whether the worker's process is stopped (state ``T``) as seen by the kernel."""
        stat = Path(f"/proc/{self.workers[index].process.pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] == "T"

    def _signal(self, index: int, sig: signal.Signals) -> None:
        pid = self.workers[index].process.pid
        for target in (pid, *children_of(pid)):
            with contextlib.suppress(ProcessLookupError):  # a pool child just replaced
                os.kill(target, sig)

    def stop(self) -> None:
        for index in list(self.frozen):
            self.thaw(index)  # a stopped process cannot act on SIGTERM
        self.router.stop()
        for worker in self.workers:
            worker.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


@dataclass(frozen=True)
class Sent:
    """One batch a trainer sent: its results (``None`` if the client raised) and how long."""

    trainer: int
    batch: int
    seconds: float
    results: list[ScoredSample] | None
    error: str | None = None


def keep_sending(
    url: str, batches: Sequence[Sequence[Sequence[Sample]]], stop: threading.Event
) -> list[Sent]:
    """Trainers, one thread and one ``RewardClient`` each, sending their own batches in turn
    (``batches[trainer]``), back to back, until ``stop`` is set; every batch sent, in order."""

    def trainer(index: int) -> list[Sent]:
        sent: list[Sent] = []
        mine = batches[index]
        with RewardClient(url, max_batch=256) as client:
            while not stop.is_set():
                number = len(sent) % len(mine)
                start = time.monotonic()
                try:
                    results: list[ScoredSample] | None = client.score_sync(mine[number]).results
                    error = None
                except RewardServiceError as exc:
                    results, error = None, str(exc)
                sent.append(Sent(index, number, time.monotonic() - start, results, error))
        return sent

    with ThreadPoolExecutor(len(batches)) as pool:
        return [s for sent in pool.map(trainer, range(len(batches))) for s in sent]
