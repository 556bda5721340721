"""The fleet capacity model (``devtools/fleet``): its queue against queueing theory, its steps
against queue arithmetic, its autoscaler against the Kubernetes rules it models, and that every
sample is scored once whatever the policy does."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from devtools.fleet import Job, Policy, Scenario, Simulation, Task, policy_from_hpa, simulate
from devtools.fleet.queue import fifo_completions
from devtools.fleet.scaling import desired_replicas, rate_limited, raw_recommendation, stabilised
from devtools.fleet.spec import default_tiers, measured_rule_costs

ROOT = Path(__file__).resolve().parents[1]


def one_tier(
    *,
    groups: int,
    group_size: int = 16,
    pods: int,
    slots: int = 4,
    cpu_s: float = 1e-3,
    steps: int = 3,
    overlap: bool = False,
    jobs: int = 1,
) -> Scenario:
    """Jobs whose samples all go to one rule verifier of cost ``cpu_s`` on ``pods`` fixed rule
    pods; the router costs nothing, so the rule tier's queue is the whole wait."""
    job = Job(
        rollout_s=100.0,
        update_s=50.0,
        samples_per_step=groups * group_size,
        group_size=group_size,
        tasks=(Task("v", 1.0),),
        overlap=overlap,
        steps=steps,
    )
    sc = Scenario(jobs=(job,) * jobs, rule_cpu_s={"v": cpu_s}, router_cpu_s=0.0)
    return sc.with_tier("rules", slots_per_pod=slots, policy=Policy("fixed", pods, pods))


# ------------------------------------------------------------------ the queue itself


