"""``counting``: the exact number of objects (MiMo-VL).

Response: the answer is the text after the last ``</think>`` (all of it when there is none);
within it, the last ``\\boxed{}`` if there is one. It must be a plain integer in ASCII digits
(surrounding whitespace allowed): ``7``, ``\\boxed{7}``. ``seven``, ``7.``, ``7 apples``, ``7.0``
and ``٧`` are not, and score 0.

Ground truth: a non-negative integer, given as a JSON integer, an integer-valued float (``7.0``)
or a string of digits (``"7"``, ``"7.0"``); anything else is ``invalid_input``.

Params: none.

Formula: accuracy = 1 if the answer equals the count else 0. Range: {0, 1}.

Reward-hacking caveats: a ``\\boxed{}`` inside the ``<think>`` block is ignored when the block is
closed, so a guess hidden in the reasoning cannot be paid; several boxes after it: only the last
counts. Answers longer than 18 digits are 0 without parsing (no 60k-digit ``int()``).
"""

from __future__ import annotations

import math
import re
from typing import Any

from reward_service.errors import InvalidInputError
from reward_service.registry import Context, NoParams, Score, verifier
from reward_service.verifiers._text import after_think, boxed_or_text

_INTEGER = re.compile(r"[0-9]{1,18}", re.ASCII)
_INTEGER_TEXT = re.compile(r"([0-9]{1,18})(?:\.0*)?", re.ASCII)
_DETAIL_CHARS = 200


def prepare(ground_truth: Any, params: NoParams) -> int:
    """The count as an ``int``; a negative, fractional or non-numeric one is ``invalid_input``."""
    count: int | None = None
    if isinstance(ground_truth, int) and not isinstance(ground_truth, bool):
        count = ground_truth
    elif isinstance(ground_truth, float) and math.isfinite(ground_truth):
        count = int(ground_truth) if ground_truth.is_integer() else None
    elif isinstance(ground_truth, str) and (match := _INTEGER_TEXT.fullmatch(ground_truth.strip())):
        count = int(match.group(1))
    if count is None or count < 0:
        raise InvalidInputError(
            f"counting ground truth must be a non-negative integer, not {ground_truth!r:.80}"
        )
    return count


def extract(response: str) -> str:
    """The last ``\\boxed{}`` after the last ``</think>`` (else that text), stripped."""
    return boxed_or_text(after_think(response)).strip()


@verifier("counting", prepare=prepare)
def counting_reward(response: str, ground_truth: Any, params: NoParams, context: Context) -> Score:
    """The integer after the reasoning (in the last ``\\boxed{}`` if any) equals the count."""
    answer = extract(response)
    correct = _INTEGER.fullmatch(answer) is not None and int(answer) == ground_truth
    return Score(1.0 if correct else 0.0, {"extracted": answer[:_DETAIL_CHARS]})
