"""``raas filter difficulty``: keep the prompts a policy sometimes, but not always, solves.

Input: a ``raas score`` output holding k rollouts per prompt (rows sharing ``--group-by``, the
``prompt`` column by default; ``groups``). Per prompt: the pass rate (rollouts with accuracy ≥
0.5 over its rollouts scored ``ok``) or the mean reward (``--metric mean``); a prompt with no
``ok`` rollout is ``unscored``. ``--band`` ``(0,1)`` keeps 0 < value < 1; brackets close an end:
``[0.125,0.875]``. Below the band is ``too_hard``, above ``too_easy``.

Two presets (``--preset``; ``--band``/``--perception-band`` override either):

- ``raas`` (default): band ``(0,1)`` for every prompt: neither never nor always solved (DAPO's
  dynamic sampling keeps the same groups).
- ``v-triune``: V-Triune's second curation stage (paper, §5.1.1.2). Reasoning prompts: band
  ``[0,1)``, "retaining only samples with 0 ≤ pass@8 < 100%" — a prompt never solved stays.
  Detection and grounding prompts (``--perception-verifiers``: ``raas_verifier`` detection, iou,
  giou): "pass@16 … with a 0.5 IoU threshold, and samples with cumulative IoU rewards between 2
  and 10 are selected": the sum of the rollouts' accuracy (the IoU reward; score them with
  ``iou_threshold: 0.5``) within ``--perception-band`` ``[2,10]`` (the paper does not say
  whether the ends are in; raas keeps both), else ``iou_sum_low``/``iou_sum_high``. The sum is
  not rescaled: it means what V-Triune meant with 16 rollouts per prompt scored at τ = 0.5,
  and a warning says how many perception prompts had another count, or rollouts another τ.

Output: one row per kept prompt (its first rollout's row without the response and ``raas_*``
result columns) or, ``--keep rollouts``, every rollout of the kept prompts; either way with
``raas_pass_rate``, ``raas_reward_mean`` and ``raas_rollouts`` (ok rollouts). Two passes; memory
holds one small record per prompt.
"""

from __future__ import annotations

import argparse
import logging
import re
from dataclasses import dataclass
from typing import Any

from reward_service.offline.groups import (
    PERCEPTION_THRESHOLD,
    Group,
    gather,
    group_key,
    pass_rates,
)
from reward_service.offline.report import write_filter_report
from reward_service.offline.scoring import RESULT_COLUMNS
from reward_service.offline.sinks import open_sink
from reward_service.offline.tables import is_parquet, parquet_schema, read_batches

REASONS = ("too_hard", "too_easy", "iou_sum_low", "iou_sum_high", "unscored")
STATS = ("raas_pass_rate", "raas_reward_mean", "raas_rollouts")
PERCEPTION_VERIFIERS = "detection,iou,giou"
VTRIUNE_ROLLOUTS = 16  # the k of V-Triune's "pass@16" for perception prompts
_BAND = re.compile(r"^\s*([(\[])\s*([-+.\d]+)\s*,\s*([-+.\d]+)\s*([)\]])\s*$")
log = logging.getLogger("raas.offline")


@dataclass(frozen=True)
class Band:
    low: float
    high: float
    low_closed: bool = False
    high_closed: bool = False

    @classmethod
    def parse(cls, text: str) -> Band:
        found = _BAND.match(text)
        if found is None:
            raise ValueError(f"band {text!r}: write it as (0,1) or [0.2,0.8]")
        left, low, high, right = found.groups()
        return cls(float(low), float(high), left == "[", right == "]")

    def verdict(self, value: float) -> str | None:
        if value < self.low or (value == self.low and not self.low_closed):
            return "too_hard"
        if value > self.high or (value == self.high and not self.high_closed):
            return "too_easy"
        return None


@dataclass(frozen=True)
class Preset:
    """A band for pass rates (or mean rewards), and optionally one for perception prompts'
    accuracy sums; the text is as ``--band`` takes it."""

    band: str
    perception_band: str | None


PRESETS = {"raas": Preset("(0,1)", None), "v-triune": Preset("[0,1)", "[2,10]")}


