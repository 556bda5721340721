"""A capacity model of a shared raas fleet serving concurrent RL jobs (issue 24): how many
model-worker pods N jobs need, how fast autoscaling must react to the burst at the end of each
rollout, what a cold model pod costs. ``bench/fleet_model.py`` runs the scenarios; README,
"Deployment", states the assumptions."""

from __future__ import annotations

from devtools.fleet.report import simulate, summarise
from devtools.fleet.scaling import Policy, desired_replicas, policy_from_hpa
from devtools.fleet.sim import Simulation
from devtools.fleet.spec import Job, Scenario, Task, Tier, default_tiers, measured_rule_costs

__all__ = [
    "Job",
    "Policy",
    "Scenario",
    "Simulation",
    "Task",
    "Tier",
    "default_tiers",
    "desired_replicas",
    "measured_rule_costs",
    "policy_from_hpa",
    "simulate",
    "summarise",
]
