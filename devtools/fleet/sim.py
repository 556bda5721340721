"""The fleet model's discrete-event simulation: jobs step (rollout, wait for rewards, update),
their groups pass the router then a rule or model tier, and each tier's autoscaler syncs on its
period against a lagged metric. Deterministic for a scenario (its seed)."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from devtools.fleet.queue import Piece, TierQueue
from devtools.fleet.scaling import desired_replicas
from devtools.fleet.spec import Job, Scenario, TierName

TIERS: tuple[TierName, ...] = ("router", "rules", "model")


@dataclass
class JobRun:
    """A job's progress and what it saw: per step the wait after its rollout ended."""

    job: Job
    step: int = 0
    outstanding: int = 0
    rollout_end: float = 0.0
    rollout_done: bool = False
    started: float = 0.0
    waits: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    scored: int = 0
    finished: float = 0.0


@dataclass
class TierRun:
    """A tier's queue and its autoscaler's memory: recommendations and the metric history."""

    queue: TierQueue
    recs: list[tuple[float, int]] = field(default_factory=list)
    metrics: list[tuple[float, float, float]] = field(default_factory=list)  # t, cores, waiting
    last_busy: float = 0.0
    last_active: float = 0.0
    replicas: list[tuple[float, int]] = field(default_factory=list)
    log: list[tuple[float, int]] = field(default_factory=list)  # every raw recommendation


