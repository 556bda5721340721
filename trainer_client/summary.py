"""The per-source summary raas sends with each answer, merged over the pieces of a batch and
flattened into the scalars a trainer logs.

raas gives every mean with its count (``n``), so a batch split into pieces merges exactly: each
mean is Σ mean·n / Σ n over the pieces. An answer without ``n`` (an older raas) is weighted by
the source's sample count, which is exact for the response length and close for the rest.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from trainer_client.shapes import MEANS, PERCEPTION_MEANS

# a ``summary.by_source``: each source's ``trainer_client.shapes.SourceSummary`` as raas sends it,
# or as :func:`merge` pools them (``reflection_mode`` ``None`` where the pieces' modes differ;
# fields an older raas did not send ``None``), hence not typed as the TypedDict
BySource = dict[str, dict[str, Any]]

# flattened scalar name → where it is read
_SCALARS = {
    "reward": ("reward_mean",),
    "accuracy": ("component_means", "accuracy"),
    "format": ("component_means", "format"),
    "response_length": ("response_length_mean",),
    "response_tokens": ("response_tokens_mean",),
    "response_length_correct": ("response_length_correct_mean",),
    "response_length_incorrect": ("response_length_incorrect_mean",),
    "response_tokens_correct": ("response_tokens_correct_mean",),
    "response_tokens_incorrect": ("response_tokens_incorrect_mean",),
    "truncated_ratio": ("truncated_ratio",),
    "reflection_ratio": ("reflection_ratio",),
    "reflection_ratio_correct": ("reflection_ratio_correct",),
    "reflection_ratio_incorrect": ("reflection_ratio_incorrect",),
    "correct_ratio_reflecting": ("correct_ratio_reflecting",),
    "correct_ratio_not_reflecting": ("correct_ratio_not_reflecting",),
    **{key: ("perception", name) for name, key in PERCEPTION_MEANS.items()},
}


class _Pooled:
    """Σ value·n and Σ n for each mean of one source."""

    def __init__(self) -> None:
        self.count = 0
        self.status: dict[str, int] = {}
        self.modes: set[str] = set()  # reflection modes of the pieces (one, for one batch)
        self.sums: dict[str, list[float]] = {}  # key → [Σ value·n, Σ n]

    def add(self, summary: Mapping[str, Any]) -> None:
        count = int(summary.get("count", 0))
        self.count += count
        for status, k in (summary.get("status_counts") or {}).items():
            self.status[status] = self.status.get(status, 0) + int(k)
        if isinstance(mode := summary.get("reflection_mode"), str):
            self.modes.add(mode)
        n: Mapping[str, int] = summary.get("n") or {}
        self._mean("length", summary.get("response_length_mean"), count)
        for name, key in MEANS.items():
            self._mean(key, summary.get(name), n.get(key, count))
        for name, value in (summary.get("component_means") or {}).items():
            self._mean(f"component:{name}", value, n.get(name, count))
        for measure, key in PERCEPTION_MEANS.items():
            self._mean(key, (summary.get("perception") or {}).get(measure), n.get(key, count))

    def _mean(self, key: str, value: Any, weight: int) -> None:
        if isinstance(value, int | float) and weight > 0:
            pooled = self.sums.setdefault(key, [0.0, 0.0])
            pooled[0] += float(value) * weight
            pooled[1] += weight

    def get(self, key: str) -> float | None:
        pooled = self.sums.get(key)
        return pooled[0] / pooled[1] if pooled and pooled[1] else None

    def render(self) -> dict[str, Any]:
        perception = {name: self.get(key) for name, key in PERCEPTION_MEANS.items()}
        components = {
            key.split(":", 1)[1]: self.get(key) for key in self.sums if key.startswith("component:")
        }
        return {
            "count": self.count,
            "status_counts": dict(self.status),
            "component_means": components,
            "response_length_mean": self.get("length"),
            **{name: self.get(key) for name, key in MEANS.items()},
            # pieces scored in different modes do not pool into one mode's ratios: say so
            "reflection_mode": next(iter(self.modes)) if len(self.modes) == 1 else None,
            "perception": perception if any(v is not None for v in perception.values()) else None,
            "n": {
                key.removeprefix("component:"): int(pooled[1])
                for key, pooled in self.sums.items()
                if key != "length"
            },
        }


def merge(pieces: Iterable[Mapping[str, Mapping[str, Any]]]) -> BySource:
    """``summary.by_source`` of several answers (the pieces of one batch) as one."""
    pooled: dict[str, _Pooled] = {}
    for by_source in pieces:
        for source, summary in by_source.items():
            pooled.setdefault(source, _Pooled()).add(summary)
    return {source: p.render() for source, p in pooled.items()}


def scalars(by_source: Mapping[str, Mapping[str, Any]], prefix: str = "") -> dict[str, float]:
    """``{"<prefix>reward/<source>": …, "<prefix>iou/<source>": …, "<prefix>unscored/<source>":
    …}``: every mean the summary has for each source, for a trainer's logger."""
    out: dict[str, float] = {}
    for source, summary in sorted(by_source.items()):
        for name, path in _SCALARS.items():
            value: Any = summary
            for step in path:
                value = value.get(step) if isinstance(value, Mapping) else None
            if isinstance(value, int | float):
                out[f"{prefix}{name}/{source}"] = float(value)
        count = summary.get("count") or 0
        if count:
            ok = (summary.get("status_counts") or {}).get("ok", 0)
            out[f"{prefix}unscored/{source}"] = 1.0 - ok / count
    return out


def log_summary(
    log: logging.Logger, values: Mapping[str, float], step: int | None, split: str, path: str | None
) -> None:
    """One call's scalars (:func:`scalars`), for trainers that take no metrics from a reward
    function: a line on ``log`` at INFO, and with ``path`` a JSONL line ``{"step", "split",
    "reward/<source>", …}`` appended there for plotting."""
    if not values:
        return
    line = " ".join(f"{key}={value:.4g}" for key, value in values.items())
    log.info("raas %s step %s: %s", split, step, line)
    if path is not None:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps({"step": step, "split": split, **values}) + "\n")
