"""What ``math`` checks in strict mode after math-verify has said "equal".

Math-verify is built to find equivalence; a policy is built to find its false positives. Each
check below names one, and none can turn a 0 into a 1:

- **rounding**: numbers equal only after rounding to 6 decimals or chopping tiny values
  (``0.00000049`` ≡ ``0.0000004``, ``10^{-21}`` ≡ ``10^{-20}``). Exact values (integers,
  fractions, roots, π…) must be equal, and so must a decimal and a value it can write exactly
  (``0.5000001`` is not 1/2); a decimal for a value it cannot write (1/3, √2, π) must lie within
  the relative ``tolerance``. Expressions in variables are compared at fixed sample points.
- **relations** (``_math_relations``): every chain of equalities, wherever it is, must hold
  (``12 = 7``, ``(12 = 7)``; across ``\\approx``, to the digits written: ``\\frac{1}{2} \\approx
  0.9``) and state a value (``x - 5 = 7`` is an equation to solve).
- **several values**: values separated only by spacing (``_math_spacing``: ``7 \\quad 1``,
  ``7 \\thinspace 1``, ``7 \\quad (1)``; ``\\log_2 5`` and ``2 \\sqrt{3}`` are one value); a
  question mark anywhere in the answer; a number (digits or words: "three") inside ``\\text{}``
  (``2 \\text{ (or maybe 3)}`` reads as 2), or a hedge word in it ("or", "maybe",
  "approximately"…). Spacing and hedge words are allowed when the gold itself holds several
  values (a set, a system, a union of intervals): its comparison already needs every one.
- **after the answer**: a question mark right after it, or a hedge word followed within 40
  characters by another value ("The final answer is $7$. Or maybe $8$.").

Everything here runs in a pool child under a hard deadline; huge powers are only ever evaluated
numerically (``evalf``), never expanded.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from math_verify import LatexExtractionConfig, verify
from sympy import (
    And,
    Basic,
    Eq,
    FiniteSet,
    Float,
    Interval,
    Rational,
    Symbol,
    Tuple,
    UnevaluatedExpr,
    Union,
)
from sympy.core.relational import Relational
from sympy.matrices import MatrixBase

from reward_service.verifiers._math_parse import thousands
from reward_service.verifiers._math_spacing import group_end, spaced_values

_CONFIG = [LatexExtractionConfig()]
DIGITS = 60  # working precision of numeric comparisons
_EXACT = 1e-45  # relative difference under which two exact values evaluated to DIGITS agree
_SAMPLES = (Rational(2, 7), Rational(13, 11), Rational(-5, 3))  # values tried for variables

_GROUP = re.compile(r"\\(text\w*|math\w+|mbox|hbox|emph|operatorname)\s*\{")
_MAX_GROUPS = 64
_DIGIT_IN_TEXT = re.compile(r"(?<![\^_])\d")
_NOT_A_NUMBER = re.compile(r"[^\d\s.,]")
_HEDGE_WORD = re.compile(
    r"\b(?:or|either|maybe|perhaps|possibly|probably|likely|unsure|not sure|guess\w*|approx\w*"
    r"|roughly|around)\b",
    re.IGNORECASE,
)
_QUESTIONED = re.compile(r"[\s$.)\]}]*\?")
_A_VALUE = re.compile(r"\d|\$|\\boxed|\\\(")
_HEDGE_REACH = 40  # characters after a hedge word in which a second value makes it a hedge
_NUMBER_WORD = re.compile(
    r"\b(?:zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen"
    r"|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty"
    r"|seventy|eighty|ninety|hundred|thousand|million|billion|half|third|quarter)s?\b",
    re.IGNORECASE,
)


# --- text: several values in one answer -------------------------------------------------------


def _groups(answer: str) -> Iterator[tuple[str, str]]:
    """(command, contents) of the first ``\\text{…}``-like groups, nested braces included."""
    for found, _ in zip(_GROUP.finditer(answer), range(_MAX_GROUPS), strict=False):
        end = group_end(answer, found.end())
        yield found.group(1), answer[found.end() : end - 1]


def several_values(answer: str, gold_is_multi: bool) -> str | None:
    """Why ``answer`` holds more than one value (or doubts the one it holds), or ``None``."""
    if "?" in answer:
        return "a question mark in the answer"
    for command, text in _groups(answer):
        number = _DIGIT_IN_TEXT.search(text) or _NUMBER_WORD.search(text)
        if number and (not command.startswith("math") or _NOT_A_NUMBER.search(text)):
            return "a number inside \\text{}"  # \\mathbf{0} is a number, \\mathbf{(or 3)} two
        if not gold_is_multi and _HEDGE_WORD.search(text):
            return "alternatives inside \\text{}"
    if not gold_is_multi and spaced_values(thousands(answer)):  # 1 000 is one value
        return "several values separated by spacing"
    return None


def hedge_after(tail: str, gold_is_multi: bool) -> str | None:
    """Why the text after the final answer takes it back: a question mark right after it
    (``\\boxed{7}?``), or a hedge word followed closely by another value ("Or maybe $8$.", "or
    perhaps 8"); a hedge word with no value after it ("questions or need further help") is prose.
    """
    if _QUESTIONED.match(tail):
        return "a question after the final answer"
    if gold_is_multi:
        return None
    for word in _HEDGE_WORD.finditer(tail):
        if _A_VALUE.search(tail, word.end(), word.end() + _HEDGE_REACH):
            return "a hedge after the final answer"
    return None


# --- numbers: exact values exactly, decimals within a relative tolerance ----------------------


def _has_float(value: Basic) -> bool:
    return bool(value.has(Float))


def _percent_forms(value: Basic) -> list[Basic]:
    """``4\\%`` is read as 4·(1/100): math-verify lets it match both 4 and 0.04."""
    args: tuple[Any, ...] = getattr(value, "args", ())
    if len(args) == 2 and args[1] == UnevaluatedExpr(Rational(1, 100)):
        return [value.doit(), args[0]]
    return [value]


def _exact_rational(value: Basic) -> Rational | None:
    if isinstance(value, Rational):
        return value
    if isinstance(value, Float):
        return Rational(str(value))  # the decimal as written, not its binary approximation
    return None


def _terminates(value: Rational) -> bool:
    """``value`` has a finite decimal expansion (its denominator is 2^a·5^b)."""
    q = int(value.q)
    for factor in (2, 5):
        while q % factor == 0:
            q //= factor
    return q == 1


def close(a: Basic, b: Basic, tolerance: float) -> bool:
    """Two numbers equal: exactly, or within ``tolerance`` (relative) when one is written as a
    decimal and the other cannot be (1/3, √2, π): ``0.333333`` is 1/3, ``0.5000001`` is not 1/2."""
    decimal = _has_float(a) or _has_float(b)
    ra, rb = _exact_rational(a), _exact_rational(b)
    if ra is None or rb is None:
        return _numerically_close(a, b, tolerance if decimal else _EXACT)
    if not decimal or (_terminates(ra) and _terminates(rb)):
        return bool(ra == rb)
    return bool(abs(ra - rb) <= Rational(repr(tolerance)) * max(abs(ra), abs(rb)))


def _numerically_close(
    a: Basic, b: Basic, bound: float, point: dict[Any, Any] | None = None
) -> bool:
    """|a − b| ≤ bound·max(|a|, |b|) at ``DIGITS`` digits (variables set to ``point``)."""
    try:
        va, vb = a.evalf(DIGITS, subs=point), b.evalf(DIGITS, subs=point)
        return bool(abs(va - vb) <= bound * max(abs(va), abs(vb)))
    except (TypeError, ValueError, ArithmeticError):  # not a number after all
        return bool(a == b) if point is None else True


def _sampled(a: Basic, b: Basic, tolerance: float) -> bool:
    """Expressions in variables: numerically equal at each sample point, as :func:`close`."""
    names = sorted(a.free_symbols | b.free_symbols, key=str)
    bound = tolerance if _has_float(a) or _has_float(b) else _EXACT
    for shift in range(len(_SAMPLES)):
        point = {name: _SAMPLES[(i + shift) % len(_SAMPLES)] for i, name in enumerate(names)}
        if not _numerically_close(a, b, bound, point):
            return False
    return True


def _matched(a: FiniteSet, b: FiniteSet, tolerance: float) -> bool:
    left = list(b.args)
    for item in a.args:
        partner = next((other for other in left if agree(item, other, tolerance)), None)
        if partner is None:
            return False
        left.remove(partner)
    return True


def agree(a: Any, b: Any, tolerance: float) -> bool:
    """``a`` and ``b`` (sympy values math-verify found equal) equal without rounding; parts this
    cannot compare (relations, functions, strings) are left to math-verify's verdict."""
    if isinstance(a, MatrixBase) and isinstance(b, MatrixBase):
        return a.shape == b.shape and all(agree(x, y, tolerance) for x, y in zip(a, b, strict=True))
    if isinstance(a, Tuple) and isinstance(b, Tuple) and len(a) == len(b):
        return all(agree(x, y, tolerance) for x, y in zip(a.args, b.args, strict=True))
    if isinstance(a, FiniteSet) and isinstance(b, FiniteSet) and len(a) == len(b):
        return _matched(a, b, tolerance)
    if isinstance(a, Interval) and isinstance(b, Interval):
        ends = zip((a.start, a.end), (b.start, b.end), strict=True)
        return all(x == y or agree(x, y, tolerance) for x, y in ends)
    if isinstance(a, Union) and isinstance(b, Union) and len(a.args) == len(b.args):
        return all(agree(x, y, tolerance) for x, y in zip(a.args, b.args, strict=True))
    if not _comparable(a) or not _comparable(b):
        return True
    if a.free_symbols or b.free_symbols:
        return _sampled(a, b, tolerance)
    return any(close(x, y, tolerance) for x in _percent_forms(a) for y in _percent_forms(b))


def _comparable(value: Any) -> bool:
    excluded = Relational | And | Symbol
    return (
        isinstance(value, Basic)
        and not isinstance(value, excluded)
        and bool(value.is_number or value.free_symbols)
    )


def unwrapped(gold: Any, pred: Any) -> tuple[Any, Any]:
    """The values math-verify compares: a predicted ``x = 3`` is 3 against a gold that is not an
    equation, a gold ``x = 3`` is 3 against a prediction that is not one."""
    gold_eq, pred_eq = is_equation(gold), is_equation(pred)
    if pred_eq and not gold_eq:
        return gold, _last(pred).rhs
    if gold_eq and not pred_eq:
        return _last(gold).rhs, pred
    return gold, pred


def is_equation(value: Any) -> bool:
    if isinstance(value, And):
        return all(isinstance(arg, Eq) for arg in value.args)
    return isinstance(value, Eq)


def _last(value: Any) -> Any:
    return _last(value._unsorted_args[-1]) if isinstance(value, And) else value


def equal_by_math_verify(gold: list[Any], pred: list[Any]) -> bool:
    return bool(pred) and bool(verify(gold, pred, timeout_seconds=None))