@pytest.mark.parametrize("rho", [0.3, 0.5, 0.7])
def test_fifo_queue_with_poisson_arrivals_waits_as_m_d_1(rho: float) -> None:
    """M/D/1: mean wait in queue ρ·D / (2(1 − ρ)) (Pollaczek–Khinchine, constant service D)."""
    rng = np.random.default_rng(1)
    n, service = 100_000, 1.0
    arrivals = np.cumsum(rng.exponential(service / rho, n)).tolist()
    done = fifo_completions(arrivals, [service] * n, servers=1)
    waits = np.array(done) - np.array(arrivals) - service
    expected = rho * service / (2 * (1 - rho))
    assert waits[n // 10 :].mean() == pytest.approx(expected, rel=0.06)


@pytest.mark.parametrize(
    ("pieces", "servers", "service", "last"),
    [(1, 1, 2.0, 2.0), (10, 1, 0.5, 5.0), (10, 4, 1.0, 3.0), (8, 8, 1.5, 1.5), (9, 8, 1.0, 2.0)],
)
def test_a_burst_on_c_servers_ends_after_ceil_n_over_c_services(
    pieces: int, servers: int, service: float, last: float
) -> None:
    done = fifo_completions([0.0] * pieces, [service] * pieces, servers)
    assert max(done) == pytest.approx(last)
    assert sorted(done) == done  # first come, first served


# ------------------------------------------------------------------ steps against arithmetic


@pytest.mark.parametrize(
    ("groups", "pods", "slots", "cpu_s"),
    [(64, 1, 4, 1e-3), (64, 2, 4, 1e-3), (100, 3, 4, 2e-3), (8, 4, 4, 5e-3), (512, 2, 4, 1.6e-3)],
)
def test_rewards_after_the_rollout_wait_for_the_whole_burst(
    groups: int, pods: int, slots: int, cpu_s: float
) -> None:
    """A job alone, its groups all sent at the rollout's end: each step waits
    ceil(groups / slots) group services, and that is its share of the step time."""
    sc = one_tier(groups=groups, pods=pods, slots=slots, cpu_s=cpu_s)
    wait = math.ceil(groups / (pods * slots)) * 16 * cpu_s
    result = simulate(sc)
    (job,) = result["jobs"]
    assert job["wait_p50_s"] == pytest.approx(wait, abs=1e-3)
    assert job["wait_p99_s"] == pytest.approx(wait, abs=1e-3)
    assert job["wait_share"] == pytest.approx(wait / (150.0 + wait), abs=1e-4)
    assert result["tiers"]["rules"]["pod_hours"] == pytest.approx(
        pods * 3 * (150.0 + wait) / 3600, abs=1e-3
    )


@pytest.mark.parametrize(("groups", "cpu_s"), [(64, 1e-3), (128, 2e-3), (10, 1e-2)])
def test_overlapped_rewards_wait_only_for_the_last_group(groups: int, cpu_s: float) -> None:
    """Groups sent evenly through the rollout onto ample pods: each is scored before the next
    arrives, so the step waits only for the group sent as the rollout ends."""
    result = simulate(one_tier(groups=groups, pods=2, cpu_s=cpu_s, overlap=True))
    assert result["jobs"][0]["wait_p99_s"] == pytest.approx(16 * cpu_s, abs=1e-3)


def test_a_reward_model_group_takes_its_tokens_over_the_gpu_rate() -> None:
    """Constant lengths (σ = 0): a group of 16 × (500 + 1,000) tokens at 24,000 tokens/s is 1 s;
    64 groups on 4 GPUs wait 16 s."""
    job = Job(
        samples_per_step=1024,
        prompt_tokens=500,
        response_tokens=1000.0,
        response_sigma=0.0,
        tasks=(Task("rm", 1.0),),
        steps=2,
    )
    sc = Scenario(jobs=(job,), gpu_tokens_per_s=24_000.0, router_cpu_s=0.0)
    sc = sc.with_policy("model", kind="fixed", min_replicas=4, max_replicas=4)
    assert simulate(sc)["jobs"][0]["wait_p50_s"] == pytest.approx(16.0, abs=1e-3)


# ------------------------------------------------------------------ policies


@pytest.mark.parametrize("pods", [1, 3, 8])
@pytest.mark.parametrize(
    "policy",
    [
        Policy("hpa_queue", target=1e12),  # never crosses its target
        Policy("hpa_cpu", target=1.0, tolerance=1e9),  # always within tolerance
    ],
)
def test_a_policy_that_never_scales_gives_the_fixed_result(pods: int, policy: Policy) -> None:
    sc = Scenario(jobs=(Job(steps=3), Job(steps=3, overlap=True)))
    fixed = simulate(sc.with_policy("model", kind="fixed", min_replicas=pods, max_replicas=pods))
    scaled = sc.with_tier("model", policy=policy.with_(min_replicas=pods, max_replicas=99))
    assert simulate(scaled) == fixed


@pytest.mark.parametrize(
    "model",
    [
        Policy("fixed", 3, 3),
        Policy("hpa_queue", 1, 20, 16.0, scale_down_window_s=0.0),  # scales down mid-burst
        Policy("keda_queue", 0, 20, 64.0, cooldown_s=30.0),  # to zero between steps
        Policy("hpa_cpu", 1, 20, 0.5, scale_down_window_s=15.0),
    ],
)
@pytest.mark.parametrize("overlap", [False, True])
def test_every_sample_is_scored_once(model: Policy, overlap: bool) -> None:
    jobs = tuple(
        Job(name=f"j{i}", samples_per_step=2048, steps=4, overlap=overlap) for i in range(3)
    )
    sim = Simulation(Scenario(jobs=jobs).with_tier("model", policy=model)).run()
    for run in sim.jobs:
        assert run.scored == 2048 * 4
        assert len(run.latencies) == 2048 // 16 * 4
        assert len(run.waits) == 4
    for tier in sim.tiers.values():
        assert not tier.queue.waiting
        assert tier.queue.busy == 0


def test_a_cold_model_pod_delays_the_first_step_by_its_start() -> None:
    """KEDA from zero: the first step's rewards wait for a pod's cold start at least."""
    job = Job(samples_per_step=128, tasks=(Task("rm", 1.0),), steps=2)  # 23 s on one pod
    sc = Scenario(jobs=(job,)).with_tier(
        "model", cold_start_s=200.0, policy=Policy("keda_queue", 0, 4, 64.0, cooldown_s=900.0)
    )
    waits = Simulation(sc).run().jobs[0].waits
    assert waits[0] >= 200.0
    assert waits[1] < 30.0  # the pod is warm for the next step


def test_scale_down_waits_out_its_stabilisation_window() -> None:
    job = Job(samples_per_step=4096, tasks=(Task("rm", 1.0),), steps=3, update_s=900.0)
    policy = Policy("hpa_queue", 1, 20, 16.0, scale_down_window_s=600.0)
    sim = Simulation(Scenario(jobs=(job,)).with_tier("model", policy=policy)).run()
    tier = sim.tiers["model"]
    downs = [(t1, r1) for (_, r0), (t1, r1) in itertools.pairwise(tier.replicas) if r1 < r0]
    assert downs
    for t1, r1 in downs:  # down only to the highest recommendation of the last 600 s
        assert r1 == max(1, max(r for t, r in tier.log if t1 - 600.0 <= t <= t1)), tier.log


# ------------------------------------------------------------------ the HPA's arithmetic


@pytest.mark.parametrize(
    ("metric", "target", "current", "expected"),
    [
        (200.0, 100.0, 1, 2),  # Kubernetes' example: 200m used against 100m → double
        (50.0, 100.0, 4, 1),  # 4 pods at half their target → ceil(4 × 0.5 / 1) ... on totals
        (105.0, 100.0, 1, 1),  # within the 10 % tolerance: unchanged
        (330.0, 100.0, 3, 3),  # 1.1 × current: still within
        (340.0, 100.0, 3, 4),
        (0.0, 64.0, 5, 0),  # nothing waiting: as low as the minimum allows
        (1000.0, 64.0, 0, 16),
    ],
)
def test_raw_recommendation(metric: float, target: float, current: int, expected: int) -> None:
    assert raw_recommendation(metric, target, current, 0.1) == expected


@pytest.mark.parametrize(
    ("current", "history", "up", "down", "expected"),
    [
        (2, [(0.0, 5), (15.0, 8)], 0.0, 300.0, 8),  # up at once with no up-window
        (2, [(0.0, 5), (15.0, 8)], 30.0, 300.0, 5),  # the window's lowest
        (8, [(0.0, 8), (15.0, 2)], 0.0, 300.0, 8),  # down only to the window's highest
        (8, [(0.0, 8), (15.0, 2)], 0.0, 10.0, 2),  # the 8 left the window
        (4, [(0.0, 2), (15.0, 6)], 30.0, 30.0, 4),  # between: unchanged
    ],
)
def test_stabilisation_windows(
    current: int, history: list[tuple[float, int]], up: float, down: float, expected: int
) -> None:
    assert stabilised(current, history, 15.0, up, down) == expected


@pytest.mark.parametrize(
    ("current", "wanted", "expected"), [(1, 40, 5), (4, 40, 8), (10, 40, 20), (10, 12, 12)]
)
def test_scale_up_rate_limit(current: int, wanted: int, expected: int) -> None:
    assert rate_limited(current, wanted) == expected


@pytest.mark.parametrize(
    ("metric", "current", "expected"), [(10_000.0, 2, 6), (10_000.0, 8, 12), (0.0, 8, 3)]
)
def test_desired_replicas_clamps_and_limits(metric: float, current: int, expected: int) -> None:
    policy = Policy("hpa_queue", 3, 12, 64.0, scale_down_window_s=0.0)
    assert desired_replicas(policy, current, metric, 1.0, [], 100.0) == expected


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            {
                "minReplicas": 2,
                "maxReplicas": 50,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 75},
                        },
                    }
                ],
            },
            Policy("hpa_cpu", 2, 50, 0.75),
        ),
        (
            {
                "maxReplicas": 8,
                "metrics": [
                    {
                        "type": "External",
                        "external": {
                            "metric": {"name": "raas_model_queue_depth"},
                            "target": {"type": "AverageValue", "averageValue": "64"},
                        },
                    }
                ],
                "behavior": {
                    "scaleUp": {"stabilizationWindowSeconds": 30},
                    "scaleDown": {"stabilizationWindowSeconds": 600},
                },
            },
            Policy("hpa_queue", 1, 8, 64.0, scale_up_window_s=30.0, scale_down_window_s=600.0),
        ),
    ],
)
def test_policy_from_hpa_reads_a_manifest(spec: dict[str, object], expected: Policy) -> None:
    assert policy_from_hpa({"spec": spec}) == expected


