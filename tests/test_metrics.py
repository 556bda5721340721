from __future__ import annotations

from prometheus_client import CollectorRegistry

from reward_service.metrics import OTHER_SOURCE, Metrics


def test_data_source_labels_are_capped() -> None:
    metrics = Metrics(CollectorRegistry(), max_sources=2)
    assert [metrics.source(s) for s in ("a", "b", "a", "c", "b")] == [
        "a",
        "b",
        "a",
        OTHER_SOURCE,
        "b",
    ]


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
