"""Source-level monitoring (V-Triune): per ``data_source`` counts, means, reflection, lengths.

A response "reflects" when it contains a reflection word; a response counts as correct when
its accuracy reaches the mode's bar. Two modes (``reflection`` per request, else per route):

- ``raas`` (the default): :data:`REFLECTION_WORDS` (V-Triune's without "yet", which is mostly
  not reflection, plus "double-check"/"double check") as whole words (``wait`` but not
  ``awaiting``), correct at accuracy ≥ 0.5 (exact for 0/1 verifiers, the usual hit threshold for
  continuous ones such as IoU);
- ``vtriune``: V-Triune's monitoring exactly (its ``verl/trainer/ppo/metric_utils.py``):
  :data:`VTRIUNE_REFLECTION_WORDS` as substrings of the lower-cased response (``awaiting``
  reflects, so does ``yet``), correct only at accuracy 1.0.

The scan runs where the sample is scored (a pool child, both modes at once), not on the
router's event loop, and a response over the size limit is not scanned: the reflection ratios
are over the responses that were. Among the examined ``ok`` responses: the reflection ratio of
correct and of incorrect ones, and the share correct among reflecting and non-reflecting ones
(V-Triune's "correct ratio in reflection texts"). Lengths (characters, tokens with a tokenizer)
of correct and incorrect ``ok`` responses; the truncation rate over the samples whose trainer
sent ``truncated`` (cut at the maximum length: V-Triune's ``length_clip_ratio``).

Perception verifiers (``iou``, ``giou``, ``detection``, ``point_in_box``, ``polygon_iou``,
``temporal_iou``, ``counting``) report in their details whether the answer parsed and, where
they apply, the IoU, mAP, mAP50 and the IoU threshold in effect; ``detection`` also reports
V-Triune's label-first matching at :data:`IOU_REPORT` (0.50, 0.75, 0.95, 0.99): the matched IoU
per GT box (``iou50``…), precision (matches / predicted boxes) and recall (matches / GT boxes),
0 for an answer without a box, as V-Triune's ``report_iou_*_label_match_*``. Their means over
``ok`` samples make a source's ``perception`` block. Every mean comes with its count in ``n``
(keyed ``reward``, each component, ``response_tokens``, ``reflection``, ``reflection_correct``,
``reflection_incorrect``, ``correct_reflecting``, ``correct_not_reflecting``, ``length_correct``,
``length_incorrect``, ``tokens_correct``, ``tokens_incorrect``, ``truncated``, and the
perception keys), so the summaries of a batch sent in pieces merge exactly (the client does).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from reward_service.schemas import STATUSES, Reflection

REFLECTION_WORDS = (
    "re-check", "recheck", "re-evaluate", "reevaluate", "reevaluation", "re-examine", "reexamine",
    "re-think", "rethink", "check again", "think again", "try again", "double-check",
    "double check", "verify", "wait",
)  # fmt: skip
VTRIUNE_REFLECTION_WORDS = (
    "re-check", "re-evaluate", "re-examine", "re-think", "recheck", "reevaluate", "reexamine",
    "reevaluation", "rethink", "check again", "think again", "try again", "verify", "wait", "yet",
)  # fmt: skip
CORRECT_AT = 0.5

DEFAULT_REFLECTION: Reflection = "raas"
CORRECT_AT_MODE: dict[Reflection, float] = {"raas": CORRECT_AT, "vtriune": 1.0}

IOU_REPORT = ((0.5, "50"), (0.75, "75"), (0.95, "95"), (0.99, "99"))  # V-Triune's report_iou_*
IOU_REPORT_KINDS = ("iou", "precision", "recall")


def reflects(response: str) -> bool:
    """Whether a reflection word occurs as a whole word (``wait`` but not ``awaiting``).

    ``str.find`` per word, boundaries checked only at hits: several times faster than one
    alternation regex.
    """
    return _whole_word(response.lower())


def reflections(response: str) -> tuple[bool, bool]:
    """Both modes' answers (``raas``, ``vtriune``) from one lower-casing of the response."""
    text = response.lower()
    return _whole_word(text), any(word in text for word in VTRIUNE_REFLECTION_WORDS)