class Simulation:
    """One run of a :class:`Scenario`; :meth:`run` returns the :class:`Simulation` itself with
    ``jobs`` and ``tiers`` filled in."""

    def __init__(self, scenario: Scenario) -> None:
        self.sc = scenario
        self.rng = np.random.default_rng(scenario.seed)
        self.events: list[tuple[float, int, str, Any]] = []
        self.seq = itertools.count()
        self.jobs = [JobRun(j) for j in scenario.jobs]
        self.tiers: dict[TierName, TierRun] = {}
        for name in TIERS:
            tier = scenario.tiers[name]
            start = tier.policy.min_replicas
            self.tiers[name] = TierRun(TierQueue(tier.slots_per_pod, ready=start))
            self.tiers[name].replicas.append((0.0, start))
        self.now = 0.0

    def push(self, t: float, kind: str, payload: Any) -> None:
        heapq.heappush(self.events, (t, next(self.seq), kind, payload))

    def run(self) -> Simulation:
        for i, job in enumerate(self.sc.jobs):
            period = job.rollout_s + job.update_s
            offset = period * i / len(self.sc.jobs) if self.sc.stagger else 0.0
            self.push(offset, "step", i)
        for name in TIERS:
            if self.sc.tiers[name].policy.kind != "fixed":
                self.push(self.sc.tiers[name].policy.sync_period_s, "sync", name)
        handlers: dict[str, Callable[[Any], None]] = {
            "step": self.on_step,
            "send": self.on_send,
            "rollout_end": self.on_rollout_end,
            "done": self.on_done,
            "ready": self.on_ready,
            "sync": self.on_sync,
        }
        while self.events and not all(r.step >= r.job.steps for r in self.jobs):
            self.now, _, kind, payload = heapq.heappop(self.events)
            for tier in self.tiers.values():
                tier.queue.advance(self.now)
            handlers[kind](payload)
        self.now = max([self.now] + [r.finished for r in self.jobs])  # through the last update
        for tier in self.tiers.values():
            tier.queue.advance(self.now)
        return self

    # ------------------------------------------------------------------ jobs

    def on_step(self, i: int) -> None:
        run, job = self.jobs[i], self.jobs[i].job
        if run.step == 0:
            run.started = self.now
        run.rollout_end, run.rollout_done = self.now + job.rollout_s, False
        pieces = self.make_pieces(i)
        run.outstanding = len(pieces)
        for k, piece in enumerate(pieces):
            sent = (
                self.now + job.rollout_s * (k + 1) / len(pieces) if job.overlap else run.rollout_end
            )
            piece.sent_at = sent
            self.push(sent, "send", piece)
        self.push(run.rollout_end, "rollout_end", i)

    def make_pieces(self, i: int) -> list[Piece]:
        """The step's groups: each group one task (by the job's shares, in a shuffled order),
        its work per tier from the scenario's costs and sampled response lengths."""
        job = self.jobs[i].job
        counts = np.floor(np.array([t.share for t in job.tasks]) * job.groups).astype(int)
        counts[0] += job.groups - counts.sum()
        order = self.rng.permutation(np.repeat(np.arange(len(job.tasks)), counts))
        mu = np.log(job.response_tokens) - job.response_sigma**2 / 2
        lengths = self.rng.lognormal(mu, job.response_sigma, size=(job.groups, job.group_size))
        tokens = lengths.sum(axis=1) + job.prompt_tokens * job.group_size
        router = job.group_size * self.sc.router_cpu_s
        pieces = []
        for g, t in enumerate(order):
            name = job.tasks[t].verifier
            if name == "rm":
                work = ("model", float(tokens[g]) / self.sc.gpu_tokens_per_s)
            else:
                work = ("rules", job.group_size * self.sc.rule_cpu_s[name])
            pieces.append(
                Piece(i, self.jobs[i].step, job.group_size, [("router", router), work], 0)
            )
        return pieces

    def on_rollout_end(self, i: int) -> None:
        run = self.jobs[i]
        run.rollout_done = True
        if run.outstanding == 0:
            self.finish_step(i)

    def finish_step(self, i: int) -> None:
        run = self.jobs[i]
        run.waits.append(self.now - run.rollout_end)
        run.step += 1
        if run.step < run.job.steps:
            self.push(self.now + run.job.update_s, "step", i)
        else:
            run.finished = self.now + run.job.update_s

    # ------------------------------------------------------------------ tiers

    def on_send(self, piece: Piece) -> None:
        self.enter(piece)

    def enter(self, piece: Piece) -> None:
        name: TierName = piece.work[piece.stage][0]  # type: ignore[assignment]
        self.tiers[name].queue.enqueue(piece)
        self.dispatch(name)

    def dispatch(self, name: TierName) -> None:
        queue = self.tiers[name].queue
        while (piece := queue.start_next()) is not None:
            self.push(self.now + piece.work[piece.stage][1], "done", piece)

    def on_done(self, piece: Piece) -> None:
        name: TierName = piece.work[piece.stage][0]  # type: ignore[assignment]
        self.tiers[name].queue.busy -= 1
        self.tiers[name].last_active = self.now
        self.dispatch(name)
        piece.stage += 1
        if piece.stage < len(piece.work):
            self.enter(piece)
            return
        run = self.jobs[piece.job]
        run.scored += piece.samples
        run.latencies.append(self.now - piece.sent_at)
        run.outstanding -= 1
        if run.outstanding == 0 and run.rollout_done:
            self.finish_step(piece.job)

    def on_ready(self, name: TierName) -> None:
        self.tiers[name].queue.pod_ready(self.now)
        self.dispatch(name)

    def on_sync(self, name: TierName) -> None:
        tier, spec = self.tiers[name], self.sc.tiers[name]
        policy, queue = spec.policy, tier.queue
        window = policy.sync_period_s
        cores = (queue.busy_seconds - tier.last_busy) / window
        tier.last_busy = queue.busy_seconds
        tier.metrics.append((self.now, cores, float(queue.waiting_samples)))
        seen = [m for m in tier.metrics if m[0] <= self.now - policy.metric_lag_s + 1e-9]
        _, cores_seen, waiting_seen = seen[-1] if seen else (0.0, 0.0, 0.0)
        if queue.waiting_samples or queue.busy:
            tier.last_active = self.now
        current = queue.replicas
        if policy.kind == "hpa_cpu":
            metric, per_pod = cores_seen, float(spec.slots_per_pod)
        else:
            metric, per_pod = waiting_seen, 1.0
        wanted = (
            self.keda(name, current, waiting_seen)
            if current == 0
            else desired_replicas(policy, current, metric, per_pod, tier.recs, self.now)
        )
        if tier.recs and tier.recs[-1][0] == self.now:
            tier.log.append(tier.recs[-1])
        idle = self.now - tier.last_active >= policy.cooldown_s
        if policy.kind == "keda_queue" and policy.min_replicas == 0 and current > 0 and idle:
            wanted = 0
        if wanted != current:
            for t in queue.scale_to(wanted, self.now, spec.cold_start_s):
                self.push(t, "ready", name)
            tier.replicas.append((self.now, wanted))
            self.dispatch(name)
        self.push(self.now + policy.sync_period_s, "sync", name)

    def keda(self, name: TierName, current: int, waiting: float) -> int:
        """KEDA's activation from zero: one pod at the first polling tick that sees work."""
        policy = self.sc.tiers[name].policy
        on_poll = (
            round(self.now / policy.sync_period_s)
            % max(1, round(policy.polling_s / policy.sync_period_s))
            == 0
        )
        return 1 if on_poll and waiting > 0 else current
