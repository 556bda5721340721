"""Numbers ``math`` reads in prose in strict mode: the one number a "Final Answer:" sentence
states, and an answer block that is one currency amount.

**A "Final Answer:" sentence.** Math-verify reads only LaTeX after an anchor, so "Final Answer:
The largest $n$ is 34." was read as ``n``. The anchor here is "final answer" (any case, with or
without ``:`` or "is"; a weaker one, "the answer is 42", is still not read: reasoning uses it
too). Its sentence runs to the next full stop not inside a number or ``$…$``, ``!`` or line break
(at most :data:`MAX_SENTENCE` characters). It is read as its number when it states exactly one,
in prose: an integer or decimal (``34``, ``-2.5``, ``12,000,023``), a fraction ``2/3``, a
percentage ``40%``, a currency amount (``$1,000.99``, ``1,000.99€``). LaTeX in it must only name
things (``$n$``, ``$f(x)$``, ``$ABCDEFGH$``), before the number; LaTeX with a value (``$34$``,
``$\\pi$``) or after the number leaves the response to math-verify, as before. A second number
(digits or words: "34 or 35", "3 million", "2nd"), a word that hedges, negates, bounds or scales
the number ("maybe", "not", "at least", "about", "times", "pi"), a question mark or a stray ``$``
make the sentence a hedge. Every anchored sentence that states a number must state the same one,
and none may be a hedge; else the response is a hedge and scores 0. Sentences that state no
number ("the final answer is below") are ignored.

**A currency amount** (a ``$``, ``\\$``, ``€``, ``£`` or ``¥`` beside a number whose commas group
thousands, ``$1,000.99``) is its number. Commas are read as thousands only in a proper grouping
(one to three digits, no leading zero, then groups of exactly three: ``1,000``, ``12,345.5``), as
math-verify reads them in LaTeX; ``1,00`` or ``2,74`` is no number here, so a list or a decimal
comma is never read as one amount, and ``1,000`` is never the pair (1, 0).

Everything is linear in the region: at most :data:`MAX_ANCHORS` anchors, each sentence bounded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import islice

MAX_ANCHORS = 16
"""More anchors than this in one answer region and the rule stands down (bounded work)."""
MAX_SENTENCE = 300
"""Characters an anchored sentence may run to; a longer one is not read."""
HEDGE = 'several numbers, or a hedge, after "final answer"'
"""The ``reason`` for anchored sentences that state different numbers, or hedge the one."""

_ANCHOR = re.compile(r"\bfinal\s+answer\b[*_]*\s*(?::|\bis\b)?", re.IGNORECASE)
_SENTENCE_END = re.compile(r"\.(?!\d)|!|\n")
_DOLLAR = re.compile(r"(?<!\\)\$")  # \$ is a dollar sign, never a delimiter
_LATEX = re.compile(
    r"(?<!\\)\$\$(.*?)(?<!\\)\$\$|(?<!\\)\$(.*?)(?<!\\)\$|\\\((.*?)\\\)|\\\[(.*?)\\\]", re.DOTALL
)  # paired in order; a ``$`` left unpaired is a currency sign (``$1,000.99``) or a stray one
_NAMING = re.compile(
    r"(?:[A-Za-z\s(),_{}'.]|\\(?:angle|triangle|overline|mathrm|mathit|mathbf|text|operatorname"
    r"|left|right|,|;|!|\s)(?![A-Za-z]))*"
)  # what LaTeX that only names something holds: n, f(x), ABCDEFGH, \triangle ABC, a_n
_CURRENCY = r"\\?\$|€|£|¥"
_NUMBER = re.compile(
    rf"(?<![\w.,\-−\\/^])(?P<sign>[-−]?)(?P<pre>{_CURRENCY})?"
    r"(?P<whole>[1-9]\d{0,2}(?:,\d{3})+|\d+)(?P<part>\.\d+)?(?:/(?P<den>\d+))?"
    rf"(?P<percent>\\?%)?(?P<post>\s?(?:{_CURRENCY}))?"
    r"(?!\w|[.,]\d|/)"
)
_DIGIT = re.compile(r"\d")
_WORDS = re.compile(
    r"\b(?:or|either|nor|neither|maybe|perhaps|possibly|probably|likely|unsure|guess\w*"
    r"|approx\w*|roughly|around|about|nearly|almost|circa|not|never|isn't|aren't|cannot|can't"
    r"|except|between|least|most|more|less|fewer|greater|smaller|over|under|above|below|up\s+to"
    r"|exceed\w*|minus|negative|times|squared|cubed|root|sqrt|pi|plus"
    r"|zero|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|\w+teen|twenty|thirty"
    r"|forty|fifty|sixty|seventy|eighty|ninety|hundred\w*|thousand\w*|million\w*|billion\w*"
    r"|trillion\w*|dozens?|half|halves|third|quarter)\b|[π√?×·]",
    re.IGNORECASE,
)  # words that hedge, negate, bound or scale a number, and numbers written in words ("one"
#   is left out: "the largest one is 34")


@dataclass(frozen=True, slots=True)
class Stated:
    """What a region's anchored sentences state: ``latex``, the number as LaTeX, and ``tail``,
    the text after its sentence; or ``hedge``."""

    latex: str = ""
    tail: str = ""
    hedge: bool = False


def number_latex(found: re.Match[str]) -> str:
    """A :data:`_NUMBER` match as LaTeX: grouping commas and currency dropped (``-$1,000.99``:
    ``-1000.99``; ``2/3``: ``\\frac{2}{3}``; ``40%``: ``40\\%``)."""
    value = found.group("whole").replace(",", "") + (found.group("part") or "")
    if found.group("den"):
        value = f"\\frac{{{value}}}{{{found.group('den')}}}"
    sign = "-" if found.group("sign") else ""
    return sign + value + ("\\%" if found.group("percent") else "")


def currency_amount(text: str) -> str | None:
    """``text`` as LaTeX when it is nothing but one currency amount (``$1,000.99``,
    ``1,000.99$``, ``\\$10``), else ``None``; a plain number without a sign is not one."""
    found = _NUMBER.fullmatch(text.strip())
    if found is None or not (found.group("pre") or found.group("post")):
        return None
    return number_latex(found)


_NOTHING, _LATEX_VALUE = "nothing", "latex"


def _sentence(region: str, start: int) -> str | None:
    """The anchored sentence from ``start`` to its end, ``None`` when longer than allowed. A full
    stop inside ``$…$`` (after an odd number of ``$``, with another on its line) does not end
    it: ``$14{,}916.$``."""
    limit = min(len(region), start + MAX_SENTENCE + 1)
    for end in _SENTENCE_END.finditer(region, start, limit):
        line_end = region.find("\n", end.end(), limit)
        inside = len(_DOLLAR.findall(region, start, end.start())) % 2 == 1 and bool(
            _DOLLAR.search(region, end.end(), limit if line_end < 0 else line_end)
        )
        if not inside:
            return region[start : end.start()]
    return region[start:] if len(region) - start <= MAX_SENTENCE else None


def _read(sentence: str) -> str:
    """The number a sentence states, as LaTeX; or ``_NOTHING`` (it states none),
    ``_LATEX_VALUE`` (math-verify's to read: LaTeX in it holds a value, or names something after
    the number, as in "after trying 34, the answer is $x$") or :data:`HEDGE`."""
    prose, names = sentence, []
    for found in _LATEX.finditer(sentence):
        inside = next(group for group in found.groups() if group is not None)
        if not _NAMING.fullmatch(inside):
            return _LATEX_VALUE
        names.append(found.start())
        prose = prose[: found.start()] + " " * len(found.group()) + prose[found.end() :]
    numbers = list(islice(_NUMBER.finditer(prose), 2))
    rest = _NUMBER.sub(" ", prose)
    if not numbers and not _DIGIT.search(rest) and not _WORDS.search(rest):
        return _NOTHING
    if len(numbers) != 1 or _DIGIT.search(rest) or "$" in rest or _WORDS.search(rest):
        return HEDGE
    if any(start > numbers[0].start() for start in names):
        return _LATEX_VALUE
    return number_latex(numbers[0])


def anchored_number(region: str) -> Stated | None:
    """What the region's anchored sentences state (the module's docstring), or ``None`` where
    the rule does not apply: no anchored sentence states a number in prose or hedges, one holds
    LaTeX with a value, one is too long, or there are more than :data:`MAX_ANCHORS` anchors."""
    anchors = list(islice(_ANCHOR.finditer(region), MAX_ANCHORS + 1))
    if not anchors or len(anchors) > MAX_ANCHORS:
        return None
    values: list[tuple[str, int]] = []
    hedged = False
    for anchor in anchors:
        sentence = _sentence(region, anchor.end())
        if sentence is None:
            return None
        read = _read(sentence)
        if read == _LATEX_VALUE:
            return None
        if read == HEDGE:
            hedged = True
        elif read != _NOTHING:
            values.append((read, anchor.end() + len(sentence)))
    if hedged or len({latex for latex, _ in values}) > 1:
        return Stated(hedge=True)
    if not values:
        return None
    latex, end = values[-1]
    return Stated(latex, region[end:])