def _whole_word(text: str) -> bool:
    for word in REFLECTION_WORDS:
        at = text.find(word)
        while at >= 0:
            end = at + len(word)
            if (at == 0 or not _word_char(text[at - 1])) and (
                end == len(text) or not _word_char(text[end])
            ):
                return True
            at = text.find(word, at + 1)
    return False


def _word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def correct(accuracy: float, mode: Reflection = DEFAULT_REFLECTION) -> bool:
    """Whether an accuracy counts as correct in ``mode`` (≥ 0.5, or V-Triune's 1.0)."""
    return accuracy >= CORRECT_AT_MODE[mode]


IOU_REPORT_KEYS = tuple(f"{kind}{tag}" for _, tag in IOU_REPORT for kind in IOU_REPORT_KINDS)
PERCEPTION = ("iou", "map", "map50", "threshold", *IOU_REPORT_KEYS)
_PERCEPTION = frozenset(PERCEPTION)  # a sample's few details looked up, not all 16 names


def perception(details: dict[str, Any]) -> dict[str, float]:
    """The monitoring values a perception verifier reports in its details (``parsed`` as 0/1,
    ``iou``, ``map``, ``map50``, ``threshold``, ``iou50``/``precision50``/``recall50``…);
    empty for other verifiers."""
    found = {key: float(v) for key, v in details.items() if key in _PERCEPTION and _number(v)}
    if isinstance(parsed := details.get("parsed"), bool):
        found["parsed"] = float(parsed)
    return found


def _number(value: Any) -> bool:
    """A finite int or float, not a bool (exact types: called for every detail of every
    sample on the router's loop)."""
    if type(value) is int:  # not bool: its type is bool
        return True
    return isinstance(value, float) and math.isfinite(value)


@dataclass(slots=True)
class _Mean:
    total: float = 0.0
    n: int = 0

    def add(self, value: float) -> None:
        self.total += value
        self.n += 1

    @property
    def mean(self) -> float | None:
        return self.total / self.n if self.n else None


def _pair() -> dict[bool, _Mean]:
    return {True: _Mean(), False: _Mean()}