def test_the_manifests_model_hpa_is_what_the_fleet_model_recommends() -> None:
    """`k8s/base/model.yaml`'s HPA is the recommendation `bench/fleet_model.py` recorded."""
    docs = yaml.safe_load_all((ROOT / "k8s/base/model.yaml").read_text())
    (hpa,) = [d for d in docs if d and d["kind"] == "HorizontalPodAutoscaler"]
    recorded = json.loads((ROOT / "bench/results/fleet/fleet.json").read_text())
    assert policy_from_hpa(hpa) == Policy(**recorded["recommended"]["model"])


# ------------------------------------------------------------------ inputs


def test_rule_costs_are_read_from_benchmark_results(tmp_path: Path) -> None:
    """Cost per sample = 1 / (loop samples/s × the service's efficiency against the loop)."""
    service = {"loop_samples_per_s": 1000.0, "ratio_service_over_loop_x_cores": 0.5}
    (tmp_path / "math_service_vs_loop.json").write_text(json.dumps(service))
    (tmp_path / "detection_service_vs_loop.json").write_text(
        json.dumps({**service, "loop_samples_per_s": 250.0})
    )
    table = [("math", 1, 1.0, 1.0), ("math", 4, 400.0, 0.5), ("mixed", 16, 100.0, 1.0)]
    rows = [
        {"scenario": s, "trainers": n, "loop_samples_per_s": rate, "ratio_over_loop_x_cores": r}
        for s, n, rate, r in table
    ]
    (tmp_path / "traffic.json").write_text(json.dumps({"rows": [*rows, {"scenario": "bombs"}]}))
    costs = measured_rule_costs(tmp_path)
    assert costs["math"] == pytest.approx(2e-3)
    assert costs["detection"] == pytest.approx(8e-3)
    assert costs["math_cot"] == pytest.approx(5e-3)  # the row with the most trainers
    assert costs["mixed"] == pytest.approx(1e-2)


