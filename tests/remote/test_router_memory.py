"""The router's memory stays flat with remote rule workers: the topology shipped for Kubernetes.

A router in front of two ``raas worker rules`` on 127.0.0.1, four trainers (threads, each with
its own ``RewardClient``) sending 256-sample batches of long chains of thought (about 2 MB a
body) one after another; the router's RSS is sampled all along. Before the router freed the
pieces it sent by reference count, each piece's body stayed in memory until a garbage collection
(rare by design: ``reward_service.gc_policy``) and the router grew by about 3.4 MB a batch.
``bench/bench_memory.py`` runs the same traffic for thousands of batches.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from bench.workload import batch
from devtools.live import LiveServer
from devtools.rss import drive

WARM_UP = 40  # batches: connections, caches, the allocator's arenas
BATCHES = 200
GROWTH_BOUND_MIB = 150  # after the warm-up; measured +16 (before the fix: +534)


@pytest.fixture(scope="module")
def router() -> Iterator[LiveServer]:
    workers = [LiveServer.start("worker", "rules", RAAS_POOL_WORKERS="1") for _ in range(2)]
    urls = ",".join(worker.url for worker in workers)
    live = LiveServer.start("serve", RAAS_RULE_WORKERS=urls)
    yield live
    for server in (live, *workers):
        server.stop()


@pytest.mark.slow
def test_router_rss_stays_flat_over_many_long_cot_batches(router: LiveServer) -> None:
    rng = random.Random(20)
    batches = [batch(rng, 256, ("math",)) for _ in range(6)]
    trace = drive(router.url, batches, BATCHES, trainers=4, pid=router.process.pid, every_s=0.25)
    assert trace.failures == []
    assert trace.answered == BATCHES
    warm = trace.mib_after(WARM_UP)
    late = trace.peak_from(BATCHES * 3 // 4)
    assert late - warm < GROWTH_BOUND_MIB, (
        f"router RSS {warm:.0f} MiB after {WARM_UP} batches, {late:.0f} MiB near the end of "
        f"{BATCHES}"
    )