@dataclass(slots=True)
class _Source:
    mode: Reflection = DEFAULT_REFLECTION
    count: int = 0
    statuses: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    reward: _Mean = field(default_factory=_Mean)
    components: dict[str, _Mean] = field(default_factory=lambda: defaultdict(_Mean))
    length_total: int = 0
    tokens: _Mean = field(default_factory=_Mean)
    truncated: _Mean = field(default_factory=_Mean)
    reflection: _Mean = field(default_factory=_Mean)
    # among examined ok samples: reflection by correctness, correctness by reflection
    reflection_by_correct: dict[bool, _Mean] = field(default_factory=_pair)
    correct_by_reflection: dict[bool, _Mean] = field(default_factory=_pair)
    length_by_correct: dict[bool, _Mean] = field(default_factory=_pair)  # ok samples
    tokens_by_correct: dict[bool, _Mean] = field(default_factory=_pair)
    perception: dict[str, _Mean] = field(default_factory=lambda: defaultdict(_Mean))

    def add(self, seen: Seen, result: Result) -> None:
        self.count += 1
        self.statuses[result["status"]] += 1
        self.length_total += seen.length
        if seen.tokens is not None:
            self.tokens.add(seen.tokens)
        if seen.truncated is not None:
            self.truncated.add(seen.truncated)
        if seen.reflecting is not None:
            self.reflection.add(seen.reflecting)
        if result["status"] != "ok":
            return
        self.reward.add(result["reward"])
        for name, value in result["components"].items():
            self.components[name].add(value)
        right = correct(result["components"]["accuracy"], self.mode)
        self.length_by_correct[right].add(seen.length)
        if seen.tokens is not None:
            self.tokens_by_correct[right].add(seen.tokens)
        if seen.reflecting is not None:
            self.reflection_by_correct[right].add(seen.reflecting)
            self.correct_by_reflection[seen.reflecting].add(right)
        for name, value in perception(result["details"]).items():
            self.perception[name].add(value)

    def render(self) -> dict[str, Any]:
        means = {
            "reward": self.reward, **self.components, "response_tokens": self.tokens,
            "truncated": self.truncated, "reflection": self.reflection,
            "reflection_correct": self.reflection_by_correct[True],
            "reflection_incorrect": self.reflection_by_correct[False],
            "correct_reflecting": self.correct_by_reflection[True],
            "correct_not_reflecting": self.correct_by_reflection[False],
            "length_correct": self.length_by_correct[True],
            "length_incorrect": self.length_by_correct[False],
            "tokens_correct": self.tokens_by_correct[True],
            "tokens_incorrect": self.tokens_by_correct[False], **self.perception,
        }  # fmt: skip
        return {
            "count": self.count,
            "status_counts": {k: v for k, v in self.statuses.items() if v},
            "reward_mean": self.reward.mean,
            "component_means": {k: v.mean for k, v in self.components.items()},
            "response_length_mean": self.length_total / self.count,
            "response_tokens_mean": self.tokens.mean,
            "response_length_correct_mean": self.length_by_correct[True].mean,
            "response_length_incorrect_mean": self.length_by_correct[False].mean,
            "response_tokens_correct_mean": self.tokens_by_correct[True].mean,
            "response_tokens_incorrect_mean": self.tokens_by_correct[False].mean,
            "truncated_ratio": self.truncated.mean,
            "reflection_mode": self.mode,
            "reflection_ratio": self.reflection.mean,
            "reflection_ratio_correct": self.reflection_by_correct[True].mean,
            "reflection_ratio_incorrect": self.reflection_by_correct[False].mean,
            "correct_ratio_reflecting": self.correct_by_reflection[True].mean,
            "correct_ratio_not_reflecting": self.correct_by_reflection[False].mean,
            "perception": self._perception(),
            "n": {name: mean.n for name, mean in means.items() if mean.n},
        }

    def _perception(self) -> dict[str, float | None] | None:
        if not self.perception:
            return None
        p = self.perception
        return {
            "iou_mean": p["iou"].mean, "map_mean": p["map"].mean, "map50_mean": p["map50"].mean,
            "threshold": p["threshold"].mean, "parsed_ratio": p["parsed"].mean,
            **{f"{key}_mean": p[key].mean for key in IOU_REPORT_KEYS},
        }  # fmt: skip


Result = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Seen:
    """What the router knows of one response besides its result: its length in characters,
    whether it reflects in the source's mode (``None``: not examined), its tokens (``None``: not
    counted) and whether the trainer cut it at the maximum length (``None``: not said)."""

    length: int
    reflecting: bool | None = None
    tokens: int | None = None
    truncated: bool | None = None


class SourceSummaries:
    """``summary.by_source`` of a batch, a sample at a time in request order."""

    def __init__(self) -> None:
        self._sources: dict[str, _Source] = {}

    def add(
        self, data_source: str, seen: Seen, result: Result, mode: Reflection = DEFAULT_REFLECTION
    ) -> None:
        """One sample. A source's reflection ``mode`` is the one its first sample came with (the
        router gives every sample of a source the same: the request's, else the route's)."""
        source = self._sources.get(data_source)
        if source is None:
            source = self._sources[data_source] = _Source(mode)
        source.add(seen, result)

    def render(self) -> dict[str, dict[str, Any]]:
        return {name: source.render() for name, source in self._sources.items()}
