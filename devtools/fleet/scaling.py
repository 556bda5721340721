"""Kubernetes scaling decisions as pure functions: the HorizontalPodAutoscaler's replica
calculation (tolerance, stabilisation windows, default rate limits) and KEDA's activation and
cooldown around it. Written from the Kubernetes and KEDA documentation, so that the fleet model
scales a tier the way the cluster would, and each rule can be checked against its documented
examples (``tests/test_fleet.py``)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

PolicyKind = Literal["fixed", "hpa_cpu", "hpa_queue", "keda_queue"]


@dataclass(frozen=True)
class Policy:
    """How a tier's replica count is decided.

    ``fixed``: ``min_replicas`` pods, never scaled. ``hpa_cpu``: an HPA on CPU utilisation
    (``target`` a fraction of the pod's requested cores). ``hpa_queue``: an HPA on the external
    metric ``raas_model_queue_depth`` with an ``AverageValue`` target (``target`` samples waiting
    per pod). ``keda_queue``: KEDA on the same metric: the HPA above while active, plus scaling
    to zero after ``cooldown_s`` without work and back to one at the first ``polling_s`` tick
    that sees work (``min_replicas`` may then be 0).

    Defaults are Kubernetes' own: a 15 s sync period, 10 % tolerance, no scale-up stabilisation,
    300 s scale-down stabilisation, scale-up by at most max(100 %, 4 pods) per 15 s. KEDA's
    defaults: a 30 s polling interval, a 300 s cooldown. ``metric_lag_s`` is the age of the
    metric the controller reads: the metrics-server's or Prometheus' scrape (15 s) plus, for
    external metrics, the adapter's query.
    """

    kind: PolicyKind = "fixed"
    min_replicas: int = 1
    max_replicas: int = 1
    target: float = 0.75
    sync_period_s: float = 15.0
    tolerance: float = 0.1
    scale_up_window_s: float = 0.0
    scale_down_window_s: float = 300.0
    metric_lag_s: float = 15.0
    polling_s: float = 30.0
    cooldown_s: float = 300.0

    def __post_init__(self) -> None:
        floor = 0 if self.kind == "keda_queue" else 1
        if not floor <= self.min_replicas <= self.max_replicas:
            raise ValueError(f"replicas must satisfy {floor} <= min <= max: {self}")
        if self.target <= 0 or self.sync_period_s <= 0:
            raise ValueError(f"target and sync period must be positive: {self}")

    def with_(self, **changes: Any) -> Policy:
        return replace(self, **changes)


def raw_recommendation(metric_total: float, per_pod_target: float, current: int, tol: float) -> int:
    """The HPA's ``desiredReplicas = ceil(current × metric / target)``, written on the tier's
    total (busy cores, or samples waiting) against the per-pod target; within the tolerance of
    the current count it keeps the current count."""
    wanted = metric_total / per_pod_target
    if current > 0 and abs(wanted / current - 1.0) <= tol:
        return current
    return math.ceil(wanted - 1e-9)


def stabilised(
    current: int,
    history: Sequence[tuple[float, int]],
    now: float,
    up_window_s: float,
    down_window_s: float,
) -> int:
    """Kubernetes' behaviour stabilisation: scale up only to the lowest recommendation of the
    scale-up window, down only to the highest of the scale-down window (``history`` holds
    ``(time, recommendation)``, the newest last and made at ``now``)."""
    up = min(r for t, r in history if t >= now - up_window_s)
    down = max(r for t, r in history if t >= now - down_window_s)
    if current < up:
        return up
    if current > down:
        return down
    return current


def rate_limited(current: int, wanted: int) -> int:
    """The default scale-up policies (100 % and 4 pods per 15 s, whichever is more); scale-down
    by default may remove every pod above the minimum in one period."""
    return min(wanted, max(2 * current, current + 4))


def desired_replicas(
    policy: Policy,
    current: int,
    metric_total: float,
    per_pod_capacity: float,
    history: list[tuple[float, int]],
    now: float,
) -> int:
    """One HPA sync: the raw recommendation appended to ``history``, stabilised, rate limited
    and clamped to ``[min, max]``. ``per_pod_capacity`` is the cores a pod requests (CPU) or 1
    (queue: the target is already per pod)."""
    per_pod_target = policy.target * per_pod_capacity
    history.append(
        (now, raw_recommendation(metric_total, per_pod_target, current, policy.tolerance))
    )
    keep = max(policy.scale_up_window_s, policy.scale_down_window_s)
    while history and history[0][0] < now - keep:
        history.pop(0)
    wanted = stabilised(current, history, now, policy.scale_up_window_s, policy.scale_down_window_s)
    wanted = rate_limited(current, wanted) if wanted > current else wanted
    low = max(policy.min_replicas, 1)
    return max(low, min(policy.max_replicas, wanted))


def policy_from_hpa(doc: Mapping[str, Any]) -> Policy:
    """The :class:`Policy` a manifest's ``autoscaling/v2`` HorizontalPodAutoscaler describes:
    its replica bounds, its one metric (CPU ``Utilization`` or an ``External`` ``AverageValue``)
    and its behaviour's stabilisation windows (Kubernetes' defaults where absent)."""
    spec = doc["spec"]
    (metric,) = spec["metrics"]
    if metric["type"] == "Resource":
        kind: PolicyKind = "hpa_cpu"
        target = float(metric["resource"]["target"]["averageUtilization"]) / 100.0
    else:
        kind = "hpa_queue"
        target = float(metric["external"]["target"]["averageValue"])
    behavior = spec.get("behavior", {})
    return Policy(
        kind=kind,
        min_replicas=int(spec.get("minReplicas", 1)),
        max_replicas=int(spec["maxReplicas"]),
        target=target,
        scale_up_window_s=float(behavior.get("scaleUp", {}).get("stabilizationWindowSeconds", 0)),
        scale_down_window_s=float(
            behavior.get("scaleDown", {}).get("stabilizationWindowSeconds", 300)
        ),
    )