@pytest.mark.parametrize(
    "bad",
    [
        {"samples_per_step": 100, "group_size": 16},
        {"tasks": (Task("math", 0.5),)},
    ],
)
def test_a_job_that_cannot_be_simulated_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"groups|sum to 1"):
        Job(**bad)  # type: ignore[arg-type]


def test_a_small_fleet_end_to_end() -> None:
    """Three jobs on the manifests' tiers: every job scored, waits and costs coherent."""
    jobs = tuple(Job(name=f"j{i}", samples_per_step=1024, steps=3) for i in range(3))
    result = simulate(Scenario(jobs=jobs, tiers=default_tiers()))
    assert [j["scored"] for j in result["jobs"]] == [3072] * 3
    for job in result["jobs"]:
        assert 0.0 < job["wait_share"] < 1.0
        assert job["wait_p50_s"] <= job["wait_p99_s"]
        assert job["mean_step_s"] >= 360.0
    assert result["tiers"]["model"]["pod_hours"] >= result["hours"] * 1 - 1e-6
    assert result["tiers"]["rules"]["pod_hours"] >= result["hours"] * 2 - 1e-6


# ------------------------------------------------------------------ the recommendation's rules


def react_row(up: float, share: float, minimum: int = 1, cold: float = 150.0) -> dict[str, Any]:
    return {
        "min_replicas": minimum,
        "cold_start_s": cold,
        "scale_up_window_s": up,
        "wait_share_mean": share,
    }


@pytest.mark.parametrize(
    ("react", "downs", "targets", "expected"),
    [
        (  # the least waiting up-window; the shortest down-window within 0.5 points; cheapest
            [react_row(0.0, 0.06), react_row(30.0, 0.07), react_row(0.0, 0.01, minimum=12)],
            [(1, 300.0, 0.35), (1, 600.0, 0.098), (1, 900.0, 0.093), (10, 60.0, 0.0)],
            [(False, 32.0, 0.9), (True, 32.0, 1.0), (False, 64.0, 0.8), (True, 64.0, 1.2)],
            Policy("hpa_queue", 1, 40, 32.0, scale_up_window_s=0.0, scale_down_window_s=600.0),
        ),
        (  # ties go to the shorter window
            [react_row(30.0, 0.05), react_row(0.0, 0.05), react_row(0.0, 0.01, cold=30.0)],
            [(1, 300.0, 0.1), (1, 900.0, 0.1)],
            [(False, 16.0, 0.5), (True, 16.0, 0.5), (False, 64.0, 0.6), (True, 64.0, 0.6)],
            Policy("hpa_queue", 1, 40, 16.0, scale_up_window_s=0.0, scale_down_window_s=300.0),
        ),
    ],
)
def test_the_recommendation_follows_its_rules(
    react: list[dict[str, Any]],
    downs: list[tuple[int, float, float]],
    targets: list[tuple[bool, float, float]],
    expected: Policy,
) -> None:
    from bench.fleet_model import recommend

    down_rows = [{"jobs": j, "scale_down_window_s": d, "wait_share_mean": w} for j, d, w in downs]
    target_rows = [
        {"overlap": o, "target": t, "overhead_gpu_hours_per_step": c} for o, t, c in targets
    ]
    assert recommend(react, down_rows, target_rows) == expected


def test_best_fixed_is_the_cheapest_pod_count_for_the_mode() -> None:
    from bench.fleet_model import best_fixed

    rows = [
        {"jobs": 10, "overlap": False, "pods": 8, "overhead_gpu_hours_per_step": 1.1},
        {"jobs": 10, "overlap": False, "pods": 24, "overhead_gpu_hours_per_step": 0.6},
        {"jobs": 10, "overlap": True, "pods": 10, "overhead_gpu_hours_per_step": 0.2},
        {"jobs": 5, "overlap": False, "pods": 4, "overhead_gpu_hours_per_step": 0.1},
    ]
    assert best_fixed(rows) == 24
    assert best_fixed(rows, overlap=True) == 10
    assert best_fixed(rows, jobs=5) == 4
