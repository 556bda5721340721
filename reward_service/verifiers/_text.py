"""Answer extraction shared by verifiers: `<answer>` blocks, `\\boxed{}`, text after thinking."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal

from reward_service.errors import InvalidInputError

_BRACES = re.compile(r"\\(?:boxed|fbox)\s*\{|\{|\}")
_OPENS_WITH_BOX = re.compile(r"\\(?:boxed|fbox)\s*\{")
_BARE_BOX = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])\s*(\\[A-Za-z]+|[^\s{}\\$])")
MAX_BOXES = 64
"""More boxes than this in one final answer are a hedge (and keep box handling linear)."""


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


VISION_TOKENS = ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>", "<image>")
"""Placeholders a VLM's decoded output may keep; V-Triune decodes with ``skip_special_tokens``."""

HEDGE = "several different boxed answers"
"""The ``reason`` a verifier gives when the final answer holds more than one boxed value."""


def without_vision_tokens(text: str) -> str:
    """``text`` without stray image/video placeholder tokens (scored as V-Triune scores it)."""
    if "<" not in text:
        return text
    for token in VISION_TOKENS:
        text = text.replace(token, "")
    return text


def answer_block(text: str) -> str | None:
    """Text between the first ``<answer>`` and the next ``</answer>`` (V-Triune), unstripped."""
    text = without_vision_tokens(text)
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


def answer_region(text: str) -> str:
    """Where a model's final answer is, for every verifier: its first ``<answer>`` block, else
    what follows its thinking (the last ``</think>``), else the whole text; vision tokens
    removed. A box hidden in the thinking is not in it."""
    block = answer_block(text)
    return after_think(without_vision_tokens(text)) if block is None else block


@dataclass(frozen=True, slots=True)
class Boxed:
    """The boxes of an answer region: ``answers``, the contents of the outermost ones in order
    (a box that only wraps another unwrapped: ``\\boxed{\\boxed{4}}`` is ``4``); ``hedge``, when
    the boxes, nested ones included, hold more than one distinct value (whitespace aside), or
    there are more than ``MAX_BOXES`` of them."""

    answers: list[str]
    hedge: bool


def boxed(region: str) -> Boxed:
    """The :class:`Boxed` of ``region``; a brace-less ``\\boxed 8`` boxes its one token."""
    spans = sorted(boxed_spans(region) + [m.span(1) for m in _BARE_BOX.finditer(region)])
    if len(spans) > MAX_BOXES:
        return Boxed([], hedge=True)
    answers: list[str] = []
    covered = -1
    for begin, end in spans:
        if begin > covered:  # not nested inside the previous outermost box
            answers.append(_unwrapped(region[begin:end]))
            covered = end
    values = {_value(region[begin:end]) for begin, end in spans}
    return Boxed(answers, hedge=len(values) > 1)


def _unwrapped(answer: str) -> str:
    while (stripped := answer.strip()) and _OPENS_WITH_BOX.match(stripped):
        inner = boxed_spans(stripped)
        if not inner or inner[0][1] != len(stripped) - 1:  # unclosed, or more follows the box
            break
        answer = stripped[inner[0][0] : inner[0][1]]
    return answer


def _value(content: str) -> str:
    """A box's value for comparison: no whitespace, no box wrappers (``\\boxed{4}`` is ``4``)."""
    flat = _OPENS_WITH_BOX.sub("{", "".join(content.split()))
    depth = min(len(flat) - len(flat.lstrip("{")), len(flat) - len(flat.rstrip("}")))
    return flat[depth : len(flat) - depth]


def final_answer(text: str) -> str | None:
    """The answer a model gave: in :func:`answer_region`, the contents of its ``\\boxed{}``
    if there is one, else the region itself. ``None`` when the region boxes several different
    values: a hedge, which every verifier scores 0 (the same value boxed twice is fine)."""
    region = answer_region(text)
    boxes = boxed(region)
    if boxes.hedge:
        return None
    return boxes.answers[-1] if boxes.answers else region


def missing(response: str, what: str) -> str:
    """Why no ``what`` was read from ``response``: a hedge, or none in its final answer."""
    return HEDGE if final_answer(response) is None else f"no {what} found"


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
