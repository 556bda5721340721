"""``ocr``: text read from an image, by normalised exact match or ANLS.

Response: the final answer by the rule every verifier shares (``_text.locate``): the
``<answer>`` block after the thinking (the last ``</think>``), else the text after it, else all of
it; an unclosed ``<think>`` is no answer; within it, the ``\\boxed{}`` if there is one.

Ground truth: a string (a number is read as text) or a non-empty list of acceptable strings;
the best match counts.

Params: ``mode`` ``"exact"`` (default) or ``"anls"``; ``anls_threshold`` (default 0.5, in [0, 1]).

Formula: both sides normalised (a LaTeX or math wrapper around all of it read through:
``\\text{STOP}``, ``$STOP$``, but not Markdown's ``*``, ``_`` or backticks, which may be the text
itself: ``**STOP**`` is not ``STOP``, ``__init__`` not ``init``; NFC, so a composed ``é`` and
``e`` + combining acute are one character: ``_normalise.composed``; strip, lower-case, collapse
whitespace). NFC only relates canonically equivalent spellings; compatibility forms stay
distinct (``x²`` is not ``x2``, ``ﬁ`` is not ``fi``), as do look-alike letters from other
scripts: the text in the image is what is asked for.
exact: 1 if equal else 0. anls: s = 1 − Levenshtein(pred, gt) / max(len(pred), len(gt)); the
reward is s when s ≥ ``anls_threshold``, else 0 (so s = 0.5 exactly keeps 0.5: "0 below the
threshold"; DocVQA's ANLS zeroes it). Max over the acceptable strings. Range: [0, 1].

Cost: the edit distance is an O(n·m) dynamic programme, but it runs only when the length ratio
min/max is ≥ the threshold (the distance is at least the length difference, so otherwise
s < threshold and the reward is 0); with the default 0.5 a 64k-character response against a
short ground truth returns 0 at once. With ``anls_threshold`` 0 nothing is skipped, and the
verifier's deadline bounds the cost (status ``timeout``, never a silent 0).

Reward-hacking caveats: ANLS pays partial credit to near misses and to any string of about the
right length sharing characters with the answer; use ``exact`` where a character matters.
Several different boxed answers are a hedge and score 0.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from reward_service.contract.errors import InvalidInputError
from reward_service.contract.registry import Context, Params, Score, verifier
from reward_service.verifiers._normalise import composed, read_through
from reward_service.verifiers._text import final_answer, scalar_text, unanswered

_DETAIL_CHARS = 200


class OcrParams(Params):
    mode: Literal["exact", "anls"] = "exact"
    anls_threshold: float = Field(default=0.5, ge=0, le=1, allow_inf_nan=False)


def normalise(text: str) -> str:
    """Wrappers read through, NFC; lower-case, collapse whitespace."""
    return " ".join(composed(read_through(text, markdown=False)).lower().split())


def prepare(ground_truth: Any, params: OcrParams) -> tuple[str, ...]:
    """The normalised acceptable answers; none, or an empty one, is ``invalid_input``."""
    items = ground_truth if isinstance(ground_truth, list) else [ground_truth]
    golds = tuple(normalise(scalar_text(item)) for item in items)
    if not golds or not all(golds):
        raise InvalidInputError("ocr ground truth must be a non-empty string or list of them")
    return golds


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insert, delete, substitute: cost 1) in O(len(a)·len(b)) time."""
    # a common prefix and suffix cost nothing, and are most of a near-miss OCR answer
    shortest = min(len(a), len(b))
    prefix = 0
    while prefix < shortest and a[prefix] == b[prefix]:
        prefix += 1
    suffix = 0
    while suffix < shortest - prefix and a[-1 - suffix] == b[-1 - suffix]:
        suffix += 1
    a, b = a[prefix : len(a) - suffix], b[prefix : len(b) - suffix]
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(
                min(previous[j] + 1, current[-1] + 1, previous[j - 1] + (char_a != char_b))
            )
        previous = current
    return previous[-1]


def anls(pred: str, gold: str, threshold: float) -> float:
    """1 − normalised edit distance when ≥ ``threshold``, else 0 (skipping hopeless lengths)."""
    longest = max(len(pred), len(gold))
    if min(len(pred), len(gold)) < threshold * longest:
        return 0.0
    similarity = 1.0 - levenshtein(pred, gold) / longest
    return similarity if similarity >= threshold else 0.0


@verifier("ocr", params=OcrParams, prepare=prepare)
def ocr_reward(response: str, ground_truth: Any, params: OcrParams, context: Context) -> Score:
    """Normalised exact match (default) or ANLS against the best acceptable answer."""
    found = final_answer(response)
    if found is None:
        return Score(0.0, {"reason": unanswered(response)})
    answer = normalise(found)
    if params.mode == "exact":
        accuracy = 1.0 if answer in ground_truth else 0.0
    else:
        accuracy = max(anls(answer, gold, params.anls_threshold) for gold in ground_truth)
    return Score(accuracy, {"extracted": answer[:_DETAIL_CHARS]})
