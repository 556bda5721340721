"""How ``math`` reads its two sides: math-verify's parse configs, how numbers are written
(``1e-7``, ``1 000``, a decimal comma), the gold with its string fallback, and the final answer
of a response in strict mode."""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from latex2sympy2_extended import NormalizationConfig
from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse
from math_verify.parser import extract_match, lazy_latex_regex
from sympy import And, Basic, FiniteSet, Union, nan, zoo

from reward_service.contract.errors import InvalidInputError
from reward_service.verifiers._math_prose import HEDGE as ANCHORED_HEDGE
from reward_service.verifiers._math_prose import anchored_number, currency_amount
from reward_service.verifiers._text import (
    Boxed,
    boxed,
    boxed_spans,
    scalar_text,
    without_vision_tokens,
)

GOLD_CONFIG = [LatexExtractionConfig()]
PRED_CONFIG = [LatexExtractionConfig(boxed_match_priority=0)]
VTRIUNE_GOLD = [LatexExtractionConfig(), ExprExtractionConfig()]  # parse()'s default
VTRIUNE_PRED = [
    LatexExtractionConfig(
        normalization_config=NormalizationConfig(
            nits=False, malformed_operators=False, basic_latex=True, boxed="all", units=True
        ),
        boxed_match_priority=0,
        try_extract_without_anchor=False,
    )
]
DETAIL_CHARS = 200
_DELIMITED = re.compile(r"\$|\\\(|\\\[")
_USABLE = re.compile(r"\d|\\[A-Za-z]")
_SEVERAL = re.compile(r"[,;]|\\text\s*\{\s*(?:and|or)\s*\}|\b(?:and|or)\b")
_TEXT_GROUP = re.compile(r"\\(?:text\w*|mbox|mathrm)\s*\{([^{}]*)\}")
_NOISE = re.compile(r"\\left|\\right|\\[,;:! ]|~|\$|\s")
_GROUPED = re.compile(
    r"(?<![\d.,])\d{1,3}(?:(?:\\[,!]|\\ |~| |\{,\}|\\thinspace\s?)\d{3})+(?:\.\d+)?(?![\d.])"
)
_GROUP_SPACE = re.compile(r"\\[,!]|\\ |~| |\{,\}|\\thinspace\s?")
_SCIENTIFIC = re.compile(r"(?<![\w.\\])(\d+(?:\.\d+)?)[eE]([+-]?\d+)(?![\w.])")
_MAX_EXPONENT = 1000
_DECIMAL_COMMA = re.compile(r"(-?)(\d+),(\d+)")
_THOUSANDS = re.compile(r"[1-9]\d{0,2}")
_LINE_BREAK = re.compile(r"\\+\s*$")  # a trailing \\ (or \) left from a LaTeX table
_CURRENCY = re.compile(r"\\\$")  # \$10: a dollar sign, not a math delimiter
_LETTER = re.compile(r"\(?([A-Za-z])\)?")


def scientific(text: str) -> str | None:
    """``4.9e-7`` as ``4.9\\times 10^{-7}`` (a LaTeX parser reads it as 4.9·e − 7, and
    ``1e1000`` as 1000·e); ``None`` when an exponent exceeds ±1000."""
    if not any(c in text for c in "eE"):
        return text
    if any(abs(int(m.group(2))) > _MAX_EXPONENT for m in _SCIENTIFIC.finditer(text)):
        return None
    return _SCIENTIFIC.sub(lambda m: f"{m.group(1)}\\times 10^{{{int(m.group(2))}}}", text)


def thousands(text: str) -> str:
    """``1 000``, ``12\\,345`` or ``14{,}916`` (groups of three after a space or a grouping
    comma) as one number: 1000, 12345, 14916."""
    return _GROUPED.sub(lambda m: _GROUP_SPACE.sub("", m.group()), text)


def decimal_comma(text: str) -> str | None:
    """A plain ``1,22`` or ``0,111`` (not LaTeX, not a thousands grouping such as ``12,345``) read
    with a decimal comma, else ``None``: such a gold may be 1.22 or the list 1, 22."""
    found = _DECIMAL_COMMA.fullmatch(text.strip())
    if found is None:
        return None
    sign, whole, part = found.groups()
    if _THOUSANDS.fullmatch(whole) and len(part) == 3:
        return None
    return f"{sign}{whole}.{part}"


