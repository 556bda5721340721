"""Several router processes behind one port: the pure parts (shares, sizing, key owners, the
merged exposition). ``test_routers_live.py`` runs the processes."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client import Counter as PromCounter
from prometheus_client.parser import text_string_to_metric_families

from reward_service.http.siblings import merge, owner
from reward_service.http.supervisor import backoff_s, router_count, shares, split
from reward_service.settings import Settings


@pytest.mark.parametrize(
    ("total", "parts", "least", "expected"),
    [
        (8, 2, 1, [4, 4]),
        (7, 3, 1, [3, 2, 2]),
        (3, 2, 1, [2, 1]),
        (1, 3, 1, [1, 1, 1]),  # each router needs a pool child: more than asked for
        (1024, 3, 1, [342, 341, 341]),
        (0, 4, 1, [0, 0, 0, 0]),  # 0 is "off" (the memory ceiling): off everywhere
        (5, 1, 1, [5]),
        (1, 2, 0, [1, 0]),
    ],
)
def test_split(total: int, parts: int, least: int, expected: list[int]) -> None:
    assert split(total, parts, least) == expected


def test_shares_split_every_node_wide_bound_and_nothing_else() -> None:
    settings = Settings(
        pool_workers=5,
        max_queued_tasks=1000,
        max_connections=64,
        memory_ceiling_mb=0,
        idempotency_cache_bytes=3 << 20,
        idempotency_cache_size=512,
    )
    assert shares(settings, 2) == [
        {
            "pool_workers": 3,
            "max_queued_tasks": 500,
            "max_connections": 32,
            "memory_ceiling_mb": 0,
            "idempotency_cache_bytes": 3 << 19,
        },
        {
            "pool_workers": 2,
            "max_queued_tasks": 500,
            "max_connections": 32,
            "memory_ceiling_mb": 0,
            "idempotency_cache_bytes": 3 << 19,
        },
    ]


@pytest.mark.parametrize(
    ("routers", "cores", "models", "expected"),
    [
        ("auto", 1, False, 1),
        ("auto", 2, False, 1),  # this machine: today's single process
        ("auto", 7, False, 1),
        ("auto", 8, False, 2),
        ("auto", 64, False, 16),
        ("auto", 192, False, 48),
        ("auto", 64, True, 1),  # in-process models would load once per router
        (3, 2, False, 3),
        (1, 64, False, 1),
    ],
)
def test_auto_routers(routers: int | str, cores: int, models: bool, expected: int) -> None:
    spec = [{"name": "rm", "path": "/models/rm", "kind": "bt"}] if models else []
    assert router_count(Settings(routers=routers, models=spec), cores=cores) == expected


def test_auto_is_the_default_and_several_routers_refuse_in_process_models() -> None:
    assert Settings().routers == "auto"
    with pytest.raises(ValueError, match="RAAS_ROUTERS=1"):
        Settings(routers=2, models=[{"name": "rm", "path": "/models/rm", "kind": "bt"}])
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        Settings(routers=0)


@pytest.mark.parametrize("count", [2, 3, 8])
def test_keys_spread_evenly_and_stay_put(count: int) -> None:
    keys = [str(uuid.uuid4()) for _ in range(4000)]
    owners = Counter(owner("k" * 20, key, count) for key in keys)
    assert set(owners) == set(range(count))
    assert max(owners.values()) < 1.25 * len(keys) / count
    assert [owner("k" * 20, key, count) for key in keys[:50]] == [
        owner("k" * 20, key, count) for key in keys[:50]
    ]


def test_the_owner_depends_on_the_api_key_scope() -> None:
    keys = [str(i) for i in range(200)]
    assert [owner("a" * 20, k, 4) for k in keys] != [owner("b" * 20, k, 4) for k in keys]


def _exposition(
    samples: float, ready: float, threshold: float, loaded: float, latencies: list[float]
) -> str:
    registry = CollectorRegistry()
    PromCounter("raas_samples", "s", ["verifier"], registry=registry).labels("choice").inc(samples)
    Gauge("raas_pool_ready", "r", registry=registry).set(ready)
    Gauge("raas_perception_threshold", "t", ["data_source"], registry=registry).labels("d").set(
        threshold
    )
    Gauge("raas_model_loaded", "l", ["model"], registry=registry).labels("rm").set(loaded)
    histogram = Histogram("raas_request_seconds", "h", buckets=(0.1, 1.0), registry=registry)
    for value in latencies:
        histogram.observe(value)
    return generate_latest(registry).decode()


def _values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.mark.parametrize(
    ("name", "labels", "expected"),
    [
        ("raas_samples_total", {"verifier": "choice"}, 12.0),  # counters add up
        ("raas_pool_ready", {}, 5.0),  # gauges too: children alive on the node
        ("raas_perception_threshold", {"data_source": "d"}, 0.75),  # the larger, not a sum
        ("raas_model_loaded", {"model": "rm"}, 0.0),  # 1 only where every process has it
        ("raas_request_seconds_bucket", {"le": "0.1"}, 1.0),
        ("raas_request_seconds_bucket", {"le": "1.0"}, 3.0),
        ("raas_request_seconds_bucket", {"le": "+Inf"}, 4.0),
        ("raas_request_seconds_count", {}, 4.0),
        ("raas_request_seconds_sum", {}, 0.05 + 0.5 + 0.6 + 2.0),
    ],
)
def test_merge(name: str, labels: dict[str, str], expected: float) -> None:
    a = _exposition(5, 2, 0.5, 1, [0.05, 0.5])
    b = _exposition(7, 3, 0.75, 0, [0.6, 2.0])
    merged = _values(merge([a, b]).decode())
    assert merged[(name, tuple(sorted(labels.items())))] == pytest.approx(expected)


def test_merge_keeps_the_earliest_start_and_one_exposition_as_it_is() -> None:
    a = _exposition(5, 2, 0.5, 1, [0.05])
    b = _exposition(7, 3, 0.75, 1, [0.6])
    created = [v for t in (a, b) for (n, _), v in _values(t).items() if n == "raas_samples_created"]
    merged = _values(merge([b, a]).decode())
    assert merged[("raas_samples_created", (("verifier", "choice"),))] == min(created)
    assert _values(merge([a]).decode()) == _values(a)


@pytest.mark.parametrize(
    ("recent", "delay"), [(1, 0.5), (2, 1.0), (3, 2.0), (6, 16.0), (7, 30.0), (50, 30.0)]
)
def test_a_crash_looping_router_is_restarted_ever_later(recent: int, delay: float) -> None:
    assert backoff_s(recent) == delay
