"""The fleet capacity model's scenarios (issue 24): a 1,000-GPU cluster running 10 concurrent
RL jobs against one raas fleet. Answers how many model-worker pods the jobs need, how fast
autoscaling must react to the burst at the end of each rollout, what a cold model pod costs, and
what pre-warmed minimum replicas and overlapping rewards with generation are worth.

    python bench/fleet_model.py            # → bench/results/fleet/fleet.json and *.png

The model and its assumptions: ``devtools/fleet`` and README, "Deployment" (Fleet capacity).
Each scenario is a discrete-event simulation (about a second of CPU for 10 jobs × 12 steps).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devtools.fleet import Job, Policy, Scenario, Task, policy_from_hpa, simulate  # noqa: E402
from devtools.fleet.plots import plot_all  # noqa: E402

OUT = ROOT / "bench" / "results" / "fleet"
JOBS = 10
REWARD_GPUS = 1000 - JOBS * 96  # what the cluster has left for reward models: 40
POD_COUNTS = [4, 6, 8, 10, 12, 14, 16, 20, 24, 32, 40]
# k8s/base/model.yaml's HPA before this model set it (issue 24)
BEFORE = Policy("hpa_queue", 1, 8, 64.0, scale_up_window_s=30.0, scale_down_window_s=600.0)
# the target sweep's policy: up at once, held 15 minutes, up to the cluster's reward GPUs
BASE = Policy("hpa_queue", 1, REWARD_GPUS, 64.0, scale_up_window_s=0.0, scale_down_window_s=900.0)


def manifest_policy(file: str) -> Any:
    """The HPA policy `k8s/base/<file>` ships."""
    docs = yaml.safe_load_all((ROOT / "k8s" / "base" / file).read_text())
    (hpa,) = [d for d in docs if d and d["kind"] == "HorizontalPodAutoscaler"]
    return policy_from_hpa(hpa)


def cluster(jobs: int = JOBS, overlap: bool = False, **job: Any) -> Scenario:
    """``jobs`` copies of the stated job shape (names differ), staggered over one step; the
    router and rule tiers scaled as `k8s/base` scales them."""
    shape = Job(overlap=overlap, **job)
    base = Scenario(
        jobs=tuple(
            Job(**{**asdict(shape), "name": f"job{i}", "tasks": shape.tasks}) for i in range(jobs)
        )
    )
    for tier, file in (("router", "router.yaml"), ("rules", "rules.yaml")):
        base = base.with_tier(tier, policy=manifest_policy(file))  # type: ignore[arg-type]
    # the model tier starts from the HPA it had before this model, not from the manifest the
    # model's recommendation is written into (the runs would otherwise depend on their output)
    return base.with_tier("model", policy=BEFORE)


def fixed(sc: Scenario, pods: int) -> Scenario:
    return sc.with_policy("model", kind="fixed", min_replicas=pods, max_replicas=pods)


def row(label: str, sc: Scenario, **extra: Any) -> dict[str, Any]:
    result = simulate(sc)
    keep = (
        "wait_share_mean",
        "wait_p50_median_s",
        "wait_p99_worst_s",
        "steady_wait_p99_worst_s",
        "first_wait_max_s",
        "gpu_pod_hours",
        "overhead_gpu_hours_per_step",
        "hours",
    )
    out = {"label": label, **extra, **{k: result[k] for k in keep}}
    out["model_max_replicas"] = result["tiers"]["model"]["max_replicas"]
    out["rules_pod_hours"] = result["tiers"]["rules"]["pod_hours"]
    print(json.dumps(out))
    return out


def pods_for_jobs() -> list[dict[str, Any]]:
    """Fixed model pods against concurrent jobs: the wait, and the GPU-hours it costs."""
    rows = []
    for jobs in (1, 5, 10, 20):
        for overlap in (False, True):
            for pods in POD_COUNTS:
                if pods > max(16, 4 * jobs + 4):
                    continue
                sc = fixed(cluster(jobs, overlap), pods)
                rows.append(row("fixed", sc, jobs=jobs, overlap=overlap, pods=pods))
    return rows


def policies(best: int, best_overlap: int, recommended: Policy) -> list[dict[str, Any]]:
    """The autoscaling policies side by side for 10 jobs, rewards after the rollout and
    overlapped with it."""
    variants: dict[str, Callable[[Scenario], Scenario]] = {
        "manifest before: HPA queue 64, 1-8, up 30 s, down 600 s": lambda s: s.with_tier(
            "model", policy=BEFORE
        ),
        f"fixed {best} (cost optimum, after)": lambda s: fixed(s, best),
        f"fixed {best_overlap} (cost optimum, overlapped)": lambda s: fixed(s, best_overlap),
        "HPA queue 64, 1-40, up 0 s, down 300 s": lambda s: s.with_policy(
            "model", max_replicas=REWARD_GPUS, scale_up_window_s=0.0, scale_down_window_s=300.0
        ),
        "KEDA queue 64, 0-40, poll 30 s, cooldown 300 s": lambda s: s.with_policy(
            "model",
            kind="keda_queue",
            min_replicas=0,
            max_replicas=REWARD_GPUS,
            scale_up_window_s=0.0,
            scale_down_window_s=300.0,
        ),
        "recommended: " + describe(recommended): lambda s: s.with_tier("model", policy=recommended),
    }
    return [
        row(label, make(cluster(JOBS, overlap)), overlap=overlap)
        for overlap in (False, True)
        for label, make in variants.items()
    ]


def describe(p: Policy) -> str:
    return (
        f"HPA queue {p.target:g}, {p.min_replicas}-{p.max_replicas}, "
        f"up {p.scale_up_window_s:g} s, down {p.scale_down_window_s:g} s"
    )


def reaction(best: int) -> list[dict[str, Any]]:
    """How fast scaling must react: an HPA on queue depth (up to 40 pods) from one pod, or from
    ``best // 2`` pre-warmed, its model pods' cold start and its scale-up window varied."""
    rows = []
    for minimum in (1, best // 2):
        for cold in (30.0, 150.0, 300.0, 600.0):
            for up in (0.0, 30.0, 120.0):
                sc = (
                    cluster()
                    .with_policy(
                        "model",
                        min_replicas=minimum,
                        max_replicas=REWARD_GPUS,
                        scale_up_window_s=up,
                    )
                    .with_tier("model", cold_start_s=cold)
                )
                rows.append(
                    row(
                        "hpa_queue",
                        sc,
                        min_replicas=minimum,
                        cold_start_s=cold,
                        scale_up_window_s=up,
                    )
                )
    return rows


def windows() -> list[dict[str, Any]]:
    """The cost of a cold model pod: scale-down windows shorter than a job's step period let
    the pods go between its bursts, and each burst then waits for cold pods."""
    return [
        row(
            "hpa_queue",
            cluster(jobs).with_policy(
                "model", max_replicas=REWARD_GPUS, scale_up_window_s=0.0, scale_down_window_s=down
            ),
            jobs=jobs,
            scale_down_window_s=down,
        )
        for jobs in (1, JOBS)
        for down in (60.0, 300.0, 600.0, 900.0)
    ]


def targets() -> list[dict[str, Any]]:
    """The queue-depth target (samples waiting per pod): a backlog the HPA keeps on purpose,
    which overlapped rewards wait behind."""
    return [
        row(
            "hpa_queue",
            cluster(JOBS, overlap).with_tier("model", policy=BASE.with_(target=t)),
            overlap=overlap,
            target=t,
        )
        for overlap in (False, True)
        for t in (8.0, 16.0, 32.0, 64.0, 128.0)
    ]


def router() -> list[dict[str, Any]]:
    """Where the router's CPU per sample matters: 10 jobs of cheap samples (multiple choice,
    65,536 a step, 20 s rollouts, 10 s updates) through the manifests' 2 router pods, at
    today's 24 µs and issue 24's 8 µs a sample, with 1 or 4 router processes a pod."""
    shape: dict[str, Any] = {
        "samples_per_step": 65_536,
        "group_size": 64,
        "rollout_s": 20.0,
        "update_s": 10.0,
        "tasks": (Task("choice", 1.0),),
        "steps": 6,
    }
    return [
        row(
            "router",
            cluster(JOBS, **shape)
            .with_(router_cpu_s=us * 1e-6)
            .with_tier("router", slots_per_pod=procs, policy=Policy("fixed", 2, 2)),
            router_us=us,
            router_processes_per_pod=procs,
        )
        for procs in (1, 4)
        for us in (24.0, 8.0)
    ]


def best_fixed(rows: list[dict[str, Any]], jobs: int = JOBS, overlap: bool = False) -> int:
    """The pod count with the fewest overhead GPU-hours per step (idle trainers + reward GPUs)."""
    mine = [r for r in rows if r["jobs"] == jobs and r["overlap"] == overlap]
    return int(min(mine, key=lambda r: r["overhead_gpu_hours_per_step"])["pods"])


def recommend(
    react: list[dict[str, Any]], downs: list[dict[str, Any]], tgts: list[dict[str, Any]]
) -> Policy:
    """The model tier's HPA from the runs: the scale-up window with the least waiting (cold
    start 150 s, one pod pre-warmed); the shortest scale-down window whose single job waits
    within half a point of the best; the queue-depth target with the fewest overhead GPU-hours
    averaged over rewards after and overlapped; the cluster's reward-GPU budget as ceiling."""
    mine = [r for r in react if r["min_replicas"] == 1 and r["cold_start_s"] == 150.0]
    up = min(mine, key=lambda r: (r["wait_share_mean"], r["scale_up_window_s"]))
    single = [r for r in downs if r["jobs"] == 1]
    floor = min(r["wait_share_mean"] for r in single)
    down = min(r["scale_down_window_s"] for r in single if r["wait_share_mean"] <= floor + 0.005)

    def cost(t: float) -> float:
        return float(sum(r["overhead_gpu_hours_per_step"] for r in tgts if r["target"] == t))

    target = min({r["target"] for r in tgts}, key=cost)
    return Policy(
        "hpa_queue",
        1,
        REWARD_GPUS,
        target,
        scale_up_window_s=up["scale_up_window_s"],
        scale_down_window_s=down,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    sizing = pods_for_jobs()
    best, best_overlap = best_fixed(sizing), best_fixed(sizing, overlap=True)
    react, downs, tgts = reaction(best), windows(), targets()
    recommended = recommend(react, downs, tgts)
    result = {
        "benchmark": "fleet capacity model: 10 RL jobs on a 1,000-GPU cluster",
        "job_shape": {k: v for k, v in asdict(Job()).items() if k not in ("name", "overlap")},
        "scenario": {k: v for k, v in asdict(Scenario()).items() if k not in ("jobs", "tiers")},
        "manifest_policies": {
            f: asdict(manifest_policy(f)) for f in ("router.yaml", "rules.yaml", "model.yaml")
        },
        "best_fixed_pods_10_jobs": best,
        "reward_gpus": REWARD_GPUS,
        "pods_for_jobs": sizing,
        "recommended": {"model": asdict(recommended)},
        "best_fixed_pods_10_jobs_overlapped": best_overlap,
        "policies": policies(best, best_overlap, recommended),
        "reaction": react,
        "scale_down_windows": downs,
        "queue_targets": tgts,
        "router": router(),
    }
    (args.out / "fleet.json").write_text(json.dumps(result, indent=1) + "\n")
    plot_all(result, args.out)


if __name__ == "__main__":
    main()