@dataclass(frozen=True, slots=True)
class Gold:
    """A prepared ground truth: math-verify's parse (empty: compare ``text`` as a string)."""

    parsed: list[Any]
    text: str
    multi: bool  # holds several values (a set, a list, a system): several boxes may answer it

    @property
    def shown(self) -> str:
        return shown(self.parsed) or clip(self.text)


@dataclass(frozen=True, slots=True)
class Answer:
    text: str  # what math-verify parses
    raw: str | None  # the answer as written: a box's contents, the block, the LaTeX read in prose
    tail: str = ""  # what the region holds after it
    pred: list[Any] | None = None  # math-verify's reading, where it was needed to find ``raw``
    problem: str | None = None  # why there is no answer to read (a hedge in prose)


def clip(text: str) -> str:
    return text[:DETAIL_CHARS]


def shown(parsed: list[Any]) -> str | None:
    """The extracted string math-verify keeps last in a parse result, truncated."""
    return clip(str(parsed[-1])) if parsed else None


def _first_match(text: str, config: list[Any]) -> list[Any]:
    """V-Triune's parse: the first extraction that succeeds, in ``config`` order."""
    found: list[Any] = parse(text, config, extraction_mode="first_match", parsing_timeout=None)
    return found


def _wrapped(text: str) -> str:
    return text if "$" in text or "\\boxed" in text else f"${text}$"


def lenient_gold(ground_truth: Any, *, vtriune: bool) -> Gold:
    """The gold as plain math-verify (or V-Triune) reads it: lower-cased, no fallback."""
    text = scalar_text(ground_truth).lower()
    if vtriune:
        gold = _first_match(text, VTRIUNE_GOLD)
    else:
        gold = parse(_wrapped(text), GOLD_CONFIG, fallback_mode="no_fallback", parsing_timeout=None)
    if not gold:
        raise InvalidInputError(f"ground truth {clip(text)!r} has no math to parse")
    return Gold(gold, text, multi=False)


def lenient_pred(response: str, *, vtriune: bool) -> list[Any]:
    text = without_vision_tokens(response).lower()
    if vtriune:
        return _first_match(text, VTRIUNE_PRED)
    found: list[Any] = parse(text, PRED_CONFIG, parsing_timeout=None)
    return found


def _readable(value: Any) -> bool:
    return not isinstance(value, Basic) or not value.has(zoo, nan)  # 12:00 is 12/0


def _is_multi(value: Any) -> bool:
    return (isinstance(value, FiniteSet) and len(value) > 1) or isinstance(value, And | Union)


def _strict_parse(text: str) -> list[Any]:
    latex = _wrapped(scientific(text) or text)
    gold = parse(latex, GOLD_CONFIG, fallback_mode="no_fallback", parsing_timeout=None)
    return gold if gold and _readable(gold[0]) else []


def strict_gold(ground_truth: Any) -> Gold:
    """The gold as written (no case folding; a trailing ``\\\\`` and ``\\$`` signs dropped), else
    its text when math-verify cannot read it; a plain ``1,22`` is read both ways (the list 1, 22
    and 1.22), and either reading may match."""
    text = _CURRENCY.sub("", _LINE_BREAK.sub("", scalar_text(ground_truth))).strip()
    decimal = decimal_comma(text)
    gold = _strict_parse(text) + (_strict_parse(decimal) if decimal else [])
    if gold:
        return Gold(gold, text, multi=any(_is_multi(value) for value in gold))
    if not _USABLE.search(text):
        raise InvalidInputError(f"ground truth {clip(text)!r} has no math to parse")
    return Gold([], text, multi=_SEVERAL.search(text) is not None)


def without_line_break(answer: str) -> str:
    """``answer`` stripped, without a trailing ``\\\\`` or ``\\`` (a LaTeX line break, or one
    left from a table: ``185\\``), as the gold is read; a break between two values stays."""
    return _LINE_BREAK.sub("", answer).strip()


