"""What ``math`` checks in strict mode about the *form* of an answer math-verify found equal.

An answer can be equal to the gold by value and still not be an answer: the question restated
(``\\dbinom{8}{4}`` for "Compute $\\dbinom{8}{4}$.", gold 70), or an expression left for the grader
to evaluate. Each check below names one; none can turn a 0 into a 1, and each stands down where
the gold is written the same way (a gold that is itself unreduced, unevaluated or unsimplified
says that form is wanted):

- **restates the question**: the answer, spacing aside, is a math expression of the prompt (a
  ``$…$`` span, or one side of a relation in one) with an operation in it (not a bare number,
  which any answer may share with its question) and is not the gold as written; or the whole
  answer region is the prompt.
- **not in final form**: an unevaluated binomial, integral, derivative, limit, sum, product,
  factorial, logarithm, trigonometric or rounding function (``\\binom``, ``\\int``,
  ``\\frac{d}{dx}``, ``\\lim``, ``\\sum``, ``4!``, ``\\log_2 8``, ``\\sin``, ``\\lfloor``…) the gold
  does not have; a root that simplifies (``\\sqrt{50}``, ``\\sqrt{16}``, ``\\sqrt[3]{16}``: an
  integer radicand with a square, cube… factor); an unreduced integer fraction (``\\frac{6}{4}``,
  ``6/4``, ``\\frac{5}{1}``) where the gold has none; an expanded polynomial where the gold is a
  product (``x^2 - 5x + 6`` for ``(x - 2)(x - 3)``).
- **intervals and root sets**: an interval (or an inequality) for a gold set of roots, or a set
  of roots (``x = 2, x = 3``, ``\\{2, 3\\}``, ``2, 3``) for a gold interval, is wrong whatever
  math-verify says. The reverse kind of check *accepts* (:func:`same_set`): an inequality in one
  variable denotes the set it solves to, and is equal to an interval gold that is that set
  (``2 < x < 3`` for ``(2, 3)``); a gold ``(a, b)`` is read as an interval unless the prompt asks
  for a point (:func:`asks_for_point`: "point", "coordinates", "ordered pair"…), where an
  inequality is not accepted for it.

Everything is linear in the answer, the gold and the prompt (one pass each, no backtracking
patterns); the one sympy call (``as_set`` of an inequality) runs in the pool child like the rest.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

from sympy import And, Eq, FiniteSet, Interval, Mul, Pow, Symbol, Union
from sympy.core.relational import Relational

RESTATES = "restates the question"
_SPACING = re.compile(
    r"\\(?:left|right|displaystyle|textstyle|[,;:! ]|quad|qquad|enspace|thinspace|medspace"
    r"|thickspace)(?![A-Za-z])|~|\s"
)
_ALIASES = (
    ("\\dbinom", "\\binom"),
    ("\\tbinom", "\\binom"),
    ("\\dfrac", "\\frac"),
    ("\\tfrac", "\\frac"),
    ("\\cdot", "\\times"),
)
_DELIMITER = re.compile(r"(?<!\\)\$\$?|\\[()\[\]]")
_CLOSES = {"$": "$", "$$": "$$", "\\(": "\\)", "\\[": "\\]"}
_OPERATION = re.compile(
    r"(?<=[\w})\]])\s*[-+*/^!=]|\\(?!frac|sqrt|pi\b|infty|circ|%|text|mathrm|left|right)[A-Za-z]+"
)
_SIDES = re.compile(r"=|\\(?:approx|equiv)(?![A-Za-z])|[,;]")
_PLAIN_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")

_UNEVALUATED = {
    "binomial": re.compile(r"\\[dt]?binom(?![A-Za-z])|\\choose(?![A-Za-z])"),
    "integral": re.compile(r"\\i*int(?![A-Za-z])|\\oint(?![A-Za-z])"),
    "derivative": re.compile(
        r"\\[dt]?frac\s*\{\s*(?:\\mathrm\{d\}|d|\\partial)[^{}]*\}\s*\{\s*(?:\\mathrm\{d\}|d|\\partial)"
        r"|\\partial(?![A-Za-z])|\\prime(?![A-Za-z])|\\nabla(?![A-Za-z])|[A-Za-z)]'"
    ),
    "limit": re.compile(r"\\lim(?:inf|sup)?(?![A-Za-z])"),
    "sum": re.compile(r"\\sum(?![A-Za-z])"),
    "product": re.compile(r"\\prod(?![A-Za-z])"),
    "factorial": re.compile(r"[\d})]\s*!(?!=)"),
    "logarithm": re.compile(r"\\(?:log|ln|lg)(?![A-Za-z])"),
    "trigonometric function": re.compile(r"\\(?:arc)?(?:sin|cos|tan|cot|sec|csc)h?(?![A-Za-z])"),
    "rounding or extremum": re.compile(
        r"\\(?:lfloor|lceil|max|min|gcd|operatorname\s*\{\s*(?:lcm|gcd)\s*\})(?![A-Za-z])"
    ),
}
_ROOT = re.compile(r"\\sqrt\s*(?:\[\s*(\d+)\s*\])?\s*(?:\{\s*(\d+)\s*\}|(\d))")
_FRACTION = re.compile(
    r"\\[dt]?frac\s*(?:\{\s*-?\s*(\d+)\s*\}|(\d))\s*(?:\{\s*-?\s*(\d+)\s*\}|(\d))"
    r"|(?<![\d.}\\^_])(\d+)\s*/\s*(\d+)(?![\d.])"
)
_DECIMAL = re.compile(r"\d\.\d")
_MAX_ROOTS = 16  # roots looked at per answer (each may take 10⁴ divisions)
_MAX_ROOT = 10**8  # larger radicands are not factored (bounded work)

_SET_BRACES = re.compile(r"\\\{|\\lbrace(?![A-Za-z])")
_SURE_INTERVAL = re.compile(r"[\[\]]|\\infty|\\cup|\\in(?![A-Za-z])")
_POINT_WORDS = re.compile(
    r"\b(?:point|points|coordinates?|ordered\s+pair|pair|vertex|vertices|cent(?:er|re)|midpoint"
    r"|intersect\w*|focus|foci|tuple|vector)\b",
    re.IGNORECASE,
)
_INTERVAL_WORDS = re.compile(
    r"\b(?:interval|inequalit\w*|domain|range|increasing|decreasing|values\s+of)\b|[<>]"
    r"|\\(?:[lg]eq?|[lg]t|[lg]eqslant)(?![A-Za-z])",
    re.IGNORECASE,
)


def flat(latex: str) -> str:
    """``latex`` spacing, sizing and braces aside, with notational aliases unified
    (``\\dbinom{8}{4}`` and ``\\binom 84`` are both ``\\binom84``)."""
    text = _SPACING.sub("", latex)
    for alias, name in _ALIASES:
        text = text.replace(alias, name)
    return text.replace("{", "").replace("}", "").rstrip(".")


# --- restating the question ------------------------------------------------------------------


def _prompt_math(prompt: str) -> Iterator[str]:
    """The contents of the prompt's ``$…$``, ``$$…$$``, ``\\(…\\)`` and ``\\[…\\]``, delimiters
    paired in one pass (an unclosed one costs nothing more)."""
    opened: re.Match[str] | None = None
    for found in _DELIMITER.finditer(prompt):
        token = found.group()
        if opened is None:
            if token in ("$", "$$", "\\(", "\\["):
                opened = found
        elif token == _CLOSES[opened.group()]:
            yield prompt[opened.end() : found.start()]
            opened = None


def restates(answer: str, region: str, gold_text: str, prompt: str | None) -> str | None:
    """:data:`RESTATES` when the answer is an expression the prompt poses, else ``None``."""
    if not prompt:
        return None
    if flat(region) and flat(region) == flat(prompt):
        return RESTATES
    written = flat(answer)
    if not written or written == flat(gold_text) or not _OPERATION.search(answer):
        return None
    if _PLAIN_NUMBER.fullmatch(written):
        return None
    for span in _prompt_math(prompt):
        if written in (flat(side) for side in _SIDES.split(span)):
            return RESTATES
    return None


# --- final form --------------------------------------------------------------------------------


def _kinds(latex: str) -> set[str]:
    return {kind for kind, pattern in _UNEVALUATED.items() if pattern.search(latex)}


def _has_power_factor(n: int, k: int) -> bool:
    """``n`` has a factor ``m^k`` with m > 1 (so its k-th root simplifies); radicands past
    ``_MAX_ROOT`` are not factored (at most 10⁴ trial divisions)."""
    if n > _MAX_ROOT:
        return False
    m = 2
    while m**k <= n:
        if n % m**k == 0:
            return True
        m += 1
    return False


def _simplifiable_roots(latex: str) -> bool:
    for found, _ in zip(_ROOT.finditer(latex), range(_MAX_ROOTS), strict=False):
        index = int(found.group(1) or 2)
        radicand = int(found.group(2) or found.group(3))
        if index >= 2 and (radicand in (0, 1) or _has_power_factor(radicand, index)):
            return True
    return False


def _unreduced_fractions(latex: str) -> bool:
    for found in _FRACTION.finditer(latex):
        groups = found.groups()
        top = groups[0] or groups[1] or groups[4]
        bottom = groups[2] or groups[3] or groups[5]
        if top is None or bottom is None:
            continue
        p, q = int(top), int(bottom)
        if q != 0 and (q == 1 or math.gcd(p, q) > 1):
            return True
    return False


def _reduced_fraction(gold_text: str) -> bool:
    """The gold is written as a fraction (or a decimal) none of which is unreduced: then so must
    the answer be. An integer gold says nothing of how a fraction equal to it is written
    (``\\frac{3}{3}`` for 1 is left to the value check)."""
    written = _FRACTION.search(gold_text) is not None or _DECIMAL.search(gold_text) is not None
    return written and not _unreduced_fractions(gold_text)


def not_final(answer: str, gold_text: str, gold: Any, pred: Any) -> str | None:
    """Why ``answer`` (as written) is not in final form where the gold is, else ``None``."""
    if left := sorted(_kinds(answer) - _kinds(gold_text)):
        return f"not in final form: an unevaluated {left[0]}"
    if _simplifiable_roots(answer) and not _simplifiable_roots(gold_text):
        return "not in final form: a root that simplifies"
    if _unreduced_fractions(answer) and _reduced_fraction(gold_text):
        return "not in final form: an unreduced fraction"
    if _factored(gold) and not _factored(pred) and _polynomial_sum(pred):
        return "not in final form: expanded where the gold is factored"
    return None


def _rhs(value: Any) -> Any:
    return value.rhs if isinstance(value, Eq) else value


def _factored(value: Any) -> bool:
    """A product of polynomials, one a sum: ``(x - 2)(x - 3)``, ``x(x + 1)``, ``(x + 1)^2``; a
    number times a sum (``\\frac{x + 2}{7}``) is not what "factored" asks for."""
    value = _rhs(value)
    if isinstance(value, Pow):
        return bool(
            value.base.is_Add and value.base.free_symbols and value.exp.is_Integer and value.exp > 1
        )
    if not isinstance(value, Mul):
        return False
    variable = [part for part in value.args if part.free_symbols]
    if len(variable) == 1:
        return _factored(variable[0])
    return len(variable) > 1 and any(part.is_Add or _factored(part) for part in variable)


def _polynomial_sum(value: Any) -> bool:
    value = _rhs(value)
    return bool(getattr(value, "is_Add", False) and value.free_symbols)


def form_problem(
    answer: str, region: str, gold_text: str, gold: Any, pred: Any, prompt: str | None
) -> str | None:
    """Why ``answer`` (the values it states) is not an answer: the question restated, or a form
    that is not final; else ``None``."""
    return restates(answer, region, gold_text, prompt) or not_final(answer, gold_text, gold, pred)


# --- intervals, inequalities and root sets ------------------------------------------------------


def asks_for_point(prompt: str | None) -> bool:
    """The prompt asks for a point (so a gold ``(a, b)`` is a pair, not an interval)."""
    if not prompt:
        return False
    return _POINT_WORDS.search(prompt) is not None and _INTERVAL_WORDS.search(prompt) is None


def _is_interval(value: Any) -> bool:
    if isinstance(value, Eq):  # x \in (2, 3) is read as x = (2, 3)
        value = value.rhs
    if isinstance(value, Union):
        return all(isinstance(part, Interval) for part in value.args)
    return isinstance(value, Interval)


def _inequality(value: Any) -> bool:
    """An inequality of one variable against numbers: ``x > 2``, ``2 < x < 3``,
    ``x < 1 \\text{ or } x > 2`` (solving ``2x > 4`` is left undone: bounded work)."""
    if isinstance(value, FiniteSet):
        return len(value) > 0 and all(_inequality(part) for part in value.args)
    if isinstance(value, And):
        return all(_inequality(part) for part in value.args)
    return (
        isinstance(value, Relational)
        and value.rel_op in ("<", "<=", ">", ">=")
        and len(value.free_symbols) == 1
        and all(isinstance(side, Symbol) or not side.free_symbols for side in value.args)
    )


def _roots(value: Any) -> bool:
    """Several values of one unknown: ``\\{2, 3\\}``, ``2, 3``, ``x = 2, x = 3``."""
    if not isinstance(value, FiniteSet) or len(value) < 2:
        return False
    parts = value.args
    if all(isinstance(part, Eq) and isinstance(part.lhs, Symbol) for part in parts):
        return len({part.lhs for part in parts}) == 1 and not any(
            _is_interval(part.rhs) for part in parts
        )
    return all(getattr(part, "is_number", False) for part in parts)


def kind_problem(
    gold: Any, pred: Any, gold_text: str, answer: str, prompt: str | None
) -> str | None:
    """Why ``pred`` denotes another kind of set than ``gold``, else ``None``. A bare list
    (``2, 3``, ``{2, 3}``: LaTeX braces only group) for a gold ``(a, b)`` that may be a point is
    left to math-verify; written as a set (``\\{2, 3\\}``) or as roots (``x = 2, x = 3``) it is
    not an interval, nor is a bare list where the gold is surely one (``[``, ``\\infty``,
    ``\\cup``, or a prompt about an inequality or an interval)."""
    if _is_interval(gold) and _roots(pred):
        explicit = isinstance(next(iter(pred.args)), Eq) or _SET_BRACES.search(answer)
        if explicit or _SURE_INTERVAL.search(gold_text) or _about_intervals(prompt):
            return "a set of roots where the gold is an interval"
    if _roots(gold) and (_is_interval(pred) or _inequality(pred)):
        return "an interval where the gold is a set of roots"
    return None


def _about_intervals(prompt: str | None) -> bool:
    return bool(prompt) and _INTERVAL_WORDS.search(prompt or "") is not None


def _as_set(value: Any) -> Any:
    if isinstance(value, FiniteSet):
        return Union(*(_as_set(part) for part in value.args))
    symbol = next(iter(value.free_symbols))
    return value.as_set() if symbol.is_real is not False else None


def same_set(gold: Any, pred: Any, point: bool) -> bool:
    """An inequality that solves to the gold interval (or the reverse): equal."""
    if point:
        return False
    for interval, inequality in ((gold, pred), (pred, gold)):
        if _is_interval(interval) and not isinstance(interval, Eq) and _inequality(inequality):
            try:
                return bool(_as_set(inequality) == interval)
            except (TypeError, ValueError, NotImplementedError, AttributeError):
                return False
    return False
