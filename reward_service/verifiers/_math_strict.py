"""What ``math`` checks in strict mode after math-verify has said "equal".

Math-verify is built to find equivalence; a policy is built to find its false positives. Each
check below names one, and none can turn a 0 into a 1:

- **rounding**: numbers equal only after rounding to 6 decimals or chopping tiny values
  (``0.00000049`` ≡ ``0.0000004``, ``10^{-21}`` ≡ ``10^{-20}``). Exact values (integers,
  fractions, roots, π…) must be equal, and so must a decimal and a value it can write exactly
  (``0.5000001`` is not 1/2); a decimal for a value it cannot write (1/3, √2, π) must lie within
  the relative ``tolerance``. Expressions in variables are compared at fixed sample points.
- **relations**: math-verify reduces ``12 = 7`` to its right-hand side; every side of a chain of
  ``=``/``\\approx``/``\\equiv`` must agree with the last one, except a first side that is a
  name (``x = 3``); an answer with more than 16 of them is rejected unread.
- **several values**: numbers separated only by spacing (``7 \\quad 1`` reads as 8; ``1 000`` is
  one number), a number inside ``\\text{}`` (``2 \\text{ (or maybe 3)}`` reads as 2), or a hedge
  word in it ("or", "maybe", "approximately"…). Spacing and hedge words are allowed when the
  gold itself holds several values: its set comparison already needs every one.

Everything here runs in a pool child under a hard deadline; huge powers are only ever evaluated
numerically (``evalf``), never expanded.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from math_verify import LatexExtractionConfig, parse, verify
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

_CONFIG = [LatexExtractionConfig()]
_DIGITS = 60  # working precision of numeric comparisons
_EXACT = 1e-45  # relative difference under which two exact values evaluated to _DIGITS agree
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
_BLANK = r"\\[hv]?phantom\{[^{}]*\}|\\(?:text\w*|mbox|mathrm)\s*\{[\s~]*\}|\{\s*\}"
_WIDE = (
    r"(?:\\(?:quad|qquad|[;: >]|enspace|enskip|medspace|thickspace|hskip\S*|kern\S*)|~"
    rf"|\\hspace\*?\{{[^{{}}]*\}}|{_BLANK})"
)
_NARROW = r"(?:\\[,!]|\s)"
_SPACED_VALUES = re.compile(
    rf"(?:[\d}})]\s*(?:{_WIDE}\s*)+[-+]?\s*(?:\d|\\[dt]?frac|\\sqrt))"
    rf"|(?:\d\s*(?:{_NARROW}\s*)+[-+]?\d)"
)
_EQUALITY = re.compile(r"\\(?:approx|equiv|doteq|simeq|cong|coloneqq)(?![A-Za-z])|:=|(?<![<>!\\])=")
_MAX_EQUALITIES = 16
_INEQUALITY = re.compile(r"\\(?:[lg]eq?|[lg]t|neq?|[lg]eqslant)\b|[<>]|!=")
_OPEN, _CLOSE = "([{", ")]}"


# --- text: several values in one answer -------------------------------------------------------


def _groups(answer: str) -> Iterator[tuple[str, str]]:
    """(command, contents) of the first ``\\text{…}``-like groups, nested braces included."""
    for found, _ in zip(_GROUP.finditer(answer), range(_MAX_GROUPS), strict=False):
        depth, end = 1, found.end()
        while end < len(answer) and depth:
            depth += {"{": 1, "}": -1}.get(answer[end], 0)
            end += 1
        yield found.group(1), answer[found.end() : end - 1]


def several_values(answer: str, gold_is_multi: bool) -> str | None:
    """Why ``answer`` holds more than one value, or ``None``."""
    for command, text in _groups(answer):
        digit = _DIGIT_IN_TEXT.search(text)
        if digit and (not command.startswith("math") or _NOT_A_NUMBER.search(text)):
            return "a number inside \\text{}"  # \\mathbf{0} is a number, \\mathbf{(or 3)} two
        if not gold_is_multi and _HEDGE_WORD.search(text):
            return "alternatives inside \\text{}"
    if not gold_is_multi and _SPACED_VALUES.search(thousands(answer)):  # 1 000 is one value
        return "several values separated by spacing"
    return None


# --- relations: x = 3 is fine, 12 = 7 and y = 5 = 7 are not -----------------------------------


def _top_level(text: str, separators: str) -> Iterator[str]:
    """``text`` split at the ``separators`` that are outside every bracket."""
    depth, start = 0, 0
    for index, char in enumerate(text):
        if char in _OPEN:
            depth += 1
        elif char in _CLOSE:
            depth = max(depth - 1, 0)
        elif char in separators and depth == 0 and text[index - 1 : index] != "\\":
            yield text[start:index]
            start = index + 1
    yield text[start:]


def _value(latex: str) -> Basic | None:
    found = parse(f"${latex}$", _CONFIG, fallback_mode="no_fallback", parsing_timeout=None)
    value = found[0] if found else None
    return value if isinstance(value, Basic | MatrixBase) else None


def relation_problem(answer: str, tolerance: float) -> str | None:
    """Why a chain of equalities in ``answer`` does not hold, or ``None``."""
    if len(_EQUALITY.findall(answer)) > _MAX_EQUALITIES:  # each side is parsed: keep it bounded
        return "more relations than can be checked"
    for item in _top_level(answer, ",;"):
        sides = _EQUALITY.split(item)
        if len(sides) < 2 or _INEQUALITY.search(item):
            continue  # no equality, or an inequality: math-verify compares those itself
        last = _value(sides[-1])
        if last is None:
            continue
        for side in sides[1:-1]:
            value = _value(side)
            if value is None or not agree(value, last, tolerance):
                return "a chain of relations whose sides disagree"
        if last.free_symbols:
            continue  # an equation (7 = 11a + c), not a value: math-verify compares it
        first = _value(sides[0])
        if first is not None and not first.free_symbols and not agree(first, last, tolerance):
            return "a relation whose sides disagree"
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
    """|a − b| ≤ bound·max(|a|, |b|) at ``_DIGITS`` digits (variables set to ``point``)."""
    try:
        va, vb = a.evalf(_DIGITS, subs=point), b.evalf(_DIGITS, subs=point)
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
    gold_eq, pred_eq = _is_equation(gold), _is_equation(pred)
    if pred_eq and not gold_eq:
        return gold, _last(pred).rhs
    if gold_eq and not pred_eq:
        return _last(gold).rhs, pred
    return gold, pred


def _is_equation(value: Any) -> bool:
    if isinstance(value, And):
        return all(isinstance(arg, Eq) for arg in value.args)
    return isinstance(value, Eq)


def _last(value: Any) -> Any:
    return _last(value._unsorted_args[-1]) if isinstance(value, And) else value


def equal_by_math_verify(gold: list[Any], pred: list[Any]) -> bool:
    return bool(pred) and bool(verify(gold, pred, timeout_seconds=None))
