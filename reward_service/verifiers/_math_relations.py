"""Relations in a math answer: every chain of equalities, wherever it is, must hold and state a
value.

Math-verify reduces ``12 = 7`` to its right-hand side. Every chain of ``=``/``\\approx``/
``\\equiv``, at the top level or inside any bracket (``(12 = 7)``, ``x = (12 = 7)``), must have
every side agree with the last one, except a first side that names the value (``x``, ``a_1``,
``AB``, ``f(3)``, ``(x, y)``); a first side that constrains it (``x - 5 = 7``, ``2x = 14``,
``x^2 = 49``) is an equation to solve, not a value, unless the gold is an equation too. An answer
with more than 16 relations is rejected unread (each side is parsed).

An approximation (``\\approx``) is a rounding, held to the digits it writes: a side before it
agrees with the last side when it rounds to it, within half a unit of the last side's final
digit (``\\frac{\\sqrt{3}}{3} \\approx 0.577``, ``\\frac{70}{9} \\approx 7.78``; not
``\\frac{1}{2} \\approx 0.9``, nor ``\\frac{70}{9} \\approx 7.77``, a truncation). A last side that
is not a plain decimal (``\\approx \\frac{7}{9}``) gives no such allowance: ``tolerance`` alone.
:func:`approximate_side` names the rounded value of an answer, which may be what equals a gold
that is itself rounded.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterator
from typing import Any

from math_verify import LatexExtractionConfig, parse
from sympy import Abs, Basic, FiniteSet, Function, Interval, Mul, Rational, Symbol, Tuple
from sympy.core.function import AppliedUndef
from sympy.matrices import MatrixBase

from reward_service.verifiers._math_strict import DIGITS, agree

_CONFIG = [LatexExtractionConfig()]
_EQUALITY = re.compile(r"\\(?:approx|equiv|doteq|simeq|cong|coloneqq)(?![A-Za-z])|:=|(?<![<>!\\])=")
_MAX_EQUALITIES = 16
_SIZING_END = re.compile(r"\\(?:right|[bB]igg?r?)?\s*$|^\s*\\(?:left|[bB]igg?l?)(?![A-Za-z])")
_INEQUALITY = re.compile(r"\\(?:[lg]eq?|[lg]t|neq?|[lg]eqslant)\b|[<>]|!=")
_OPEN, _CLOSE = "([{", ")]}"
_APPROX = re.compile(r"\\approx(?![A-Za-z])")
MIN_ROUNDED_DIGITS = 3
_SAME = Rational(1, 10**9)  # of a half unit: a float read of the written decimal is that decimal
_DECORATION = re.compile(r"\\(?:text|textrm|mathrm|mbox)\s*\{[^{}]*\}|\\\$|\\[,;:! ]|~")
_ROUNDED = re.compile(r"[-+]?(\d+)(?:\.(\d+))?")  # a plain decimal: what a rounding writes


def _enclosing(text: str) -> list[int]:
    """For each index, the index of the bracket that opens the innermost group holding it (-1 at
    the top level; a closing bracket: its own group's); brackets of any kind pair with the last
    open one (``[0, 1)``)."""
    owner, stack = [-1] * len(text), [-1]
    for index, char in enumerate(text):
        owner[index] = stack[-1]
        if char in _CLOSE and len(stack) > 1:
            stack.pop()
        elif char in _OPEN:
            stack.append(index)
    return owner


def _closing(text: str, owner: list[int], group: int) -> int:
    """The index of the bracket closing ``group`` (the text's end for the top level)."""
    if group >= 0:
        for index in range(group + 1, len(text)):
            if text[index] in _CLOSE and owner[index] == group:
                return index
    return len(text)


def _chains(answer: str) -> Iterator[tuple[list[str], list[str]]]:
    """The sides of every chain of equalities in ``answer``, wherever it is (at the top level or
    inside any bracket: ``(12 = 7)``), split at the commas and semicolons of its own level, with
    the relations between them (``=``, ``\\approx``…); a chain beside an inequality of its level
    is left to math-verify."""
    owner = _enclosing(answer)
    by_group: dict[int, list[re.Match[str]]] = {}
    for found in _EQUALITY.finditer(answer):
        by_group.setdefault(owner[found.start()], []).append(found)
    unequal = [found.start() for found in _INEQUALITY.finditer(answer)]
    for group, relations in by_group.items():
        start, end = group + 1, _closing(answer, owner, group)
        cuts = [
            index
            for index in range(start, end)
            if answer[index] in ",;" and owner[index] == group and answer[index - 1] != "\\"
        ]
        for left, right in zip([start - 1, *cuts], [*cuts, end], strict=True):
            inside = [found for found in relations if left < found.start() < right]
            if not inside or any(left < i < right and owner[i] == group for i in unequal):
                continue
            edges = [left + 1, *(x for found in inside for x in found.span()), right]
            sides = [_side(answer[edges[i] : edges[i + 1]]) for i in range(0, len(edges), 2)]
            yield sides, [found.group() for found in inside]


def _side(text: str) -> str:
    """A side without the sizing or escape that belonged to its bracket (``\\right``, ``\\``)."""
    return _SIZING_END.sub("", text)


def value_sides(answer: str) -> str:
    """The values ``answer`` states: of each top-level item, what follows its last top-level
    equality (``f'(x) = 3x^2`` states ``3x^2``; ``\\binom{8}{4} = 70`` states 70), joined."""
    owner = _enclosing(answer)
    cuts = [i for i, char in enumerate(answer) if char in ",;" and owner[i] == -1]
    starts = [0, *(cut + 1 for cut in cuts)]
    for found in _EQUALITY.finditer(answer):
        if owner[found.start()] == -1:
            starts[bisect_left(cuts, found.start())] = found.end()
    return ", ".join(answer[a:b] for a, b in zip(starts, [*cuts, len(answer)], strict=True))


def _value(latex: str) -> Basic | None:
    found = parse(f"${latex}$", _CONFIG, fallback_mode="no_fallback", parsing_timeout=None)
    value = found[0] if found else None
    return value if isinstance(value, Basic | MatrixBase) else None


def _a_name(value: Any) -> bool:
    """A left side that names the value (``x``, ``a_1``, ``AB``, ``f(2)``, ``|AB|``, ``(x, y)``),
    not an expression that constrains it (``x - 5``, ``2x``, ``x^2``)."""
    if isinstance(value, Symbol | Function | AppliedUndef):
        return True
    if isinstance(value, Mul):
        return all(isinstance(arg, Symbol) for arg in value.args)
    if isinstance(value, Abs):
        return _a_name(value.args[0])
    if isinstance(value, Tuple | FiniteSet):
        return all(_a_name(arg) for arg in value.args)
    if isinstance(value, Interval):
        return _a_name(value.start) and _a_name(value.end)
    return False


Rounding = tuple[Rational, Rational]
"""A plain decimal as written, exactly, and half a unit of its last digit."""


def _rounding(side: str) -> Rounding | None:
    """``side`` as a rounding, when it is a plain decimal, a unit in ``\\text{}``, a ``\\$`` or
    spacing aside (``7.78``: 7.78 ± 0.005; ``\\$7.78\\text{ dollars}``: the same; ``8``: 8 ±
    0.5), else ``None``."""
    found = _ROUNDED.fullmatch(_DECORATION.sub("", side).strip())
    if found is None:
        return None
    return Rational(found.group()), Rational(1, 2 * 10 ** len(found.group(2) or ""))


def _allowances(last: str, value: Basic, links: list[str]) -> list[Rounding | None]:
    """For each side of a chain, the rounding it must round to: the ``last`` side's (written
    ``last``, read as ``value``: the two must be the same number), when an ``\\approx`` lies
    between them, else none."""
    rounding = _rounding(last)
    if rounding is not None and not _rounds_to(value, (rounding[0], _SAME * rounding[1])):
        rounding = None  # the text read as a decimal is not the number math-verify read
    return [
        rounding if any(_APPROX.fullmatch(link) for link in links[index:]) else None
        for index in range(len(links) + 1)
    ]


def _rounds_to(value: Basic, rounding: Rounding | None) -> bool:
    """``value`` (a number) lies within half a unit of the decimal written (ties included)."""
    if rounding is None or value.free_symbols:
        return False
    written, half_unit = rounding
    try:
        return bool(abs(value.evalf(DIGITS) - written) <= half_unit)
    except (TypeError, ValueError, ArithmeticError):  # not a number after all
        return False


def _agrees(value: Basic, last: Basic, tolerance: float, rounding: Rounding | None) -> bool:
    """Sides agree: within ``tolerance``, or, across an ``\\approx``, by rounding to ``last``."""
    return agree(value, last, tolerance) or _rounds_to(value, rounding)


def fine_rounding(gold: str) -> bool:
    """Whether a gold may be a rounding that an exact answer's ``\\approx`` side is held to: a
    decimal with a fractional part and at least :data:`MIN_ROUNDED_DIGITS` significant digits
    (``7.78``, ``0.577``, ``12.5``). A wrong exact value rounds to such a gold only by a rare
    chance; an integer or a coarse decimal (``8``, ``0.5``) is as likely exact, and
    ``\\frac{5}{11} \\approx 0.5`` must not pass for a gold 1/2."""
    found = _ROUNDED.fullmatch(gold.strip())
    if found is None or not found.group(2):
        return False
    return len((found.group(1) + found.group(2)).lstrip("0")) >= MIN_ROUNDED_DIGITS


def approximate_side(answer: str) -> str | None:
    """The rounded value an answer states: the last side of its top-level chain when the
    relation before it is ``\\approx`` (``\\frac{70}{9} \\approx 7.78``: ``7.78``), else
    ``None``."""
    owner = _enclosing(answer)
    top = [found for found in _EQUALITY.finditer(answer) if owner[found.start()] == -1]
    if not top or not _APPROX.fullmatch(top[-1].group()):
        return None
    if any(answer[i] in ",;" and owner[i] == -1 for i in range(top[-1].end(), len(answer))):
        return None  # the last item of a list is not the whole answer's value
    return _side(answer[top[-1].end() :]).strip() or None


def relation_problem(answer: str, tolerance: float, gold_is_equation: bool = False) -> str | None:
    """Why a chain of equalities in ``answer`` does not hold, or is an equation to solve rather
    than a value (``x - 5 = 7`` says x = 12; allowed where the gold is an equation), or ``None``.
    A side before an ``\\approx`` need only round to the last side (the module's docstring)."""
    if len(_EQUALITY.findall(answer)) > _MAX_EQUALITIES:  # each side is parsed: keep it bounded
        return "more relations than can be checked"
    for sides, links in _chains(answer):
        last = _value(sides[-1])
        if last is None:
            continue
        allowances = _allowances(sides[-1], last, links)
        for side, allowance in zip(sides[1:-1], allowances[1:-1], strict=True):
            value = _value(side)
            if value is None or not _agrees(value, last, tolerance, allowance):
                return "a chain of relations whose sides disagree"
        if last.free_symbols:
            continue  # an equation (7 = 11a + c), not a value: math-verify compares it
        first = _value(sides[0])
        if first is None:
            continue
        if not first.free_symbols and not _agrees(first, last, tolerance, allowances[0]):
            return "a relation whose sides disagree"
        if first.free_symbols and not gold_is_equation and not _a_name(first):
            return "an equation to solve, not a value"
    return None
