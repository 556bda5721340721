"""Source-level monitoring (V-Triune): per ``data_source`` counts, means and reflection ratios.

A response "reflects" when it contains a reflection word ("wait", "re-check", "verify", …); the
scan runs where the sample is scored (a pool child), not on the router's event loop, and a
response over the size limit is not scanned: the reflection ratios are over the responses that
were. A response counts as correct when its accuracy is at least 0.5: exact for 0/1 verifiers,
and the usual hit threshold for continuous ones such as IoU.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
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


@dataclass(slots=True)
class _Source:
    count: int = 0
    statuses: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    rewards: list[float] = field(default_factory=list)
    components: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    length_total: int = 0
    examined: int = 0
    reflecting: int = 0
    correct: list[bool] = field(default_factory=list)  # for ok samples that were examined
    correct_reflecting: list[bool] = field(default_factory=list)

    def add(self, length: int, reflecting: bool | None, result: dict[str, Any]) -> None:
        self.count += 1
        self.statuses[result["status"]] += 1
        self.length_total += length
        if reflecting is not None:
            self.examined += 1
            self.reflecting += reflecting
        if result["status"] != "ok":
            return
        self.rewards.append(result["reward"])
        for name, value in result["components"].items():
            self.components[name].append(value)
        if reflecting is not None:
            self.correct.append(result["components"]["accuracy"] >= CORRECT_AT)
            self.correct_reflecting.append(reflecting)

    def render(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "status_counts": {k: v for k, v in self.statuses.items() if v},
            "reward_mean": _mean(self.rewards),
            "component_means": {k: _mean(v) for k, v in self.components.items()},
            "response_length_mean": self.length_total / self.count,
            "reflection_ratio": self.reflecting / self.examined if self.examined else None,
            "reflection_ratio_correct": self._ratio(True),
            "reflection_ratio_incorrect": self._ratio(False),
        }

    def _ratio(self, correct: bool) -> float | None:
        flags = [
            r for c, r in zip(self.correct, self.correct_reflecting, strict=True) if c == correct
        ]
        return _mean([float(f) for f in flags])


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


Row = tuple[str, int, bool | None, dict[str, Any]]


def by_source(rows: Iterable[Row]) -> dict[str, dict[str, Any]]:
    """``rows`` are (data_source, response length, reflects or None if not examined, result
    dict) in request order."""
    sources: dict[str, _Source] = defaultdict(_Source)
    for data_source, length, reflecting, result in rows:
        sources[data_source].add(length, reflecting, result)
    return {name: source.render() for name, source in sources.items()}
