from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry, Histogram, Summary
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from reward_service.metrics import OTHER_SOURCE, Metrics, observe_all


def samples(registry: CollectorRegistry, source: str, verifier: str = "math") -> float | None:
    labels = {"data_source": source, "verifier": verifier, "status": "ok"}
    return registry.get_sample_value("raas_samples_total", labels)


class TestSourceLabels:
    def test_slots_are_recycled_by_recency(self) -> None:
        metrics = Metrics(CollectorRegistry(), max_sources=2)
        # c takes b's slot (a was seen after b), then b takes a's
        assert [metrics.source(s) for s in ("a", "b", "a", "c", "b")] == ["a", "b", "a", "c", "b"]

    def test_a_later_source_gets_its_own_label_and_the_oldest_series_go(self) -> None:
        registry = CollectorRegistry()
        metrics = Metrics(registry, max_sources=256)
        for i in range(256):
            metrics.record_samples({(f"junk-{i}", "math", "ok"): 1}, {f"junk-{i}": [1.0]})
        metrics.record_samples({("mm_math", "math", "ok"): 3}, {"mm_math": [0.5, 1.0, 1.0]})
        assert samples(registry, "mm_math") == 3
        assert registry.get_sample_value("raas_reward_count", {"data_source": "mm_math"}) == 3
        assert samples(registry, "junk-0") is None  # its slot went to mm_math
        assert registry.get_sample_value("raas_reward_count", {"data_source": "junk-0"}) is None
        assert samples(registry, "junk-1") == 1
        assert samples(registry, OTHER_SOURCE) is None

    def test_sources_beyond_the_slots_within_one_batch_are_other(self) -> None:
        registry = CollectorRegistry()
        metrics = Metrics(registry, max_sources=2)
        metrics.record_samples({(s, "math", "ok"): 1 for s in ("a", "b", "c")}, {})
        assert [samples(registry, s) for s in ("a", "b", "c", OTHER_SOURCE)] == [1, 1, None, 1]

    def test_an_allow_list_keeps_listed_sources_only(self) -> None:
        registry = CollectorRegistry()
        metrics = Metrics(registry, max_sources=1, sources=["mm_math", "ocr"])
        metrics.record_samples({(s, "math", "ok"): 1 for s in ("x", "mm_math", "ocr", "y")}, {})
        assert [samples(registry, s) for s in ("mm_math", "ocr", OTHER_SOURCE)] == [1, 1, 2]
        assert samples(registry, "x") is None

    def test_non_finite_rewards_are_never_recorded(self) -> None:
        registry = CollectorRegistry()
        metrics = Metrics(registry)
        metrics.record_samples({("a", "math", "ok"): 3}, {"a": [1.0, float("nan"), float("inf")]})
        assert registry.get_sample_value("raas_reward_sum", {"data_source": "a"}) == 1.0
        assert registry.get_sample_value("raas_reward_count", {"data_source": "a"}) == 1


def test_metrics_live_on_the_registry_they_are_given() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    metrics.samples.labels("a", "math", "ok").inc(3)
    metrics.watch_pool(4, lambda: 3, lambda: 1, lambda: 7)
    assert (
        registry.get_sample_value(
            "raas_samples_total", {"data_source": "a", "verifier": "math", "status": "ok"}
        )
        == 3
    )
    assert registry.get_sample_value("raas_pool_size") == 4
    assert registry.get_sample_value("raas_pool_ready") == 3
    assert registry.get_sample_value("raas_pool_busy") == 1
    assert registry.get_sample_value("raas_pool_queued") == 7
    assert Metrics(CollectorRegistry()).registry is not registry  # fresh registries, no clash


def test_a_recycled_source_drops_its_monitoring_series() -> None:
    from reward_service.metrics import Monitored

    registry = CollectorRegistry()
    metrics = Metrics(registry, max_sources=1)
    seen = Monitored(chars=[10], tokens=[3])
    seen.perception.update({"iou": [0.5], "threshold": [0.9], "parsed": [1.0, 0.0]})
    metrics.record_monitoring({"det": seen})
    assert registry.get_sample_value("raas_perception_threshold", {"data_source": "det"}) == 0.9
    answers = {"data_source": "det", "parsed": "false"}
    assert registry.get_sample_value("raas_perception_answers_total", answers) == 1
    metrics.record_monitoring({"other": Monitored(chars=[5])})  # takes det's only slot
    for name in (
        "raas_perception_threshold",
        "raas_perception_iou_count",
        "raas_response_chars_count",
    ):
        assert registry.get_sample_value(name, {"data_source": "det"}) is None, name
    assert registry.get_sample_value("raas_perception_answers_total", answers) is None
    assert registry.get_sample_value("raas_response_chars_count", {"data_source": "other"}) == 1


VALUES = [
    0.0,
    0.1,
    0.25,
    0.25000001,
    0.5,
    1.0,
    1.0,
    7.0,
    1e9,
    -3.0,
    math.inf,
    -math.inf,
    math.nan,
    0.999,
    0.05,
]


def exposition(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


@pytest.mark.parametrize("kind", [Histogram, Summary])
@pytest.mark.parametrize("values", [VALUES, VALUES[:1], [], [math.nan], [0.25] * 100])
def test_observing_all_at_once_is_observing_each(kind: type, values: list[float]) -> None:
    """The router's bulk update gives the exposition one ``observe`` per value gives: every
    bucket and count exactly, the sum up to rounding (NaN: in the sum, in no bucket)."""
    one, bulk = CollectorRegistry(), CollectorRegistry()
    options = {"buckets": (0.1, 0.25, 0.5, 1.0, 5.0)} if kind is Histogram else {}
    each = kind("m", "doc", ["source"], registry=one, **options)
    all_at_once = kind("m", "doc", ["source"], registry=bulk, **options)
    child = each.labels("s")  # the series exists either way
    for value in values:
        child.observe(value)
    observe_all(all_at_once.labels("s"), values)
    expected, got = exposition(one), exposition(bulk)
    assert expected.keys() == got.keys()
    for key, value in expected.items():
        if key[0].endswith("_sum"):
            assert got[key] == pytest.approx(value, nan_ok=True), key
        else:
            assert got[key] == value, key