def strict_answer(region: str, boxes: Boxed, *, is_block: bool) -> Answer | None:
    """What math-verify reads of the final answer; ``None`` for an exponent beyond ±1000.

    One boxed value: that box (a trailing line break dropped: ``\\boxed{185\\}``). Several (for a
    gold of several values): all of them as one list, so ``\\boxed{2} and \\boxed{3}`` is
    {2, 3} and no box is dropped for being far away. No box: the number a "Final Answer:"-style
    sentence states in prose (``_math_prose``), else an answer block that is one currency amount
    or nothing but an answer; else, in prose, the LaTeX math-verify itself reads
    (:func:`prose_answer`): the strict checks look at the very span the verdict is taken on, not
    at a later one."""
    if boxes.answers:
        spans = boxed_spans(region)
        tail = region[max(end for _, end in spans) + 1 :] if spans else ""
        answers = [without_line_break(answer) for answer in boxes.answers]
        raw = None if boxes.hedge else answers[-1]
        text = "\\boxed{" + (raw if raw is not None else ", ".join(answers)) + "}"
        read = scientific(thousands(text))
        return None if read is None else Answer(read, raw, tail)
    if (stated := anchored_number(thousands(region))) is not None:
        if stated.hedge:
            return Answer("", None, problem=ANCHORED_HEDGE)
        return Answer(f"${stated.latex}$", stated.latex, stated.tail)
    if is_block and (amount := currency_amount(region)) is not None:
        return Answer(f"${amount}$", amount)  # <answer>$1,000.99</answer>
    if is_block and not _DELIMITED.search(region):
        raw = without_line_break(region)  # <answer>\n4\n</answer>: the block is the answer
        read = scientific(thousands(f"${raw}$"))
        return None if read is None else Answer(read, raw)
    read = scientific(thousands(region))
    return None if read is None else prose_answer(read)


def prose_answer(text: str) -> Answer:
    """The LaTeX math-verify reads in prose (``the final answer is $7$``, else the last ``$…$``),
    found as math-verify finds it (its own patterns, priorities and order, rightmost first, the
    first that parses), with the text that follows it."""
    fallback: list[Any] = []
    for patterns in _by_priority():
        found = sorted(
            (match for pattern in patterns for match in pattern.finditer(text)),
            key=lambda match: (match.end(), -match.start()),
            reverse=True,
        )
        for match in found:
            value, string = extract_match(match, PRED_CONFIG[0])
            if value is not None:
                return Answer(text, _written(match), text[match.end() :], [value, string])
            if string and not fallback:
                fallback = [string]
        if found:
            break  # math-verify stops at the first priority that matched
    return Answer(text, None, "", fallback)


def _by_priority() -> list[list[re.Pattern[str]]]:
    """Math-verify's patterns for ``PRED_CONFIG``, grouped by priority, most urgent first."""
    patterns = sorted(lazy_latex_regex(PRED_CONFIG[0]), key=lambda pair: pair[1])
    return [[pattern for pattern, _ in group] for _, group in groupby(patterns, lambda p: p[1])]


def _written(match: re.Match[str]) -> str:
    """The LaTeX of a math-verify match as written: its environments' contents, joined."""
    groups = match.groupdict()
    parts = [
        value
        for prefix in ("first_", *(f"next{i}_" for i in range(1, 6)))
        for name, value in groups.items()
        if name.startswith(prefix + "latex") and value
    ]
    return ", ".join(parts)


def strict_pred(text: str) -> list[Any]:
    found: list[Any] = parse(text, PRED_CONFIG, parsing_timeout=None)
    return found


def normal_text(text: str) -> str:
    """A LaTeX answer as a plain string: box, ``$``, ``\\text{}``, spacing and sizing removed."""
    boxes = boxed(text)
    if boxes.answers and not boxes.hedge:
        text = boxes.answers[-1]
    text = _TEXT_GROUP.sub(r"\1", text).replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    return _NOISE.sub("", text).rstrip(".")


def same_text(answer: str, gold: str) -> bool:
    return bool(normal_text(gold)) and normal_text(answer) == normal_text(gold)


def letter(text: str) -> str | None:
    """The one letter ``text`` is (``B``, ``(b)``, ``\\text{B}``, ``B.``), lower-cased, else
    ``None``."""
    found = _LETTER.fullmatch(normal_text(text))
    return found.group(1).lower() if found else None
