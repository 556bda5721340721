"""What ``math`` checks in strict mode after math-verify has said "equal".

Math-verify is built to find equivalence; a policy is built to find its false positives. Each
check below names one, and none can turn a 0 into a 1:

- **rounding**: numbers equal only after rounding to 6 decimals or chopping tiny values
  (``0.00000049`` ≡ ``0.0000004``, ``10^{-21}`` ≡ ``10^{-20}``). Exact values (integers,
  fractions, roots, π…) must be equal, and so must a decimal and a value it can write exactly
  (``0.5000001`` is not 1/2); a decimal for a value it cannot write (1/3, √2, π) must lie within
  the relative ``tolerance``. Expressions in variables are compared at fixed sample points.
- **relations**: math-verify reduces ``12 = 7`` to its right-hand side. Every chain of
  ``=``/``\\approx``/``\\equiv``, found wherever it is (at the top level or inside any bracket:
  ``(12 = 7)``, ``x = (12 = 7)``), must have every side agree with the last one, except a first
  side that names the value (``x``, ``a_1``, ``AB``, ``f(3)``, ``(x, y)``); a first side that
  constrains it (``x - 5 = 7``, ``2x = 14``, ``x^2 = 49``) is an equation to solve, not a value,
  unless the gold is an equation too. An answer with more than 16 relations is rejected unread.
- **several values**: values separated only by spacing, read by a tokenizer (``7 \\quad 1`` reads
  as 8, ``7 \\quad (1)`` as 7): every spacing command (``\\,``, ``\\thinspace``, ``\\;``,
  ``\\quad``, ``\\enspace``, ``\\hspace{}``, ``\\kern``, ``~``, ``\\displaystyle``, an empty
  ``\\text{ }`` or ``{}``, a phantom, any Unicode space); a subscript or superscript is not a value
  of its own (``\\log_2 5``), and a narrow space may separate a number from what multiplies it
  (``2 \\sqrt{3}``), never from another number (``1 000`` and ``14{,}916`` are grouped first). A
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
from bisect import bisect_left
from collections.abc import Iterator
from typing import Any

from math_verify import LatexExtractionConfig, parse, verify
from sympy import (
    Abs,
    And,
    Basic,
    Eq,
    FiniteSet,
    Float,
    Function,
    Interval,
    Mul,
    Rational,
    Symbol,
    Tuple,
    UnevaluatedExpr,
    Union,
)
from sympy.core.function import AppliedUndef
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
_QUESTIONED = re.compile(r"[\s$.)\]}]*\?")
_A_VALUE = re.compile(r"\d|\$|\\boxed|\\\(")
_HEDGE_REACH = 40  # characters after a hedge word in which a second value makes it a hedge
_NUMBER_WORD = re.compile(
    r"\b(?:zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen"
    r"|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty"
    r"|seventy|eighty|ninety|hundred|thousand|million|billion|half|third|quarter)s?\b",
    re.IGNORECASE,
)
_EQUALITY = re.compile(r"\\(?:approx|equiv|doteq|simeq|cong|coloneqq)(?![A-Za-z])|:=|(?<![<>!\\])=")
_MAX_EQUALITIES = 16
_SIZING_END = re.compile(r"\\(?:right|[bB]igg?r?)?\s*$|^\s*\\(?:left|[bB]igg?l?)(?![A-Za-z])")
_INEQUALITY = re.compile(r"\\(?:[lg]eq?|[lg]t|neq?|[lg]eqslant)\b|[<>]|!=")
_OPEN, _CLOSE = "([{", ")]}"


# --- text: several values in one answer -------------------------------------------------------


def _groups(answer: str) -> Iterator[tuple[str, str]]:
    """(command, contents) of the first ``\\text{…}``-like groups, nested braces included."""
    for found, _ in zip(_GROUP.finditer(answer), range(_MAX_GROUPS), strict=False):
        end = _group_end(answer, found.end())
        yield found.group(1), answer[found.end() : end - 1]


def _group_end(text: str, start: int) -> int:
    """The index after the ``}`` closing the group whose contents begin at ``start``."""
    depth, end = 1, start
    while end < len(text) and depth:
        depth += {"{": 1, "}": -1}.get(text[end], 0)
        end += 1
    return end


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
    if not gold_is_multi and _spaced_values(thousands(answer)):  # 1 000 is one value
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


# Spacing, read as a tokenizer: values that only spacing separates (``7 \quad 1`` reads as 8,
# ``7 \quad (1)`` as 7) are several values; a subscript or superscript is not a value of its own
# (``\log_2 5`` is one value), and a narrow space may separate a number from what multiplies it
# (``2 \sqrt{3}``), never from another number.
_TOKEN = re.compile(r"\d+(?:\.\d+)?|\\[A-Za-z]+\*?|\\.|\s+|.", re.DOTALL)
_NARROW_COMMANDS = frozenset({"\\,", "\\!", "\\thinspace", "\\negthinspace"})
_WIDE_COMMANDS = frozenset({
    "\\;", "\\:", "\\>", "\\ ", "\\quad", "\\qquad", "\\enspace", "\\enskip",
    "\\medspace", "\\thickspace", "\\negmedspace", "\\negthickspace", "\\space",
    "\\nobreakspace", "\\hfill", "\\hfil", "\\newline", "\\displaystyle",
    "\\textstyle", "\\scriptstyle", "\\scriptscriptstyle", "\\smallskip", "\\medskip",
    "\\bigskip", "\\allowbreak", "\\nolinebreak", "~",
})  # fmt: skip
_TRANSPARENT = re.compile(
    r"\\(?:left|right|middle|[bB]igg?[lrm]?|mathbf|boldsymbol|bm|mathit|mathsf|mathtt|mathnormal"
    r"|textbf|textit)$"
)
_PARENTHESISED = re.compile(r"\(\s*[-+]?\s*\d+(?:\.\d+)?\s*\)")
_OPENS_NUMBER = re.compile(r"\s*[-+]?\s*\d")
_ARGUMENT_SPACES = frozenset({"\\hspace", "\\hspace*", "\\phantom", "\\hphantom", "\\vphantom",
                              "\\mspace", "\\hskip", "\\mskip", "\\kern", "\\mkern"})  # fmt: skip
_DIMENSION = re.compile(r"\s*[-+]?\s*(?:\d*\.)?\d+\s*[a-z]{2}|\s*\{[^{}]*\}")
_OPENING = re.compile(r"\s*\{")
_BLANK_GROUP = re.compile(r"\{(?:\s|~|\\[,;:! ]|\\q?quad(?![A-Za-z]))*\}")
_TEXTS = frozenset({"\\text", "\\textrm", "\\mbox", "\\hbox", "\\mathrm", "\\textnormal"})
_OPERATORS = frozenset({
    "\\times", "\\cdot", "\\div", "\\pm", "\\mp", "\\le", "\\leq", "\\ge", "\\geq", "\\lt",
    "\\gt", "\\ne", "\\neq", "\\approx", "\\equiv", "\\sim", "\\simeq", "\\cong", "\\in",
    "\\notin", "\\cup", "\\cap", "\\setminus", "\\to", "\\rightarrow", "\\Rightarrow",
    "\\implies", "\\iff", "\\mid", "\\colon", "\\circ", "\\degree", "\\prime", "\\dots",
    "\\ldots", "\\cdots", "\\land", "\\lor", "\\wedge", "\\vee", "\\end", "\\begin",
    "\\over", "\\choose", "\\right", "\\rangle", "\\rfloor", "\\rceil", "\\rvert", "\\rVert",
})  # fmt: skip


class _Spacing:
    """The state of :func:`_spaced_values`' one pass."""

    def __init__(self) -> None:
        self.prev: str | None = None  # what the last value was: "number", "close", "script"
        self.gap: str | None = None  # "narrow" or "wide": the spacing since it
        self.script = False  # the next value is a subscript or superscript

    def space(self, width: str) -> None:
        if self.prev is not None and self.gap != "wide":
            self.gap = width

    def value(self, kind: str, *, a_number: bool) -> bool:
        """A value starts here (``a_number``: a number or a parenthesised one): whether it is a
        second value after spacing."""
        second = (self.gap == "wide" and self.prev in ("number", "close", "script")) or (
            self.gap == "narrow" and a_number and self.prev == "number"
        )
        self.prev, self.gap, self.script = ("script" if self.script else kind), None, False
        return second

    def other(self, kind: str | None = None) -> None:
        self.prev, self.gap, self.script = kind, None, False