@dataclass(frozen=True)
class Policy:
    band: Band
    metric: str = "pass"
    perception_band: Band | None = None
    perception_verifiers: frozenset[str] = frozenset(PERCEPTION_VERIFIERS.split(","))

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Policy:
        """The preset's bands, each replaced where the command line gives one (``none``: no
        perception rule)."""
        preset = PRESETS[args.preset]
        band = args.band or preset.band
        perception = args.perception_band or preset.perception_band
        verifiers = frozenset(v for v in args.perception_verifiers.split(",") if v)
        try:
            return cls(
                Band.parse(band),
                args.metric,
                None if perception in (None, "none") else Band.parse(perception),
                verifiers,
            )
        except ValueError as exc:
            raise SystemExit(f"raas filter difficulty: {exc}") from None

    def perceives(self, group: Group) -> bool:
        return self.perception_band is not None and group.verifier in self.perception_verifiers


def decide(group: Group, policy: Policy) -> str | None:
    """Why the prompt is dropped, or ``None`` when it is kept."""
    if not group.scored:
        return "unscored"
    if policy.perception_band is not None and policy.perceives(group):
        verdict = policy.perception_band.verdict(group.accuracy_sum)
        return {"too_hard": "iou_sum_low", "too_easy": "iou_sum_high"}.get(verdict or "")
    stats = group.stats()
    value = stats["raas_pass_rate" if policy.metric == "pass" else "raas_reward_mean"]
    return policy.band.verdict(value)


def _warn_unlike_vtriune(groups: dict[bytes, Group], policy: Policy) -> None:
    """Say when perception sums are not V-Triune's: other than 16 rollouts, or rollouts scored
    at an IoU threshold other than 0.5 (``raas_details.threshold``)."""
    perceived = [g for g in groups.values() if policy.perceives(g)]
    if other := sum(g.scored != VTRIUNE_ROLLOUTS for g in perceived):
        log.warning(
            "raas filter difficulty: %d perception prompts have other than %d ok rollouts; "
            "their IoU sums are compared with the band as they are",
            other,
            VTRIUNE_ROLLOUTS,
        )
    if other := sum(g.other_threshold for g in perceived):
        log.warning(
            "raas filter difficulty: %d perception rollouts were scored at an IoU threshold "
            "other than %s (V-Triune's; params iou_threshold)",
            other,
            PERCEPTION_THRESHOLD,
        )


def _schemas(args: argparse.Namespace) -> tuple[Any, Any]:
    """The output's Parquet columns: the input's (less the rollout's own in prompts mode)."""
    if not is_parquet(args.out):
        return None, None
    import pyarrow as pa

    extra = pa.schema(
        [
            ("raas_pass_rate", pa.float64()),
            ("raas_reward_mean", pa.float64()),
            ("raas_rollouts", pa.int64()),
        ]
    )
    base = parquet_schema(args.input)
    if base is not None and args.keep == "prompts":
        dropped = _rollout_columns(args.response_column)
        base = pa.schema([f for f in base if f.name not in dropped])
    return base, extra


def _rollout_columns(response_column: str) -> frozenset[str]:
    """What a prompt row leaves out of its first rollout's row."""
    return frozenset({response_column, *RESULT_COLUMNS})


def run_difficulty(args: argparse.Namespace) -> None:
    policy = Policy.from_args(args)
    groups = gather(args.input, args.group_by)
    verdicts = {key: decide(group, policy) for key, group in groups.items()}
    _warn_unlike_vtriune(groups, policy)
    base, extra = _schemas(args)
    sink = open_sink(args.out, base, extra, fresh=True)
    dropped = _rollout_columns(args.response_column)
    for batch in read_batches(args.input, 0, 1024):
        kept = []
        for row in batch:
            key = group_key(row.get(args.group_by))
            group = groups[key]
            if verdicts[key] is not None or (args.keep == "prompts" and group.written):
                continue
            group.written = True
            out = row
            if args.keep == "prompts":
                out = {key: value for key, value in row.items() if key not in dropped}
            kept.append({**out, **group.stats()})
        sink.write(kept)
    sink.finish()
    if args.report:
        write_filter_report(args.report, "difficulty", _table(groups, verdicts), pass_rates(groups))


def _table(groups: dict[bytes, Group], verdicts: dict[bytes, str | None]) -> list[dict[str, Any]]:
    by_source: dict[str, dict[str, Any]] = {}
    for key, group in groups.items():
        entry = by_source.setdefault(
            group.source,
            {
                "data_source": group.source,
                "prompts": 0,
                "rollouts": 0,
                **dict.fromkeys(REASONS, 0),
                "kept": 0,
            },
        )
        entry["prompts"] += 1
        entry["rollouts"] += group.rollouts
        entry[verdicts[key] or "kept"] += 1
    return [by_source[source] for source in sorted(by_source)]
