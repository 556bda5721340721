"""Rollouts gathered per prompt: what ``raas filter difficulty`` decides on and ``raas report``
plots.

Its own module so that the report and the difficulty filter both import it and neither imports
the other (the report used to import ``difficulty``, which imports the report's writer).

A prompt is the value of its ``--group-by`` column (any JSON value, compared by a 16-byte hash).
Rollouts not scored ``ok`` count for nothing (a grader that failed says nothing about
difficulty); among the ``ok`` ones a prompt counts passes (accuracy ≥ 0.5 — the reward when a
verifier reports no accuracy), the reward sum and the accuracy sum (V-Triune's perception rule
sums the IoU reward, i.e. the detection verifier's accuracy, over a prompt's rollouts).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from reward_service.offline.tables import Row, json_default, read_batches

PERCEPTION_THRESHOLD = 0.5  # V-Triune's IoU threshold for its perception pass@16


@dataclass
class Group:
    source: str
    verifier: str | None = None  # the first ok rollout's ``raas_verifier``
    rollouts: int = 0
    scored: int = 0
    passes: int = 0
    reward_sum: float = 0.0
    accuracy_sum: float = 0.0
    other_threshold: int = 0  # ok rollouts whose IoU threshold (``raas_details``) was not 0.5
    written: bool = False

    def add(self, row: Row) -> None:
        self.rollouts += 1
        accuracy = accuracy_of(row)
        if accuracy is None:
            return
        if self.verifier is None and row.get("raas_verifier") is not None:
            self.verifier = str(row["raas_verifier"])
        self.scored += 1
        self.passes += accuracy >= 0.5
        self.reward_sum += float(row["raas_reward"])
        self.accuracy_sum += accuracy
        threshold = details(row).get("threshold")
        self.other_threshold += threshold is not None and threshold != PERCEPTION_THRESHOLD

    def stats(self) -> dict[str, Any]:
        if not self.scored:
            return {"raas_pass_rate": None, "raas_reward_mean": None, "raas_rollouts": 0}
        return {
            "raas_pass_rate": self.passes / self.scored,
            "raas_reward_mean": self.reward_sum / self.scored,
            "raas_rollouts": self.scored,
        }


def group_key(value: Any) -> bytes:
    text = orjson.dumps(value, default=json_default, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(text, digest_size=16).digest()


def _object(row: Row, column: str) -> dict[str, Any]:
    value = row.get(column)
    if isinstance(value, str):
        value = orjson.loads(value)
    return value if isinstance(value, dict) else {}


def components(row: Row) -> dict[str, Any]:
    return _object(row, "raas_components")


def details(row: Row) -> dict[str, Any]:
    return _object(row, "raas_details")


def accuracy_of(row: Row) -> float | None:
    """An ``ok`` rollout's accuracy (its reward when the verifier reports none); else ``None``."""
    reward = row.get("raas_reward")
    if row.get("raas_status") != "ok" or reward is None:
        return None
    accuracy = components(row).get("accuracy")
    return float(reward if accuracy is None else accuracy)


def passed(row: Row) -> bool | None:
    """Whether an ``ok`` rollout is correct (accuracy ≥ 0.5); ``None`` when not ``ok``."""
    accuracy = accuracy_of(row)
    return None if accuracy is None else accuracy >= 0.5


def gather(source: Path, group_by: str) -> dict[bytes, Group]:
    groups: dict[bytes, Group] = {}
    for batch in read_batches(source, 0, 1024):
        for row in batch:
            if "raas_status" not in row:
                raise ValueError(f"{source}: no raas_status column; run raas score first")
            key = group_key(row.get(group_by))
            groups.setdefault(key, Group(str(row.get("data_source") or "default"))).add(row)
    return groups


def pass_rates(groups: dict[bytes, Group]) -> dict[str, list[float]]:
    rates: dict[str, list[float]] = {}
    for group in groups.values():
        if group.scored:
            rates.setdefault(group.source, []).append(group.passes / group.scored)
    return rates
