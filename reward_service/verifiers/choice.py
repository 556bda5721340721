"""``choice``: multiple-choice letters and yes/no (Mixed-R1 matching reward, chosen reading).

Response: the final answer by the rule every verifier shares (``_text.locate``): the
``<answer>`` block after the thinking (the last ``</think>``), else the text after it, else all of
it; an unclosed ``<think>`` is no answer; within it, the ``\\boxed{}`` if there is one (so
``<answer>\\boxed{B}</answer>`` is B); an emphasis or math wrapper around all of it read through
(``\\boxed{\\mathbf{B}}``, ``\\textbf{B}``, ``**B**``, ``$B$``: ``_normalise.read_through``).

Ground truth: an option letter, ``yes``/``no``, or any short string (a number is read as text).

Params: none.

Formula: both sides normalised (wrappers read through; look-alike letters folded by
``_normalise.fold_lookalikes``: NFKC, zero-width and other format characters and combining
marks removed, the Cyrillic, Greek, Armenian and small-capital letters drawn like a Latin letter
mapped to it, so ``Nо`` with a Cyrillic ``о`` is ``no`` and a Cyrillic ``В`` is ``b``;
lower-case, strip, drop one trailing period; a whole answer of the form ``b``, ``(b)``, ``b)``,
``b.``, ``option b`` → ``b``; an answer whose first word is yes or no, and that does not also
hold the other word → that word); accuracy = 1 if equal else 0. Range: {0, 1}.

Reward-hacking caveats: listing options (``A B C D``, ``\\boxed{A, B}``) is not a letter form and
scores 0; ``B. cat`` (letter plus option text) is not reduced to ``b`` either, like ``math``.
An answer holding both yes and no (``Yes, no, maybe``) is a hedge and scores 0, so is the rare
honest ``No, ... yes ...``; look-alike letters (``Yes. Nо.`` with a Cyrillic ``о``, ``Ｎｏ``,
``N\\u200bo``) do not hide the other word. A wrapper around part of the answer is not read
through (``**A** or **B**`` scores 0). Several different boxed answers (``\\boxed{A} \\boxed{B}``)
are a hedge and score 0.
"""

from __future__ import annotations

import re
import string
from typing import Any

from reward_service.contract.errors import InvalidInputError
from reward_service.contract.registry import Context, NoParams, Score, verifier
from reward_service.verifiers._normalise import fold_lookalikes, read_through
from reward_service.verifiers._text import final_answer, scalar_text, unanswered

_LETTER = re.compile(r"(?:option\s+)?\(?([a-z])\)?")
_YES_NO = frozenset({"yes", "no"})
_DETAIL_CHARS = 200


def normalise(answer: str) -> str:
    """Wrappers read through, look-alikes folded, lower-cased; strip, drop a trailing period;
    letter forms → the letter; yes/no first word (unless the other one is there too)."""
    text = fold_lookalikes(read_through(answer)).strip().removesuffix(".").strip()
    if letter := _LETTER.fullmatch(text):
        return letter.group(1)
    words = [word.strip(string.punctuation) for word in text.split()]
    if words and words[0] in _YES_NO and (_YES_NO - {words[0]}).isdisjoint(words):
        return words[0]
    return text


def prepare(ground_truth: Any, params: NoParams) -> str:
    """The normalised ground truth; an empty one cannot be matched."""
    gold = normalise(scalar_text(ground_truth))
    if not gold:
        raise InvalidInputError("choice ground truth is empty")
    return gold


@verifier("choice", prepare=prepare)
def choice_reward(response: str, ground_truth: Any, params: NoParams, context: Context) -> Score:
    """Option letter or yes/no equal to the ground truth after normalisation (Mixed-R1)."""
    found = final_answer(response)
    if found is None:
        return Score(0.0, {"reason": unanswered(response)})
    answer = normalise(found)
    return Score(1.0 if answer == ground_truth else 0.0, {"extracted": answer[:_DETAIL_CHARS]})
