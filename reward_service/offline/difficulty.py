"""``raas filter difficulty``: keep the prompts a policy sometimes, but not always, solves.

Input: a ``raas score`` output holding k rollouts per prompt (rows sharing ``--group-by``, the
``prompt`` column by default; any JSON value, compared by a 16-byte hash). Per prompt: the pass
rate (rollouts with accuracy ≥ 0.5 — the reward when a verifier reports no accuracy — over its
rollouts scored ``ok``) or the mean reward; rollouts not ``ok`` count for neither (a grader that
failed says nothing about difficulty), and a prompt with none is ``unscored``. ``--band``
``(0,1)`` keeps 0 < value < 1 (V-Triune's and DAPO's "neither always nor never solved");
brackets close an end: ``[0.125,0.875]``. Below the band is ``too_hard``, above ``too_easy``.

Output: one row per kept prompt (its first rollout's row without the response and ``raas_*``
result columns) or, ``--keep rollouts``, every rollout of the kept prompts; either way with
``raas_pass_rate``, ``raas_reward_mean`` and ``raas_rollouts`` (ok rollouts). Two passes; memory
holds one small record per prompt.
"""

from __future__ import annotations

import argparse
import hashlib
import re
from dataclasses import dataclass
from typing import Any

import orjson

from reward_service.offline.report import write_filter_report
from reward_service.offline.scoring import RESULT_COLUMNS
from reward_service.offline.sinks import open_sink
from reward_service.offline.tables import (
    Row,
    is_parquet,
    json_default,
    parquet_schema,
    read_batches,
)

REASONS = ("too_hard", "too_easy", "unscored")
STATS = ("raas_pass_rate", "raas_reward_mean", "raas_rollouts")
_BAND = re.compile(r"^\s*([(\[])\s*([-+.\d]+)\s*,\s*([-+.\d]+)\s*([)\]])\s*$")


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
            raise ValueError(f"--band {text!r}: write it as (0,1) or [0.2,0.8]")
        left, low, high, right = found.groups()
        return cls(float(low), float(high), left == "[", right == "]")

    def verdict(self, value: float) -> str | None:
        if value < self.low or (value == self.low and not self.low_closed):
            return "too_hard"
        if value > self.high or (value == self.high and not self.high_closed):
            return "too_easy"
        return None


@dataclass
class Group:
    source: str
    rollouts: int = 0
    scored: int = 0
    passes: int = 0
    reward_sum: float = 0.0
    written: bool = False

    def stats(self) -> dict[str, Any]:
        if not self.scored:
            return {"raas_pass_rate": None, "raas_reward_mean": None, "raas_rollouts": 0}
        return {
            "raas_pass_rate": self.passes / self.scored,
            "raas_reward_mean": self.reward_sum / self.scored, "raas_rollouts": self.scored,
        }  # fmt: skip


def group_key(value: Any) -> bytes:
    text = orjson.dumps(value, default=json_default, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(text, digest_size=16).digest()


def components(row: Row) -> dict[str, Any]:
    value = row.get("raas_components")
    if isinstance(value, str):
        value = orjson.loads(value)
    return value if isinstance(value, dict) else {}


def passed(row: Row) -> bool | None:
    """Whether an ``ok`` rollout is correct (accuracy ≥ 0.5); ``None`` when not ``ok``."""
    reward = row.get("raas_reward")
    if row.get("raas_status") != "ok" or reward is None:
        return None
    accuracy = components(row).get("accuracy")
    return float(reward if accuracy is None else accuracy) >= 0.5


def gather(source: Any, group_by: str) -> dict[bytes, Group]:
    groups: dict[bytes, Group] = {}
    for batch in read_batches(source, 0, 1024):
        for row in batch:
            if "raas_status" not in row:
                raise ValueError(f"{source}: no raas_status column; run raas score first")
            key = group_key(row.get(group_by))
            group = groups.setdefault(key, Group(str(row.get("data_source") or "default")))
            group.rollouts += 1
            if (verdict := passed(row)) is not None:
                group.scored += 1
                group.passes += verdict
                group.reward_sum += float(row["raas_reward"])
    return groups


def decide(group: Group, metric: str, band: Band) -> str | None:
    stats = group.stats()
    value = stats["raas_pass_rate" if metric == "pass" else "raas_reward_mean"]
    return "unscored" if value is None else band.verdict(value)


def _schemas(args: argparse.Namespace) -> tuple[Any, Any]:
    """The output's Parquet columns: the input's (less the rollout's own in prompts mode)."""
    if not is_parquet(args.out):
        return None, None
    import pyarrow as pa

    extra = pa.schema([
        ("raas_pass_rate", pa.float64()), ("raas_reward_mean", pa.float64()),
        ("raas_rollouts", pa.int64()),
    ])  # fmt: skip
    base = parquet_schema(args.input)
    if base is not None and args.keep == "prompts":
        dropped = _rollout_columns(args.response_column)
        base = pa.schema([f for f in base if f.name not in dropped])
    return base, extra


def _rollout_columns(response_column: str) -> frozenset[str]:
    """What a prompt row leaves out of its first rollout's row."""
    return frozenset({response_column, *RESULT_COLUMNS})


def run_difficulty(args: argparse.Namespace) -> None:
    band = Band.parse(args.band)
    groups = gather(args.input, args.group_by)
    verdicts = {key: decide(group, args.metric, band) for key, group in groups.items()}
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
        entry = by_source.setdefault(group.source, {
            "data_source": group.source, "prompts": 0, "rollouts": 0,
            **dict.fromkeys(REASONS, 0), "kept": 0,
        })  # fmt: skip
        entry["prompts"] += 1
        entry["rollouts"] += group.rollouts
        entry[verdicts[key] or "kept"] += 1
    return [by_source[source] for source in sorted(by_source)]


def pass_rates(groups: dict[bytes, Group]) -> dict[str, list[float]]:
    rates: dict[str, list[float]] = {}
    for group in groups.values():
        if group.scored:
            rates.setdefault(group.source, []).append(group.passes / group.scored)
    return rates
