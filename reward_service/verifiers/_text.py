"""Answer extraction shared by verifiers: where the answer is (:func:`locate`), ``\\boxed{}``."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal

from reward_service.contract.errors import InvalidInputError

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

END_TOKENS = (
    "<|im_end|>",
    "<|im_start|>",
    "<|endoftext|>",  # ChatML (Qwen, InternVL, MiniCPM, Yi)
    "<|eot_id|>",
    "<|eom_id|>",
    "<|end_of_text|>",
    "<|begin_of_text|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eot|>",
    "<|eom|>",  # Llama 3, Llama 4
    "<|end|>",
    "<|user|>",
    "<|assistant|>",
    "<|system|>",
    "<|observation|>",  # Phi-3, GLM-4
    "<|return|>",  # gpt-oss
    "<end_of_turn>",
    "<start_of_turn>",
    "<eos>",
    "<bos>",
    "<pad>",  # Gemma
    "</s>",  # Llama 2, Mistral
    "<\uff5cend\u2581of\u2581sentence\uff5c>",
    "<\uff5cbegin\u2581of\u2581sentence\uff5c>",
    "<\uff5cAssistant\uff5c>",
    "<\uff5cUser\uff5c>",  # DeepSeek (full-width bars)
)
"""End-of-sequence and chat-template tokens a decoded response may keep (natively removed)."""

_SPECIAL = frozenset(VISION_TOKENS + END_TOKENS)
_TOKEN_LIKE = re.compile(r"<[^<>\s]{1,40}>")  # bounded: linear time on any text
_THINK_TAG = re.compile(r"<(/?)think>", re.IGNORECASE | re.ASCII)
_ANSWER_TAG = re.compile(r"<(/?)answer>", re.IGNORECASE | re.ASCII)

HEDGE = "several different boxed answers"
"""The ``reason`` a verifier gives when the final answer holds more than one boxed value, or
the response several answer blocks holding different answers."""

TRUNCATED = "no answer: the thinking is never closed (a truncated rollout)"
"""The ``reason`` a verifier gives for a response whose last ``<think>`` has no ``</think>``."""


def without_vision_tokens(text: str) -> str:
    """``text`` without stray image/video placeholder tokens (scored as V-Triune scores it)."""
    if "<" not in text:
        return text
    for token in VISION_TOKENS:
        text = text.replace(token, "")
    return text


def without_special_tokens(text: str) -> str:
    """``text`` without vision placeholders and end-of-sequence / chat-template tokens
    (:data:`VISION_TOKENS`, :data:`END_TOKENS`): ``7<|im_end|>`` is ``7``. The native reading;
    ``/judge`` removes the vision tokens alone (:func:`without_vision_tokens`)."""
    if "<" not in text:
        return text
    return _TOKEN_LIKE.sub(lambda m: "" if m.group() in _SPECIAL else m.group(), text)


def answer_block(text: str) -> str | None:
    """V-Triune's reading, kept for ``/judge`` and for ground truths: the text between the first
    ``<answer>`` anywhere (in the thinking too) and the next ``</answer>``, unstripped; case
    matters. Native verifiers read :func:`locate` instead."""
    text = without_vision_tokens(text)
    start = text.find("<answer>")
    if start < 0:
        return None
    start += len("<answer>")
    end = text.find("</answer>", start)
    return None if end < 0 else text[start:end]


@dataclass(frozen=True, slots=True)
class Region:
    """Where a response's final answer is (:func:`locate`): ``text``, the contents of its answer
    block when ``is_block``, else the text after its thinking; ``problem`` (:data:`TRUNCATED`,
    :data:`HEDGE`) when it has none, and then ``text`` is empty."""

    text: str
    is_block: bool = False
    problem: str | None = None


def locate(response: str) -> Region:
    """Where the final answer is: the one rule every native verifier reads it by.

    1. Vision, end-of-sequence and chat-template tokens are removed
       (:func:`without_special_tokens`).
    2. The thinking is everything up to the last ``</think>``, whether or not a ``<think>`` opens
       it: a chat template that ends the prompt with ``<think>`` starts the response inside its
       thinking, with only the closing tag in it (earlier turns of a multi-turn response lie
       before it too). A ``<think>`` with no ``</think>`` after it (a rollout cut off while
       thinking) leaves no answer: :data:`TRUNCATED`. Nothing in the thinking is ever read. A
       response with no think tag at all is read whole: a template-opened thinking cut off before
       its ``</think>`` cannot be told from a response that does not think.
    3. After the thinking: the contents of its ``<answer>…</answer>`` block (each ``<answer>`` to
       the next ``</answer>``; an unclosed one is no block, and text outside the blocks is not
       read). Several blocks must hold the same answer (their one boxed value, else their text,
       whitespace aside), else :data:`HEDGE`. No block: the text after the thinking itself.

    Tags match in any case (``</Think>``, ``<ANSWER>``; ASCII letters only). Linear time.
    """
    text = without_special_tokens(response)
    tail = _after_thinking(text)
    if tail is None:
        return Region("", problem=TRUNCATED)
    blocks = _answer_blocks(tail)
    if not blocks:
        return Region(tail)
    if len({_answer_value(block) for block in blocks}) > 1:
        return Region("", problem=HEDGE)
    return Region(blocks[-1], is_block=True)


def _after_thinking(text: str) -> str | None:
    """The text after the last ``</think>`` (all of it when there is none); ``None`` when a
    ``<think>`` is still open at the end."""
    start, thinking = 0, False
    for tag in _THINK_TAG.finditer(text):
        if tag.group(1):
            start, thinking = tag.end(), False
        else:
            thinking = True
    return None if thinking else text[start:]


def _answer_blocks(text: str) -> list[str]:
    """The contents of every closed ``<answer>…</answer>`` in ``text``, in order."""
    blocks: list[str] = []
    start: int | None = None
    for tag in _ANSWER_TAG.finditer(text):
        if not tag.group(1):
            start = tag.end() if start is None else start
        elif start is not None:
            blocks.append(text[start : tag.start()])
            start = None
    return blocks


def _answer_value(block: str) -> str:
    """What answer blocks must share to be one answer: the value of the block's one boxed
    answer, else its text; whitespace aside."""
    boxes = boxed(block)
    if boxes.answers and not boxes.hedge:
        return _value(boxes.answers[-1])
    return "".join(block.split())


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
    """The answer a model gave: in its :func:`locate` region, the contents of its ``\\boxed{}``
    if there is one, else the region itself. ``None`` when there is none (:func:`unanswered`
    says why): the thinking never closed, or a hedge — several answer blocks or boxed values
    that differ — which every verifier scores 0 (the same value twice is fine)."""
    region = locate(text)
    if region.problem is not None:
        return None
    boxes = boxed(region.text)
    if boxes.hedge:
        return None
    return boxes.answers[-1] if boxes.answers else region.text


def unanswered(response: str) -> str:
    """Why :func:`final_answer` found no answer in ``response``: :data:`TRUNCATED` or
    :data:`HEDGE`."""
    return locate(response).problem or HEDGE


def missing(response: str, what: str) -> str:
    """Why no ``what`` was read from ``response``: no answer (:func:`unanswered`), or none in
    its final answer."""
    return unanswered(response) if final_answer(response) is None else f"no {what} found"


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
