"""``chart``: chart question answering, numbers within a relative tolerance (Mixed-R1 reading).

Response: the final answer by the rule every verifier shares (``_text.locate``): the
``<answer>`` block after the thinking (the last ``</think>``), else the text after it, else all of
it; an unclosed ``<think>`` is no answer; within it, the ``\\boxed{}`` if there is one.

Ground truth: a number (JSON number or text such as ``1,234.5`` or ``12%``) or a short string.

Params: ``tolerance`` (default 0.05, ≥ 0), relative to the ground truth.

Formula: both sides normalised (strip, lower-case, drop one trailing period, collapse
whitespace). Both numeric after removing one trailing ``%`` and thousands separators →
accuracy = 1 if |pred − gt| ≤ tolerance·|gt| (exact when gt = 0) else 0, computed in exact
decimal arithmetic so the bound is inclusive (1.05 vs 1 at 5% is 1). Otherwise 1 if the
normalised strings are equal. Range: {0, 1}.

Numbers are read only in plain decimal form (``-1,234.5``, ``.5``; at most 40 characters):
no exponents, ``nan`` or ``inf``, no units or currency signs (``$12`` and ``12 kg`` are strings).
A comma is a thousands separator only in groups of three (``1,2`` is a string).

Reward-hacking caveats: ``%`` is dropped, not scaled: 12% and 12 are equal, 12% and 0.12 are
not. A large tolerance pays near misses; keep it small. Spamming several numbers is a string and
scores 0, and so do several different boxed answers (a hedge).
"""

from __future__ import annotations

import re
from decimal import Decimal, localcontext
from typing import Any

from pydantic import Field

from reward_service.errors import InvalidInputError
from reward_service.registry import Context, Params, Score, verifier
from reward_service.verifiers._text import final_answer, scalar_text, unanswered

_NUMBER = re.compile(r"[+-]?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]*)(?:\.[0-9]+)?", re.ASCII)
_MAX_NUMBER_CHARS = 40
_DETAIL_CHARS = 200


class ChartParams(Params):
    tolerance: float = Field(default=0.05, ge=0, allow_inf_nan=False)


def normalise(answer: str) -> str:
    """Strip, lower-case, drop one trailing period, collapse whitespace."""
    return " ".join(answer.strip().lower().removesuffix(".").split())


def as_number(text: str) -> Decimal | None:
    """The plain decimal number ``text`` holds (after one trailing ``%``), else ``None``."""
    text = text.removesuffix("%").rstrip()
    if len(text) > _MAX_NUMBER_CHARS or not any(c.isdigit() for c in text):
        return None
    return Decimal(text.replace(",", "")) if _NUMBER.fullmatch(text) else None


def prepare(ground_truth: Any, params: ChartParams) -> str:
    """The normalised ground truth; an empty one cannot be matched."""
    gold = normalise(scalar_text(ground_truth))
    if not gold:
        raise InvalidInputError("chart ground truth is empty")
    return gold


def within(pred: Decimal, gold: Decimal, tolerance: float) -> bool:
    """|pred − gold| ≤ tolerance·|gold|, exactly (every operand has at most 40 digits)."""
    with localcontext(prec=200):
        return abs(pred - gold) <= Decimal(repr(tolerance)) * abs(gold)


@verifier("chart", params=ChartParams, prepare=prepare)
def chart_reward(response: str, ground_truth: Any, params: ChartParams, context: Context) -> Score:
    """A number within a relative tolerance of the ground truth, else an exact string match."""
    found = final_answer(response)
    if found is None:
        return Score(0.0, {"reason": unanswered(response)})
    answer = normalise(found)
    pred, gold = as_number(answer), as_number(ground_truth)
    if pred is not None and gold is not None:
        correct, numeric = within(pred, gold, params.tolerance), True
    else:
        correct, numeric = answer == ground_truth, False
    return Score(1.0 if correct else 0.0, {"extracted": answer[:_DETAIL_CHARS], "numeric": numeric})
