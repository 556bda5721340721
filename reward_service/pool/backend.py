"""The embedded rule pool as a router backend (used by ``raas serve`` and ``raas worker rules``)."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

from reward_service.contract.task import Outcome, Task, to_columns
from reward_service.metrics import Metrics
from reward_service.pool.pool import ProcessPool
from reward_service.pool.tokens import load_tokenizer
from reward_service.settings import Settings

RULE_TARGET = "reward_service.pool.execute:run_task"
RULE_WARM_UP = "reward_service.pool.execute:warm_up"
RULE_UNPACK = "reward_service.contract.task:from_columns"


def build_pool(settings: Settings, metrics: Metrics) -> ProcessPool:
    """The rule pool; a tokenizer that cannot load stops the service here, not in a child."""
    if settings.tokenizer is not None:
        load_tokenizer(settings.tokenizer)
    return ProcessPool(
        RULE_TARGET,
        init=RULE_WARM_UP,
        init_args=(settings.tokenizer,),
        size=settings.pool_workers,
        deadline_s=settings.sample_timeout_s,
        memory_mb=settings.worker_memory_mb,
        start_timeout_s=settings.worker_start_timeout_s,
        max_chunk=settings.max_chunk,
        max_chunk_bytes=settings.max_chunk_bytes,
        chunk_target_s=settings.chunk_target_s,
        max_queue=settings.max_queued_tasks,
        spares=settings.pool_spares,
        size_of=Task.size,
        kind_of=operator.attrgetter("verifier"),  # C-level: called for every task
        pack=to_columns,
        unpack=RULE_UNPACK,
        on_restart=lambda kind: metrics.restarts.labels(kind).inc(),
    )


class PoolBackend:
    """Scores tasks in a local process pool."""

    def __init__(self, pool: ProcessPool, metrics: Metrics | None = None) -> None:
        self.pool = pool
        self.metrics = metrics

    async def start(self) -> None:
        await self.pool.start()
        if self.metrics is not None:
            pool = self.pool
            self.metrics.watch_pool(
                pool.size, lambda: pool.ready, lambda: pool.busy, lambda: pool.queue.queued
            )

    async def close(self) -> None:
        await self.pool.close()

    async def run(self, tasks: Sequence[Task]) -> list[Outcome]:
        values = await self.pool.map(tasks)
        return [v if type(v) is Outcome else Outcome.of(v) for v in values]  # one call per failure

    def readiness(self) -> tuple[dict[str, Any], bool]:
        return {"pool": {"size": self.pool.size, "ready": self.pool.ready}}, self.pool.ready > 0
