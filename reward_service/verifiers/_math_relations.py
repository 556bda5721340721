"""Relations in a math answer: every chain of equalities, wherever it is, must hold and state a
value.

Math-verify reduces ``12 = 7`` to its right-hand side. Every chain of ``=``/``\\approx``/
``\\equiv``, at the top level or inside any bracket (``(12 = 7)``, ``x = (12 = 7)``), must have
every side agree with the last one, except a first side that names the value (``x``, ``a_1``,
``AB``, ``f(3)``, ``(x, y)``); a first side that constrains it (``x - 5 = 7``, ``2x = 14``,
``x^2 = 49``) is an equation to solve, not a value, unless the gold is an equation too. An answer
with more than 16 relations is rejected unread (each side is parsed).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterator
from typing import Any

from math_verify import LatexExtractionConfig, parse
from sympy import Abs, Basic, FiniteSet, Function, Interval, Mul, Symbol, Tuple
from sympy.core.function import AppliedUndef
from sympy.matrices import MatrixBase

from reward_service.verifiers._math_strict import agree

_CONFIG = [LatexExtractionConfig()]
_EQUALITY = re.compile(r"\\(?:approx|equiv|doteq|simeq|cong|coloneqq)(?![A-Za-z])|:=|(?<![<>!\\])=")
_MAX_EQUALITIES = 16
_SIZING_END = re.compile(r"\\(?:right|[bB]igg?r?)?\s*$|^\s*\\(?:left|[bB]igg?l?)(?![A-Za-z])")
_INEQUALITY = re.compile(r"\\(?:[lg]eq?|[lg]t|neq?|[lg]eqslant)\b|[<>]|!=")
_OPEN, _CLOSE = "([{", ")]}"


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


def _chains(answer: str) -> Iterator[list[str]]:
    """The sides of every chain of equalities in ``answer``, wherever it is: at the top level or
    inside any bracket (``(12 = 7)``), split at the commas and semicolons of its own level; a
    chain beside an inequality of its level is left to math-verify."""
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
            yield [_side(answer[edges[i] : edges[i + 1]]) for i in range(0, len(edges), 2)]


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


def relation_problem(answer: str, tolerance: float, gold_is_equation: bool = False) -> str | None:
    """Why a chain of equalities in ``answer`` does not hold, or is an equation to solve rather
    than a value (``x - 5 = 7`` says x = 12; allowed where the gold is an equation), or ``None``."""
    if len(_EQUALITY.findall(answer)) > _MAX_EQUALITIES:  # each side is parsed: keep it bounded
        return "more relations than can be checked"
    for sides in _chains(answer):
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
        if first is None:
            continue
        if not first.free_symbols and not agree(first, last, tolerance):
            return "a relation whose sides disagree"
        if first.free_symbols and not gold_is_equation and not _a_name(first):
            return "an equation to solve, not a value"
    return None
