"""Spacing in a math answer, read by a tokenizer: values that only spacing separates.

``7 \\quad 1`` reads as 8 and ``7 \\quad (1)`` as 7: each is several values, whatever the spacing
command (``\\,``, ``\\thinspace``, ``\\;``, ``\\quad``, ``\\enspace``, ``\\hspace{}``, ``\\kern``,
``~``, ``\\displaystyle``, an empty ``\\text{ }`` or ``{}``, a phantom, any Unicode space). A
subscript or superscript is not a value of its own (``\\log_2 5`` is one value), and a narrow
space may separate a number from what multiplies it (``2 \\sqrt{3}``), never from another number.
One pass over the tokens; every group is skipped, never rescanned.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r"\d+(?:\.\d+)?|\\[A-Za-z]+\*?|\\.|\s+|.", re.DOTALL)
_NARROW_COMMANDS = frozenset({"\\,", "\\!", "\\thinspace", "\\negthinspace"})
_WIDE_COMMANDS = frozenset(
    {
        "\\;",
        "\\:",
        "\\>",
        "\\ ",
        "\\quad",
        "\\qquad",
        "\\enspace",
        "\\enskip",
        "\\medspace",
        "\\thickspace",
        "\\negmedspace",
        "\\negthickspace",
        "\\space",
        "\\nobreakspace",
        "\\hfill",
        "\\hfil",
        "\\newline",
        "\\displaystyle",
        "\\textstyle",
        "\\scriptstyle",
        "\\scriptscriptstyle",
        "\\smallskip",
        "\\medskip",
        "\\bigskip",
        "\\allowbreak",
        "\\nolinebreak",
        "~",
    }
)
_TRANSPARENT = re.compile(
    r"\\(?:left|right|middle|[bB]igg?[lrm]?|mathbf|boldsymbol|bm|mathit|mathsf|mathtt|mathnormal"
    r"|textbf|textit)$"
)
_PARENTHESISED = re.compile(r"\(\s*[-+]?\s*\d+(?:\.\d+)?\s*\)")
_OPENS_NUMBER = re.compile(r"\s*[-+]?\s*\d")
_ARGUMENT_SPACES = frozenset(
    {
        "\\hspace",
        "\\hspace*",
        "\\phantom",
        "\\hphantom",
        "\\vphantom",
        "\\mspace",
        "\\hskip",
        "\\mskip",
        "\\kern",
        "\\mkern",
    }
)
_DIMENSION = re.compile(r"\s*[-+]?\s*(?:\d*\.)?\d+\s*[a-z]{2}|\s*\{[^{}]*\}")
_OPENING = re.compile(r"\s*\{")
_BLANK_GROUP = re.compile(r"\{(?:\s|~|\\[,;:! ]|\\q?quad(?![A-Za-z]))*\}")
_TEXTS = frozenset({"\\text", "\\textrm", "\\mbox", "\\hbox", "\\mathrm", "\\textnormal"})
_OPERATORS = frozenset(
    {
        "\\times",
        "\\cdot",
        "\\div",
        "\\pm",
        "\\mp",
        "\\le",
        "\\leq",
        "\\ge",
        "\\geq",
        "\\lt",
        "\\gt",
        "\\ne",
        "\\neq",
        "\\approx",
        "\\equiv",
        "\\sim",
        "\\simeq",
        "\\cong",
        "\\in",
        "\\notin",
        "\\cup",
        "\\cap",
        "\\setminus",
        "\\to",
        "\\rightarrow",
        "\\Rightarrow",
        "\\implies",
        "\\iff",
        "\\mid",
        "\\colon",
        "\\circ",
        "\\degree",
        "\\prime",
        "\\dots",
        "\\ldots",
        "\\cdots",
        "\\land",
        "\\lor",
        "\\wedge",
        "\\vee",
        "\\end",
        "\\begin",
        "\\over",
        "\\choose",
        "\\right",
        "\\rangle",
        "\\rfloor",
        "\\rceil",
        "\\rvert",
        "\\rVert",
    }
)


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


def spaced_values(answer: str) -> bool:
    """Whether ``answer`` holds values separated only by spacing."""
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
                skip_to = group_end(answer, opened.end()) if opened else found.end()
                state.other()  # 2 \\text{ apples}
            elif state.script:
                skip_to = group_end(answer, found.end())
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


def group_end(text: str, start: int) -> int:
    """The index after the ``}`` closing the group whose contents begin at ``start``."""
    depth, end = 1, start
    while end < len(text) and depth:
        depth += {"{": 1, "}": -1}.get(text[end], 0)
        end += 1
    return end
