"""Answer extraction shared by verifiers: `<answer>` blocks, `\\boxed{}`, text after thinking."""

from __future__ import annotations

import math
import re
from decimal import Decimal

from reward_service.errors import InvalidInputError

_BRACES = re.compile(r"\\(?:boxed|fbox)\s*\{|\{|\}")


def boxed_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of the contents of every balanced ``\\boxed{...}`` (or ``\\fbox{}``),
    in order of opening; unclosed ones are skipped.

    One linear pass over the braces and no copies, so a response full of nested or unclosed
    ``\\boxed{`` costs O(n) time and memory.
    """
    stack: list[tuple[int, int] | None] = []
    spans: list[tuple[int, int, int]] = []
    for match in _BRACES.finditer(text):
        token = match.group()
        if token == "}":
            if stack and (opened := stack.pop()) is not None:
                spans.append((opened[0], opened[1], match.start()))
        else:
            stack.append((match.start(), match.end()) if token != "{" else None)
    return [(begin, end) for _, begin, end in sorted(spans)]


def last_boxed(text: str) -> str | None:
    """Contents of the last balanced ``\\boxed{}`` to open, or ``None``."""
    spans = boxed_spans(text)
    return text[spans[-1][0] : spans[-1][1]] if spans else None


def answer_block(text: str) -> str | None:
    """Text between the first ``<answer>`` and the next ``</answer>`` (V-Triune), unstripped."""
    start = text.find("<answer>")
    if start < 0:
        return None
    start += len("<answer>")
    end = text.find("</answer>", start)
    return None if end < 0 else text[start:end]


def after_think(text: str) -> str:
    """The part of ``text`` after the last ``</think>`` (all of it when there is none)."""
    _, sep, tail = text.rpartition("</think>")
    return tail if sep else text


def final_answer(text: str) -> str:
    """The answer a model gave: its first ``<answer>`` block, else what follows its thinking;
    then the last ``\\boxed{}`` inside that, if any. A box hidden in the thinking is not read."""
    block = answer_block(text)
    return boxed_or_text(after_think(text) if block is None else block)


def boxed_or_text(text: str) -> str:
    """Contents of the last ``\\boxed{}`` in ``text``, else ``text`` itself."""
    boxed = last_boxed(text)
    return text if boxed is None else boxed


def scalar_text(value: object) -> str:
    """A ground truth given as a JSON string or number, as text.

    Floats are written positionally (``1e-05`` → ``0.00001``), because ``1e-05`` reads as
    ``1·e − 5`` to a LaTeX parser and as no number at all to a plain-decimal one.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return format(Decimal(repr(value)), "f")
    raise InvalidInputError(f"ground truth must be a string or a finite number, not {value!r:.80}")
