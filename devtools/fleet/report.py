"""What a run of the fleet model reports: per job the reward wait per step (p50/p99) and the
share of its training time spent waiting, per tier the pod-hours, for the fleet the worst."""

from __future__ import annotations

from typing import Any

import numpy as np

from devtools.fleet.sim import TIERS, Simulation
from devtools.fleet.spec import Scenario


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else 0.0


def summarise(sim: Simulation) -> dict[str, Any]:
    """A JSON-ready summary of a finished :class:`Simulation`."""
    jobs = []
    for run in sim.jobs:
        span = run.finished - run.started
        jobs.append(
            {
                "name": run.job.name,
                "steps": len(run.waits),
                "scored": run.scored,
                "wait_p50_s": round(percentile(run.waits, 50), 3),
                "wait_p99_s": round(percentile(run.waits, 99), 3),
                "sample_latency_p50_s": round(percentile(run.latencies, 50), 3),
                "sample_latency_p99_s": round(percentile(run.latencies, 99), 3),
                "wait_share": round(sum(run.waits) / span, 4) if span > 0 else 0.0,
                "first_wait_s": round(run.waits[0], 3) if run.waits else 0.0,
                "steady_wait_p99_s": round(percentile(run.waits[1:], 99), 3),
                "mean_step_s": round(span / max(1, len(run.waits)), 2),
            }
        )
    tiers = {
        name: {
            "pod_hours": round(sim.tiers[name].queue.pod_seconds / 3600, 3),
            "max_replicas": max(r for _, r in sim.tiers[name].replicas),
            "busy_slot_hours": round(sim.tiers[name].queue.busy_seconds / 3600, 3),
        }
        for name in TIERS
    }
    waiting_gpu_h = sum(r.job.gpus * sum(r.waits) for r in sim.jobs) / 3600
    job_steps = sum(len(r.waits) for r in sim.jobs)
    return {
        "jobs": jobs,
        "tiers": tiers,
        "wait_share_mean": round(float(np.mean([j["wait_share"] for j in jobs])), 4),
        "wait_p99_worst_s": max(round(percentile(r.waits, 99), 3) for r in sim.jobs),
        "first_wait_max_s": max(float(j["first_wait_s"]) for j in jobs),  # type: ignore[arg-type]
        "steady_wait_p99_worst_s": max(round(percentile(r.waits[1:], 99), 3) for r in sim.jobs),
        "wait_p50_median_s": round(float(np.median([j["wait_p50_s"] for j in jobs])), 3),
        "gpu_pod_hours": tiers["model"]["pod_hours"],
        # trainer GPUs idle waiting plus reward-model GPUs, per job step: what a policy costs
        "overhead_gpu_hours_per_step": round(
            (waiting_gpu_h + tiers["model"]["pod_hours"]) / max(1, job_steps), 4
        ),
        "hours": round(sim.now / 3600, 3),
    }


def simulate(scenario: Scenario) -> dict[str, Any]:
    """Run ``scenario`` and summarise it."""
    return summarise(Simulation(scenario).run())
