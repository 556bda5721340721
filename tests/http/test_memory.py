"""The router's memory ceiling (``reward_service.http.memory``): past ``RAAS_MEMORY_CEILING_MB`` new
work is answered 503 with ``Retry-After`` while probes keep answering 200."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bench.workload import batch
from devtools.live import LiveServer, post_elsewhere
from reward_service.http.memory import (
    CEILING_SHARE,
    COLLECT_EVERY_S,
    RETRY_AFTER_S,
    MemoryGuard,
    cgroup_limit,
    default_ceiling_mb,
    physical_memory,
    rss,
)
from reward_service.metrics import Metrics
from reward_service.settings import Settings

GIB = 1 << 30
V1_NONE = "9223372036854771712"  # what cgroup v1 writes for "no limit"
V1 = "memory/memory.limit_in_bytes"


@pytest.mark.parametrize(
    ("proc", "files", "limit"),
    [
        # a container on cgroup v2 (its own cgroup at the root)
        ("0::/\n", {"memory.max": "2147483648\n"}, 2 * GIB),
        ("0::/\n", {"memory.max": "max\n"}, None),
        # a process on a cgroup v2 host, in a limited slice
        ("0::/user.slice/app\n", {"user.slice/app/memory.max": "1073741824"}, GIB),
        # cgroup v1, limited and not; a container that sees the host's path for its cgroup
        ("4:memory:/\n", {V1: "2147483648"}, 2 * GIB),
        ("4:memory:/a\n", {"memory/a/memory.limit_in_bytes": V1_NONE}, None),
        ("4:cpu,memory:/docker/x\n", {V1: "536870912"}, GIB // 2),
        # the lowest of those that apply; other controllers ignored; nothing readable
        ("0::/\n4:memory:/\n", {"memory.max": "3221225472", V1: "1073741824"}, GIB),
        ("1:cpu:/\n", {"cpu/memory.limit_in_bytes": "1073741824"}, None),
        ("", {}, None),
    ],
)
def test_cgroup_limit(tmp_path: Path, proc: str, files: dict[str, str], limit: int | None) -> None:
    (tmp_path / "cgroup").write_text(proc)
    for name, text in files.items():
        path = tmp_path / "fs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert cgroup_limit(tmp_path / "cgroup", tmp_path / "fs") == limit


def test_the_default_ceiling_is_a_share_of_the_tightest_limit() -> None:
    limits = [limit for limit in (cgroup_limit(), physical_memory()) if limit]
    assert default_ceiling_mb() == int(min(limits) * CEILING_SHARE) >> 20
    assert Settings().memory_ceiling_mb == default_ceiling_mb()
    assert Settings(memory_ceiling_mb=0).memory_ceiling_mb == 0  # off


class Memory:
    """What the guard reads: RSS (the next value each read, then the last) and a clock."""

    def __init__(self, readings: list[int]) -> None:
        self.readings, self.now = readings, 0.0

    def rss(self) -> int:
        return self.readings.pop(0) if len(self.readings) > 1 else self.readings[0]

    def clock(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("ceiling", "readings", "admitted", "collections"),
    [
        (0, [10**12], True, 0),  # off
        (100, [99], True, 0),  # under: no collection
        (100, [100, 60], True, 1),  # at it: a collection frees enough
        (100, [150, 120], False, 1),  # a collection does not: refused
    ],
)
def test_the_guard_collects_before_it_refuses(
    ceiling: int, readings: list[int], admitted: bool, collections: int
) -> None:
    memory, metrics = Memory(readings), Metrics()
    guard = MemoryGuard(ceiling, metrics, read_rss=memory.rss, clock=memory.clock)
    assert guard.admit() is admitted
    assert counts(metrics) == (collections, 0 if admitted else 1)


def test_collections_are_spaced_while_memory_stays_high() -> None:
    memory, metrics = Memory([500]), Metrics()
    guard = MemoryGuard(100, metrics, read_rss=memory.rss, clock=memory.clock)
    decisions = []
    for now in (0.0, 0.1, COLLECT_EVERY_S / 2, COLLECT_EVERY_S + 0.1):
        memory.now = now
        decisions.append(guard.admit())
    assert decisions == [False] * 4
    assert counts(metrics) == (2, 4)  # collected at 0 and once COLLECT_EVERY_S had passed


def counts(metrics: Metrics) -> tuple[float | None, float | None]:
    """Collections the guard ran, requests it refused."""
    value = metrics.registry.get_sample_value
    return value("raas_memory_collections_total"), value("raas_memory_refused_total")


def test_rss_reads_this_process_and_others() -> None:
    assert rss() > 10 << 20
    assert rss(os.getpid()) > 10 << 20
    assert rss(2**22 + 12345) == 0  # no such process


@pytest.fixture(scope="module")
def full() -> Iterator[LiveServer]:
    """A router whose RSS is always above its ceiling (1 MiB)."""
    live = LiveServer.start(RAAS_MEMORY_CEILING_MB="1", RAAS_POOL_WORKERS="1")
    yield live
    live.stop()


def metric(url: str, name: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(
        s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == name
    )


def test_work_above_the_ceiling_gets_503_with_retry_after(full: LiveServer) -> None:
    sample = {"response": "\\boxed{1}", "verifier": "math", "ground_truth": "1"}
    for path, body in (("/reward", {"samples": [sample]}), ("/get_reward", {"query": ["x"]})):
        response = httpx.post(f"{full.url}{path}", json=body, timeout=30)
        assert response.status_code == 503, path
        assert response.headers["retry-after"] == str(RETRY_AFTER_S)
        assert response.json()["detail"][0]["type"] == "memory"
    assert metric(full.url, "raas_memory_refused_total") >= 2
    assert metric(full.url, "raas_memory_collections_total") >= 1  # it tried to free first
    assert metric(full.url, "raas_memory_ceiling_bytes") == 1 << 20
    assert metric(full.url, "raas_memory_rss_bytes") > 1 << 20


def test_probes_and_reads_still_answer_above_the_ceiling(full: LiveServer) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/v1/verifiers"):
        assert httpx.get(f"{full.url}{path}", timeout=10).status_code == 200, path


def test_a_large_body_still_gets_its_503_not_a_broken_connection(full: LiveServer) -> None:
    """Refused before the body is read: the client still reads the answer, and its connection
    serves the next request."""
    sample = {"response": "x" * 60_000, "verifier": "math", "ground_truth": "1"}
    with httpx.Client(base_url=full.url, timeout=30) as client:
        for _ in range(3):
            response = client.post("/reward", json={"samples": [sample] * 200})  # 12 MB
            assert response.status_code == 503
            assert client.get("/healthz").status_code == 200


def test_a_router_under_its_ceiling_scores() -> None:
    live = LiveServer.start(RAAS_MEMORY_CEILING_MB="4096", RAAS_POOL_WORKERS="1")
    try:
        sample = {"response": "\\boxed{1}", "verifier": "math", "ground_truth": "1"}
        response = httpx.post(f"{live.url}/reward", json={"samples": [sample]}, timeout=30)
        assert response.status_code == 200
        assert response.json()["results"][0]["reward"] == 1.0
        assert metric(live.url, "raas_memory_refused_total") == 0
    finally:
        live.stop()


@pytest.mark.slow
def test_a_batch_that_takes_the_router_past_its_ceiling_turns_new_work_away_until_done(
    tmp_path: Path,
) -> None:
    """A 140 MB batch of long chains of thought (15,360 samples) takes a router that idles at
    about 120 MiB past 300 MiB while it is scored: meanwhile new batches get 503 and the probes
    200; the batch itself is answered in full, and new work is admitted again after it."""
    rng = random.Random(3)
    samples = [s for _ in range(60) for s in batch(rng, 256, ("math",))]
    body = tmp_path / "big.json"
    body.write_bytes(orjson.dumps({"samples": samples}))
    small = {"samples": [{"response": "\\boxed{1}", "verifier": "math", "ground_truth": "1"}]}
    live = LiveServer.start(RAAS_MEMORY_CEILING_MB="300", RAAS_POOL_WORKERS="2")
    try:
        headers = {"content-type": "application/json"}
        big = post_elsewhere(f"{live.url}/reward", body, tmp_path / "answer.json", headers)
        seen: list[tuple[int, int]] = []  # (small batch, /healthz) while the big one runs
        with httpx.Client(base_url=live.url, timeout=30) as client:
            while big.poll() is None:
                seen.append(
                    (
                        client.post("/reward", json=small).status_code,
                        client.get("/healthz").status_code,
                    )
                )
                time.sleep(0.2)
            after = [client.post("/reward", json=small).status_code]
            while after[-1] != 200 and len(after) < 60:
                time.sleep(0.5)
                after.append(client.post("/reward", json=small).status_code)
        assert big.returncode == 0
        answer = orjson.loads((tmp_path / "answer.json").read_bytes())
        assert len(answer["results"]) == len(samples)
        assert (503, 200) in seen
        assert {health for _, health in seen} == {200}
        assert after[-1] == 200, after
    finally:
        live.stop()
