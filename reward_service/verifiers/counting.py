"""``counting``: the exact number of objects (MiMo-VL).

Response: the final answer, by the rule every verifier shares (``_text.locate``): the
``<answer>`` block after the thinking (the last ``</think>``), else the text after it, else all of
it; an unclosed ``<think>`` is no answer; within it, the ``\\boxed{}`` if there is one. It must
be a plain integer in ASCII digits (surrounding whitespace allowed): ``7``, ``\\boxed{7}``,
``<answer>\\n7\\n</answer>``, ``7<|im_end|>``, and the same inside an emphasis or math wrapper
around the whole answer (``\\boxed{\\mathbf{7}}``, ``**7**``, ``$7$``:
``_normalise.read_through``). ``seven``, ``7.``, ``7 apples``, ``7.0`` and ``٧`` are not, and
score 0.

Ground truth: a non-negative integer, given as a JSON integer, an integer-valued float (``7.0``)
or a string of digits (``"7"``, ``"7.0"``); anything else is ``invalid_input``.

Params: none.

Formula: accuracy = 1 if the answer equals the count else 0. Range: {0, 1}.

Reward-hacking caveats: nothing inside the thinking is read, and a thinking never closed (a
truncated rollout) scores 0, so a guess hidden in the reasoning cannot be paid; several
different boxed counts in the final answer (``\\boxed{3} or \\boxed{4}``), or answer blocks
holding different counts, are a hedge and score 0, whichever is right (the same count twice is
fine). Answers longer than 18 digits are 0 without parsing (no
60k-digit ``int()``).
"""

from __future__ import annotations

import math
import re
from typing import Any

from reward_service.contract.errors import InvalidInputError
from reward_service.contract.registry import Context, NoParams, Score, verifier
from reward_service.verifiers._normalise import read_through
from reward_service.verifiers._text import final_answer, unanswered

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


@verifier("counting", prepare=prepare)
def counting_reward(response: str, ground_truth: Any, params: NoParams, context: Context) -> Score:
    """The final answer (answer block, else after thinking; its box if any) equals the count."""
    found = final_answer(response)
    if found is None:
        return Score(0.0, {"reason": unanswered(response), "parsed": False})
    answer = read_through(found)
    parsed = _INTEGER.fullmatch(answer) is not None
    details = {"extracted": answer[:_DETAIL_CHARS], "parsed": parsed}
    return Score(1.0 if parsed and int(answer) == ground_truth else 0.0, details)
