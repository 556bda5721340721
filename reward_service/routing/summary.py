"""Source-level monitoring (V-Triune): per ``data_source`` counts, means, reflection, lengths.

A response "reflects" when it contains a reflection word; a response counts as correct when
its accuracy reaches the mode's bar. Two modes (``reflection`` per request, else per route):

- ``raas`` (the default): ``monitoring.REFLECTION_WORDS`` (V-Triune's without "yet", which is
  mostly not reflection, plus "double-check"/"double check") as whole words (``wait`` but not
  ``awaiting``), correct at accuracy ≥ 0.5 (exact for 0/1 verifiers, the usual hit threshold for
  continuous ones such as IoU);
- ``vtriune``: V-Triune's monitoring exactly (its ``verl/trainer/ppo/metric_utils.py``):
  ``monitoring.VTRIUNE_REFLECTION_WORDS`` as substrings of the lower-cased response
  (``awaiting`` reflects, so does ``yet``), correct only at accuracy 1.0.

The scan (:mod:`reward_service.contract.monitoring`) runs where the sample is scored (a pool child,
both modes at once), not on the router's event loop, and a response over the size limit is not
scanned: the reflection ratios are over the responses that were. Among the examined ``ok``
responses: the reflection ratio of correct and of incorrect ones, and the share correct among
reflecting and non-reflecting ones (V-Triune's "correct ratio in reflection texts"). Lengths
(characters, tokens with a tokenizer) of correct and incorrect ``ok`` responses; the truncation
rate over the samples whose trainer sent ``truncated`` (cut at the maximum length: V-Triune's
``length_clip_ratio``).

Perception verifiers (``iou``, ``giou``, ``detection``, ``point_in_box``, ``polygon_iou``,
``temporal_iou``, ``counting``) report in their details whether the answer parsed and, where
they apply, the IoU, mAP, mAP50 and the IoU threshold in effect; ``detection`` also reports
V-Triune's label-first matching at ``monitoring.IOU_REPORT`` (0.50, 0.75, 0.95, 0.99): the
matched IoU per GT box (``iou50``…), precision (matches / predicted boxes) and recall (matches /
GT boxes), 0 for an answer without a box, as V-Triune's ``report_iou_*_label_match_*``. Their
means over ``ok`` samples make a source's ``perception`` block. Every mean comes with its count
in ``n`` (keyed ``reward``, each component, ``response_tokens``, ``reflection``,
``reflection_correct``, ``reflection_incorrect``, ``correct_reflecting``,
``correct_not_reflecting``, ``length_correct``, ``length_incorrect``, ``tokens_correct``,
``tokens_incorrect``, ``truncated``, and the perception keys), so the summaries of a batch sent
in pieces merge exactly (the client does).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from reward_service.contract.monitoring import PERCEPTION
from reward_service.contract.shapes import (
    PERCEPTION_MEANS,
    STATUSES,
    PerceptionSummary,
    Reflection,
    SampleResult,
    SourceSummary,
)

CORRECT_AT = 0.5

DEFAULT_REFLECTION: Reflection = "raas"
CORRECT_AT_MODE: dict[Reflection, float] = {"raas": CORRECT_AT, "vtriune": 1.0}


def correct(accuracy: float, mode: Reflection = DEFAULT_REFLECTION) -> bool:
    """Whether an accuracy counts as correct in ``mode`` (≥ 0.5, or V-Triune's 1.0)."""
    return accuracy >= CORRECT_AT_MODE[mode]


_PERCEPTION_KEYS = frozenset((*PERCEPTION, "parsed"))
_ABSENT: Any = None  # typed Any, so the exact-type tests below narrow nothing mypy checks


def perception(details: Sequence[dict[str, Any]]) -> dict[str, list[float]]:
    """The monitoring values perception verifiers report in their details, a column per name in
    ``PERCEPTION`` order (``parsed`` as 0/1 last), in the order of ``details``: ``iou``, ``map``,
    ``map50``, ``threshold``, ``iou50``/``precision50``/``recall50``…; a value that is not a
    finite number (a bool, a string, NaN) is left out, and a name no sample reported has no
    column. A column a name at a time over the batch (one comprehension each), not a dict a
    sample and an append a value: an ``iou`` sample's summary add fell from 4.3 to 1.0 µs, and
    its columns cost 1.1 µs a sample once a batch (measured in-process)."""
    found = {key: column for key in PERCEPTION if (column := _numbers(details, key))}
    if parsed := [float(v) for d in details if type(v := d.get("parsed", _ABSENT)) is bool]:
        found["parsed"] = parsed
    return found


def _numbers(details: Sequence[dict[str, Any]], key: str) -> list[float]:
    """``key``'s finite int or float values, not bools (exact types: ``type(True)`` is bool)."""
    return [
        float(v)
        for d in details
        if (t := type(v := d.get(key, _ABSENT))) is int or (t is float and math.isfinite(v))
    ]


def _mean(values: list[Any]) -> float | None:
    return sum(values) / len(values) if values else None


def _given(values: list[Any]) -> list[Any]:
    return [v for v in values if v is not None]


def _where(values: list[Any], keep: list[bool | None], wanted: bool) -> list[Any]:
    """``values`` whose ``keep`` is ``wanted`` (``None``s never match), ``None`` values left out."""
    return [v for v, k in zip(values, keep, strict=True) if k is wanted and v is not None]


Result = SampleResult  # as ``results.result`` builds it


@dataclass(slots=True)
class SourceColumns:
    """One source's samples of a batch, as columns in request order: appended once per sample,
    summed at the end (C-level sums; the router's per-sample work is a few appends). Read by
    :meth:`render` for the ``/reward`` summary and by the metrics
    (``reward_service.metrics.Metrics.record_sources``): both from the same values.

    Every sample: status, verifier, length, tokens, truncated, reflecting, and ``right`` (``true``,
    ``false``, ``unscored`` when not ``ok``: the bar is the mode's). ``ok`` samples only:
    reward, components, and the details of those that report a perception value (read into
    columns once, by :attr:`perception`)."""

    mode: Reflection = DEFAULT_REFLECTION
    statuses: list[str] = field(default_factory=list)
    verifiers: list[str] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    tokens: list[int | None] = field(default_factory=list)
    truncated: list[bool | None] = field(default_factory=list)
    reflecting: list[bool | None] = field(default_factory=list)
    right: list[str] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    components: dict[str, list[float]] = field(default_factory=dict)
    perceived: list[dict[str, Any]] = field(default_factory=list)
    _means: dict[str, list[Any]] | None = None  # computed once for the summary and the metrics
    _perception: dict[str, list[float]] | None = None  # likewise

    def add(
        self,
        result: Result,
        length: int,
        reflecting: bool | None,
        tokens: int | None,
        truncated: bool | None,
    ) -> None:
        """One sample: its result, its response's length in characters, whether it reflects in
        the source's mode (``None``: not examined), its tokens (``None``: not counted) and
        whether the trainer cut it at the maximum length (``None``: not said)."""
        self._means = self._perception = None
        status = result["status"]
        self.statuses.append(status)
        self.verifiers.append(result.get("verifier") or "")
        self.lengths.append(length)
        self.tokens.append(tokens)
        self.truncated.append(truncated)
        self.reflecting.append(reflecting)
        if status != "ok" or (reward := result["reward"]) is None:  # never None when ok
            self.right.append("unscored")
            return
        self.rewards.append(reward)
        components = result["components"]
        for name, value in components.items():
            if (column := self.components.get(name)) is None:
                column = self.components[name] = []
            column.append(value)
        self.right.append("true" if correct(components["accuracy"], self.mode) else "false")
        if (details := result["details"]) and not _PERCEPTION_KEYS.isdisjoint(details):
            self.perceived.append(details)

    @property
    def perception(self) -> dict[str, list[float]]:
        """The perception values of the ``ok`` samples, a column per name (:func:`perception`)."""
        if self._perception is None:
            self._perception = perception(self.perceived)
        return self._perception

    def means(self) -> dict[str, list[Any]]:
        """Each mean's values, under its ``n`` key."""
        if self._means is None:
            self._means = self._collect()
        return self._means

    def _collect(self) -> dict[str, list[Any]]:
        scored = [i for i, right in enumerate(self.right) if right != "unscored"]
        correct_: list[bool | None] = [self.right[i] == "true" for i in scored]
        reflecting = [self.reflecting[i] for i in scored]
        lengths, tokens = [self.lengths[i] for i in scored], [self.tokens[i] for i in scored]
        return {
            "reward": self.rewards,
            **self.components,
            "response_tokens": _given(self.tokens),
            "truncated": _given(self.truncated),
            "reflection": _given(self.reflecting),
            "reflection_correct": _where(reflecting, correct_, True),
            "reflection_incorrect": _where(reflecting, correct_, False),
            "correct_reflecting": _where(correct_, reflecting, True),
            "correct_not_reflecting": _where(correct_, reflecting, False),
            "length_correct": _where(lengths, correct_, True),
            "length_incorrect": _where(lengths, correct_, False),
            "tokens_correct": _where(tokens, correct_, True),
            "tokens_incorrect": _where(tokens, correct_, False),
            **self.perception,
        }

    def render(self) -> SourceSummary:
        m = self.means()
        count = len(self.statuses)
        tally = Counter(self.statuses)
        return {
            "count": count,
            "status_counts": {k: tally[k] for k in STATUSES if tally[k]},
            "reward_mean": _mean(self.rewards),
            # a component's column exists once it holds a value: never empty
            "component_means": {k: sum(v) / len(v) for k, v in self.components.items()},
            "response_length_mean": sum(self.lengths) / count,
            "response_tokens_mean": _mean(m["response_tokens"]),
            "response_length_correct_mean": _mean(m["length_correct"]),
            "response_length_incorrect_mean": _mean(m["length_incorrect"]),
            "response_tokens_correct_mean": _mean(m["tokens_correct"]),
            "response_tokens_incorrect_mean": _mean(m["tokens_incorrect"]),
            "truncated_ratio": _mean(m["truncated"]),
            "reflection_mode": self.mode,
            "reflection_ratio": _mean(m["reflection"]),
            "reflection_ratio_correct": _mean(m["reflection_correct"]),
            "reflection_ratio_incorrect": _mean(m["reflection_incorrect"]),
            "correct_ratio_reflecting": _mean(m["correct_reflecting"]),
            "correct_ratio_not_reflecting": _mean(m["correct_not_reflecting"]),
            "perception": self._perception_means(),
            "n": {name: len(values) for name, values in m.items() if values},
        }

    def _perception_means(self) -> PerceptionSummary | None:
        """Each perception mean from the detail it is the mean of (the table the client merges
        by); built from the table, so cast: ``tests/contract/test_shapes.py`` holds its keys to the
        TypedDict's."""
        if not self.perception:
            return None
        p = self.perception
        means = {name: _mean(p.get(key, [])) for name, key in PERCEPTION_MEANS.items()}
        return cast(PerceptionSummary, means)


class SourceSummaries:
    """``summary.by_source`` of a batch: a source's columns each, filled in request order."""

    def __init__(self) -> None:
        self.sources: dict[str, SourceColumns] = {}

    def columns(self, data_source: str, mode: Reflection = DEFAULT_REFLECTION) -> SourceColumns:
        """A source's columns, to :meth:`SourceColumns.add` its samples to. A source's reflection
        ``mode`` is the one given when its columns are first asked for (the router gives every
        sample of a source the same: the request's, else the route's)."""
        columns = self.sources.get(data_source)
        if columns is None:
            columns = self.sources[data_source] = SourceColumns(mode)
        return columns

    def render(self) -> dict[str, SourceSummary]:
        return {name: columns.render() for name, columns in self.sources.items()}
