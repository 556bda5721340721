"""Realistic reasoning-RL traffic: long-tailed chains of thought in GRPO groups of mixed tasks.

Response lengths are log-normal (median 6,000 characters, σ 0.85: p99 ≈ 43,000), clipped to
[200, 60,000]. The thinking is prose with arithmetic, reflection ("wait, let me re-check") and
LaTeX, as reasoning models write; the final answer follows in the task's own format, right in
about half the rollouts of a group. A group is 8 rollouts of one prompt sharing a ground truth.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from typing import Any

MEDIAN_CHARS = 6_000
SIGMA = 0.85
MIN_CHARS, MAX_CHARS = 200, 60_000
GROUP = 8
TASKS = ("math", "choice", "chart", "counting", "detection", "grounding")

_WORDS = (
    "so",
    "the",
    "total",
    "is",
    "then",
    "we",
    "get",
    "let",
    "us",
    "consider",
    "the",
    "value",
    "of",
    "which",
    "means",
    "that",
    "since",
    "both",
    "sides",
    "are",
    "equal",
    "note",
    "that",
    "the",
    "area",
    "is",
    "hence",
    "it",
    "follows",
    "that",
    "multiply",
    "by",
    "divide",
    "by",
    "and",
    "therefore",
    "the",
    "remaining",
    "part",
    "gives",
    "us",
    "the",
    "next",
    "step",
    "is",
    "substituting",
    "back",
    "into",
)
_REFLECT = ("Wait, let me re-check that.", "Hmm, let me verify this step.", "Let me double-check.")
Sample = dict[str, Any]


def response_length(rng: random.Random) -> int:
    length = rng.lognormvariate(math.log(MEDIAN_CHARS), SIGMA)
    return int(min(MAX_CHARS, max(MIN_CHARS, length)))


def thinking(rng: random.Random, chars: int) -> str:
    parts: list[str] = []
    size = 0
    while size < chars:
        if rng.random() < 0.08:
            part = rng.choice(_REFLECT)
        elif rng.random() < 0.3:
            a, b = rng.randint(2, 999), rng.randint(2, 999)
            part = f"$\\frac{{{a}}}{{{b}}} \\cdot {rng.randint(2, 9)} = {a * 3}/{b}$."
        else:
            part = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(6, 18))) + "."
        parts.append(part)
        size += len(part) + 1
    return " ".join(parts)[:chars]


def wrap(rng: random.Random, answer: str) -> str:
    return (
        f"<think>\n{thinking(rng, response_length(rng))}\n</think>\n<answer>\n{answer}\n</answer>"
    )


def _math(rng: random.Random) -> tuple[Any, Callable[[bool], str], dict[str, Any]]:
    p, q = rng.randint(1, 40), rng.randint(2, 41)
    gold = f"\\frac{{{p}}}{{{q}}}"
    return gold, lambda right: f"\\boxed{{{gold if right else f'{p + 1}/{q}'}}}", {}


def _choice(rng: random.Random) -> tuple[Any, Callable[[bool], str], dict[str, Any]]:
    letter = rng.choice("ABCD")
    wrong = rng.choice([c for c in "ABCD" if c != letter])
    return letter, lambda right: f"({letter if right else wrong})", {}


def _chart(rng: random.Random) -> tuple[Any, Callable[[bool], str], dict[str, Any]]:
    value = round(rng.uniform(10, 5000), 1)
    return str(value), lambda right: f"{value if right else value * 1.5:,.1f}", {}


def _counting(rng: random.Random) -> tuple[Any, Callable[[bool], str], dict[str, Any]]:
    count = rng.randint(0, 30)
    return count, lambda right: f"\\boxed{{{count if right else count + 2}}}", {}


def _boxes(rng: random.Random, n: int) -> list[dict[str, Any]]:
    out = []
    for _ in range(n):
        x, y = rng.randint(0, 800), rng.randint(0, 800)
        w, h = rng.randint(30, 190), rng.randint(30, 190)
        out.append({"bbox_2d": [x, y, x + w, y + h], "label": rng.choice(("car", "person"))})
    return out


def _detection(rng: random.Random) -> tuple[Any, Callable[[bool], str], dict[str, Any]]:
    gt = _boxes(rng, rng.randint(1, 8))

    def answer(right: bool) -> str:
        shift = rng.randint(-6, 6) if right else rng.randint(40, 90)
        pred = [{**b, "bbox_2d": [v + shift for v in b["bbox_2d"]]} for b in gt]
        return json.dumps(pred)

    return gt, answer, {"label_first": 1.0, "map": 0.5}


def _grounding(rng: random.Random) -> tuple[Any, Callable[[bool], str], dict[str, Any]]:
    box = _boxes(rng, 1)[0]["bbox_2d"]
    far = [v + 300 for v in box]
    return box, lambda right: json.dumps(box if right else far), {}


_MAKERS = {
    "math": ("math", "think_answer", _math),
    "choice": ("choice", "think_answer", _choice),
    "chart": ("chart", "think_answer", _chart),
    "counting": ("counting", "think_answer", _counting),
    "detection": ("detection", "detection_answer", _detection),
    "grounding": ("giou", None, _grounding),
}


def group(rng: random.Random, task: str, index: int) -> list[Sample]:
    """``GROUP`` rollouts of one prompt: one ground truth, about half of them right."""
    verifier, fmt, make = _MAKERS[task]
    ground_truth, answer, params = make(rng)
    samples = []
    for k in range(GROUP):
        sample: Sample = {
            "id": f"{task}-{index}-{k}",
            "data_source": task,
            "verifier": verifier,
            "response": wrap(rng, answer(rng.random() < 0.5)),
            "ground_truth": ground_truth,
            "params": params,
        }
        if fmt is not None:
            sample |= {"format": fmt, "weights": {"accuracy": 1.0, "format": 0.1}}
        samples.append(sample)
    return samples


def batch(rng: random.Random, size: int, tasks: tuple[str, ...] = TASKS) -> list[Sample]:
    """``size`` samples (a multiple of ``GROUP``) in groups of tasks drawn from ``tasks``."""
    samples: list[Sample] = []
    while len(samples) < size:
        samples += group(rng, rng.choice(tasks), len(samples) // GROUP)
    return samples[:size]
