"""Source-level monitoring (V-Triune): per ``data_source`` counts, means and reflection ratios.

A response "reflects" when it contains a reflection word ("wait", "re-check", "verify", …); the
scan runs where the sample is scored (a pool child), not on the router's event loop, and a
response over the size limit is not scanned: the reflection ratios are over the responses that
were. A response counts as correct when its accuracy is at least 0.5: exact for 0/1 verifiers,
and the usual hit threshold for continuous ones such as IoU.

Perception verifiers (``iou``, ``giou``, ``detection``, ``point_in_box``, ``polygon_iou``,
``temporal_iou``, ``counting``) report in their details whether the answer parsed and, where
they apply, the IoU, mAP, mAP50 and the IoU threshold in effect; their means over ``ok`` samples
make a source's ``perception`` block. Every mean comes with its count in ``n`` (keyed
``reward``, each component, ``response_tokens``, ``reflection``, ``reflection_correct``,
``reflection_incorrect``, ``iou``, ``map``, ``map50``, ``threshold``, ``parsed``), so the
summaries of a batch sent in pieces merge exactly (the client does).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from reward_service.schemas import STATUSES

REFLECTION_WORDS = (
    "re-check", "recheck", "re-evaluate", "reevaluate", "reevaluation", "re-examine", "reexamine",
    "re-think", "rethink", "check again", "think again", "try again", "double-check",
    "double check", "verify", "wait",
)  # fmt: skip
CORRECT_AT = 0.5


def reflects(response: str) -> bool:
    """Whether a reflection word occurs as a whole word (``wait`` but not ``awaiting``).

    ``str.find`` per word, boundaries checked only at hits: several times faster than one
    alternation regex.
    """
    text = response.lower()
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


PERCEPTION = ("iou", "map", "map50", "threshold")


def perception(details: dict[str, Any]) -> dict[str, float]:
    """The monitoring values a perception verifier reports in its details (``parsed`` as 0/1,
    ``iou``, ``map``, ``map50``, ``threshold``); empty for other verifiers."""
    found = {key: float(details[key]) for key in PERCEPTION if _number(details.get(key))}
    if isinstance(parsed := details.get("parsed"), bool):
        found["parsed"] = float(parsed)
    return found


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


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


@dataclass(slots=True)
class _Source:
    count: int = 0
    statuses: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    reward: _Mean = field(default_factory=_Mean)
    components: dict[str, _Mean] = field(default_factory=lambda: defaultdict(_Mean))
    length_total: int = 0
    tokens: _Mean = field(default_factory=_Mean)
    reflection: _Mean = field(default_factory=_Mean)
    by_correctness: dict[bool, _Mean] = field(
        default_factory=lambda: {True: _Mean(), False: _Mean()}
    )  # reflection among examined ok samples, correct and not
    perception: dict[str, _Mean] = field(default_factory=lambda: defaultdict(_Mean))

    def add(self, length: int, reflecting: bool | None, tokens: int | None, result: Result) -> None:
        self.count += 1
        self.statuses[result["status"]] += 1
        self.length_total += length
        if tokens is not None:
            self.tokens.add(tokens)
        if reflecting is not None:
            self.reflection.add(reflecting)
        if result["status"] != "ok":
            return
        self.reward.add(result["reward"])
        for name, value in result["components"].items():
            self.components[name].add(value)
        if reflecting is not None:
            self.by_correctness[result["components"]["accuracy"] >= CORRECT_AT].add(reflecting)
        for name, value in perception(result["details"]).items():
            self.perception[name].add(value)

    def render(self) -> dict[str, Any]:
        means = {
            "reward": self.reward, **self.components, "response_tokens": self.tokens,
            "reflection": self.reflection, "reflection_correct": self.by_correctness[True],
            "reflection_incorrect": self.by_correctness[False], **self.perception,
        }  # fmt: skip
        return {
            "count": self.count,
            "status_counts": {k: v for k, v in self.statuses.items() if v},
            "reward_mean": self.reward.mean,
            "component_means": {k: v.mean for k, v in self.components.items()},
            "response_length_mean": self.length_total / self.count,
            "response_tokens_mean": self.tokens.mean,
            "reflection_ratio": self.reflection.mean,
            "reflection_ratio_correct": self.by_correctness[True].mean,
            "reflection_ratio_incorrect": self.by_correctness[False].mean,
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
        }  # fmt: skip


Result = dict[str, Any]


class SourceSummaries:
    """``summary.by_source`` of a batch, a sample at a time in request order."""

    def __init__(self) -> None:
        self._sources: dict[str, _Source] = defaultdict(_Source)

    def add(
        self, data_source: str, length: int, reflecting: bool | None, tokens: int | None,
        result: Result,
    ) -> None:  # fmt: skip
        """``length`` in characters; ``reflecting`` None if not examined, ``tokens`` None if
        not counted."""
        self._sources[data_source].add(length, reflecting, tokens, result)

    def render(self) -> dict[str, dict[str, Any]]:
        return {name: source.render() for name, source in self._sources.items()}
