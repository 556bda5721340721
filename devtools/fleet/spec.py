"""The fleet model's inputs: jobs, verifiers, tiers and a scenario, each a frozen dataclass with
documented defaults. Per-sample costs of rule verifiers come from raas's own benchmarks
(``bench/results/*.json``, read by :func:`measured_rule_costs`); the GPU reward model's tokens/s
is an assumption until a GPU run measures it (none has: README, "Reward models")."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from devtools.fleet.scaling import Policy

TierName = Literal["router", "rules", "model"]
RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"

# Rule verifiers' CPU seconds per sample on one core of a rule worker: the in-process loop's
# rate on this 2-core machine (one process) divided into the service's efficiency against that
# loop (service samples/s ÷ (loop × cores)), both from the file named. `choice` and `iou` are
# issue 24's measurement of the pool children's CPU (4,096-sample batches), not a results file.
RULE_SOURCES: dict[str, tuple[str, str, str]] = {
    # verifier: (file, loop samples/s key, efficiency key)
    "math": ("math_service_vs_loop.json", "loop_samples_per_s", "ratio_service_over_loop_x_cores"),
    "detection": (
        "detection_service_vs_loop.json",
        "loop_samples_per_s",
        "ratio_service_over_loop_x_cores",
    ),
}
TRAFFIC_ROWS = {"math_cot": "math", "mixed": "mixed"}  # traffic.json, the most-trainers row
ISSUE_CHILD_CPU_S = {"choice": 22e-6, "iou": 62e-6}


def measured_rule_costs(results: Path = RESULTS) -> dict[str, float]:
    """CPU seconds per sample per rule verifier, from the benchmark results in ``results``."""
    costs = dict(ISSUE_CHILD_CPU_S)
    for name, (file, rate, ratio) in RULE_SOURCES.items():
        data = json.loads((results / file).read_text())
        costs[name] = 1.0 / (float(data[rate]) * float(data[ratio]))
    rows = json.loads((results / "traffic.json").read_text())["rows"]
    for name, scenario in TRAFFIC_ROWS.items():
        mine = [r for r in rows if r.get("scenario") == scenario and "trainers" in r]
        row = max(mine, key=lambda r: int(r["trainers"]))
        costs[name] = 1.0 / (
            float(row["loop_samples_per_s"]) * float(row["ratio_over_loop_x_cores"])
        )
    return costs


@dataclass(frozen=True)
class Task:
    """A share of a job's samples scored by one verifier; ``verifier`` is a rule verifier's
    name or ``"rm"`` (a GPU reward model reading prompt + response tokens)."""

    verifier: str
    share: float


@dataclass(frozen=True)
class Job:
    """One RL job (GRPO/DAPO-like). Each step generates for ``rollout_s``, waits for its last
    reward, then updates for ``update_s``. ``samples_per_step`` = prompts × ``group_size``; a
    group is the unit raas scores together (one piece). ``overlap``: groups are sent as they
    finish, evenly through the rollout (raas-train's overlap; the burst then spreads), else all
    at the rollout's end. Response lengths are log-normal with ``response_tokens`` mean.
    ``gpus``: the GPUs the job holds (idle while it waits for rewards)."""

    name: str = "job"
    gpus: int = 96
    rollout_s: float = 240.0
    update_s: float = 120.0
    samples_per_step: int = 8192
    group_size: int = 16
    prompt_tokens: int = 500
    response_tokens: float = 4000.0
    response_sigma: float = 0.6
    tasks: tuple[Task, ...] = (
        Task("math", 0.5),
        Task("detection", 0.2),
        Task("choice", 0.1),
        Task("rm", 0.2),
    )
    overlap: bool = False
    steps: int = 12

    def __post_init__(self) -> None:
        if self.samples_per_step % self.group_size:
            raise ValueError("samples_per_step must be a whole number of groups")
        if abs(sum(t.share for t in self.tasks) - 1.0) > 1e-9:
            raise ValueError(f"task shares must sum to 1: {self.tasks}")

    @property
    def groups(self) -> int:
        return self.samples_per_step // self.group_size


@dataclass(frozen=True)
class Tier:
    """A pool of pods: ``slots_per_pod`` pieces served at once per pod (a rule pod's pool
    children, a router's processes, 1 for a GPU pod whose batcher runs one piece stream),
    ``cold_start_s`` from the scaling decision to a ready pod (scheduling, image pull, start,
    model load), scaled by ``policy``."""

    name: TierName
    policy: Policy
    slots_per_pod: int = 1
    cold_start_s: float = 30.0
    gpu: bool = False


def default_tiers() -> dict[TierName, Tier]:
    """The tiers as `k8s/base` deploys them (router 1 process a pod, rule pods 4 cores)."""
    return {
        "router": Tier("router", Policy("hpa_cpu", 2, 10, 0.70), 1, 20.0),
        "rules": Tier("rules", Policy("hpa_cpu", 2, 50, 0.75), 4, 30.0),
        "model": Tier(
            "model",
            Policy("hpa_queue", 1, 8, 64.0, scale_up_window_s=30.0, scale_down_window_s=600.0),
            1,
            150.0,
            gpu=True,
        ),
    }


@dataclass(frozen=True)
class Scenario:
    """Jobs sharing one raas fleet. ``gpu_tokens_per_s``: one model pod's scoring throughput
    (prompt + response tokens/s of a 7B Bradley-Terry model on one H100 in bfloat16 with
    dynamic batching: an assumption, ~2 × 7e9 FLOP a token at ~35 % of 989 TFLOP/s).
    ``router_cpu_s``: router CPU per sample (24 µs: the first measurement; 15.5 µs since).
    ``stagger``: jobs start spread over one step (``True``) or all at once."""

    jobs: tuple[Job, ...] = (Job(),)
    tiers: Mapping[TierName, Tier] = field(default_factory=default_tiers)
    rule_cpu_s: Mapping[str, float] = field(default_factory=measured_rule_costs)
    gpu_tokens_per_s: float = 25_000.0
    router_cpu_s: float = 24e-6
    stagger: bool = True
    seed: int = 0

    def with_(self, **changes: Any) -> Scenario:
        return replace(self, **changes)

    def with_tier(self, name: TierName, **changes: Any) -> Scenario:
        tiers = dict(self.tiers)
        tiers[name] = replace(tiers[name], **changes)
        return replace(self, tiers=tiers)

    def with_policy(self, name: TierName, **changes: Any) -> Scenario:
        return self.with_tier(name, policy=self.tiers[name].policy.with_(**changes))