def _signs_next(answer: str, found: re.Match[str], gap: str | None) -> bool:
    """``found`` is a sign that starts a value after spacing (``7 \\quad -1``, ``7 -1``), not
    an operator (``7 + 1``)."""
    if found.group() not in ("+", "-") or gap is None:
        return False
    return gap == "wide" or answer[found.end() : found.end() + 1].isdigit()


def _spaced_values(answer: str) -> bool:
    state, skip_to = _Spacing(), 0
    for found in _TOKEN.finditer(answer):
        token = found.group()
        if found.start() < skip_to:
            continue
        if token.isspace() or token in _NARROW_COMMANDS:
            state.space("narrow")
        elif token in _WIDE_COMMANDS:
            state.space("wide")
        elif _TRANSPARENT.match(token) or _signs_next(answer, found, state.gap):
            continue  # sizing and fonts; a sign after spacing that starts the next value
        elif token in _ARGUMENT_SPACES:
            dimension = _DIMENSION.match(answer, found.end())
            skip_to = dimension.end() if dimension else found.end()
            state.space("wide")
        elif token in _TEXTS or token == "{":
            opened = _OPENING.match(answer, found.start() if token == "{" else found.end())
            blank = opened and _BLANK_GROUP.match(answer, opened.end() - 1)
            if blank:
                skip_to = blank.end()
                state.space("wide")  # \\text{ } or {}: spacing
            elif token != "{":
                skip_to = _group_end(answer, opened.end()) if opened else found.end()
                state.other()  # 2 \\text{ apples}
            elif state.script:
                skip_to = _group_end(answer, found.end())
                state.value("script", a_number=False)  # x^{2}: one value
        elif token[0].isdigit():
            if state.value("number", a_number=True):
                return True
        elif token == "(" and state.gap is not None:
            number = _PARENTHESISED.match(answer, found.start())
            if (number or _OPENS_NUMBER.match(answer, found.end())) and state.value(
                "other", a_number=number is not None
            ):
                return True
        elif token[1:2].isalpha() and token[:1] == "\\" and token not in _OPERATORS:
            if state.value("other", a_number=False):  # \\frac, \\sqrt, \\log, \\pi…
                return True
            state.other()
        elif token in (")", "]", "}", "\\}", "\\rbrace"):
            state.other("close")
        elif token in ("^", "_"):
            state.other(state.prev)
            state.script = True
        else:
            state.other()
    return False


# --- relations: x = 3 is fine, 12 = 7, (12 = 7), y = 5 = 7 and x - 5 = 7 are not --------------


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
