"""``chart``: chart question answering, numbers within a relative tolerance (Mixed-R1 reading).

Response: the final answer by the rule every verifier shares (``_text.locate``): the
``<answer>`` block after the thinking (the last ``</think>``), else the text after it, else all of
it; an unclosed ``<think>`` is no answer; within it, the ``\\boxed{}`` if there is one; an
emphasis or math wrapper around all of it read through (``\\text{2019}``, ``**42**``, ``$-3$``:
``_normalise.read_through``).

Ground truth: a number (JSON number or text such as ``1,234.5`` or ``12%``) or a short string.

Params: ``tolerance`` (default 0.05, ≥ 0), relative to the ground truth; ``exact_integers``
(``"years"``, default; ``"all"``; ``"none"``): which integer golds are identifiers, compared
exactly rather than within the tolerance.

Identifiers. A year is not a measurement: 5 % of 2019 is about 100 years, so ``2000`` would pay.
``"years"``: a gold written as exactly four ASCII digits from 1000 to 2100, with no sign,
separator, decimal point or ``%`` (``2019``, ``1850``), is a year and must be met exactly
(``2019``, ``2019.0``). This also holds a measured quantity written that way (``1500`` units)
to exactness: a false negative on a near reading, never a false positive. Write such a gold
with a separator or a decimal point (``1,500``, ``1500.0``) to keep the tolerance for it, or
use ``"none"``. ``"all"``: every integer gold written without a decimal point or ``%`` (years,
counts, ranks, ids) is exact. ``"none"``: the tolerance everywhere (ChartQA's relaxed accuracy).

Formula: both sides normalised (wrappers read through, the dashes that stand for a minus —
U+2212 as matplotlib prints it, en and figure dashes, hyphens: ``_normalise.ascii_minus`` — read
as ``-``; full-width digits, ``．`` and ``％`` as ASCII: ``_normalise.ascii_numerals``; strip,
lower-case, drop one trailing period, collapse whitespace). Both numeric after
removing one trailing ``%`` and thousands separators → accuracy = 1 if the gold is an identifier
and pred = gold, or it is not and |pred − gt| ≤ tolerance·|gt| (exact when gt = 0), else 0;
computed in exact decimal arithmetic so the bound is inclusive (1.05 vs 1 at 5% is 1).
Otherwise 1 if the normalised strings are equal. Range: {0, 1}.

Numbers are read only in plain decimal form (``-1,234.5``, ``.5``; at most 40 characters):
no exponents, ``nan`` or ``inf``, no units or currency signs (``$12`` and ``12 kg`` are strings).
A comma is a thousands separator only in groups of three (``1,2`` is a string).

Reward-hacking caveats: ``%`` is dropped, not scaled: 12% and 12 are equal, 12% and 0.12 are
not. A large tolerance pays near misses; keep it small. Spamming several numbers is a string and
scores 0, and so do several different boxed answers (a hedge). A wrapper around part of the
answer is not read through (``**41** or **42**`` is a string).
"""

from __future__ import annotations

import re
from decimal import Decimal, localcontext
from typing import Any, Literal

from pydantic import Field

from reward_service.contract.errors import InvalidInputError
from reward_service.contract.registry import Context, Params, Score, verifier
from reward_service.verifiers._normalise import ascii_minus, ascii_numerals, read_through
from reward_service.verifiers._text import final_answer, scalar_text, unanswered

_NUMBER = re.compile(r"[+-]?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]*)(?:\.[0-9]+)?", re.ASCII)
_YEAR = re.compile(r"[0-9]{4}", re.ASCII)
_INTEGER = re.compile(r"[+-]?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)", re.ASCII)
_YEARS = (1000, 2100)
_MAX_NUMBER_CHARS = 40
_DETAIL_CHARS = 200


class ChartParams(Params):
    tolerance: float = Field(default=0.05, ge=0, allow_inf_nan=False)
    exact_integers: Literal["years", "all", "none"] = "years"


def normalise(answer: str) -> str:
    """Wrappers read through, minus look-alikes → ``-``, full-width digits → ASCII; strip,
    lower-case, drop one trailing period, collapse whitespace."""
    text = ascii_numerals(ascii_minus(read_through(answer)))
    return " ".join(text.strip().lower().removesuffix(".").split())


def is_identifier(gold: str, exact_integers: str) -> bool:
    """Whether the normalised gold is an integer identifier, compared exactly (see above)."""
    if exact_integers == "years":
        return _YEAR.fullmatch(gold) is not None and _YEARS[0] <= int(gold) <= _YEARS[1]
    return exact_integers == "all" and _INTEGER.fullmatch(gold) is not None


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
    exact = is_identifier(ground_truth, params.exact_integers)
    if pred is not None and gold is not None:
        correct, numeric = (pred == gold if exact else within(pred, gold, params.tolerance)), True
    else:
        correct, numeric = answer == ground_truth, False
    details = {"extracted": answer[:_DETAIL_CHARS], "numeric": numeric, "exact": exact}
    return Score(1.0 if correct else 0.0, details)
