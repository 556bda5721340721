"""``bmas``: bidirectional max-average similarity of token embeddings (Mixed-R1 open-ended reward).

Served by model workers (``RAAS_MODELS`` or ``RAAS_MODEL_WORKERS``), never by the rule pool.

Response: its final answer, by the rule every verifier shares (``_text.locate``): the
``<answer>`` block after the thinking (the last ``</think>``), else the text after it, else all of
it; within it, the ``\\boxed{}`` if there is one. The thinking and the tags are never embedded,
so an answer identical to the reference scores 1 in any layout. No final answer (a ``<think>``
never closed: a truncated rollout; answer blocks or boxes holding different answers: a hedge)
scores 0 with ``details.reason`` saying which, as every verifier reports it. Ground truth: the
reference text (a string; anything else is ``invalid_input``).

Params: ``model`` (a configured model of kind ``bmas``: its tokenizer and input-embedding
table), ``combine`` (``"mean"``, default, or ``"f1"``), ``clamp`` (``"zero"``, default, or
``"affine"``).

Formula: tokenise response and reference with the model's tokenizer, special tokens removed;
embed each token with the model's input-embedding table; S_ij = cosine(response token i,
reference token j), and 1 where the two token ids are equal; P = mean_i max_j S_ij (precision),
R = mean_j max_i S_ij (recall). ``mean``: BMAS = clamp((P + R)/2). ``f1``: p, r = clamp(P),
clamp(R), BMAS = 2pr/(p + r) (0 when p + r = 0). clamp ``zero``: max(x, 0); ``affine``:
(x + 1)/2. An empty side (no tokens left) → 0; identical texts → 1. Range: [0, 1];
``details`` hold P and R.

Reward-hacking caveats: BMAS rewards lexical overlap with the reference, not meaning or
correctness: restating the reference's words (or the question's, which the reference often
repeats) scores high, a correct paraphrase in other words scores lower, and negation is nearly
invisible ("is" vs "is not" differ by one token). Padding an answer with many words keeps R high
and costs only P, which ``mean`` halves; ``f1`` punishes low precision harder. Pair it with a
length or format check and prefer verifiable rewards wherever an answer can be checked.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from reward_service.contract.registry import Params, Score, model_verifier
from reward_service.models.config import ModelSpec

Clamp = Literal["zero", "affine"]


class BMASParams(Params):
    model: str = Field(min_length=1, max_length=128)
    combine: Literal["mean", "f1"] = "mean"
    clamp: Clamp = "zero"


@model_verifier("bmas", params=BMASParams, kinds=("bmas",))
def bmas_reward(
    precision_recall: tuple[float, float] | str | None, params: BMASParams, model: ModelSpec
) -> Score:
    """Bidirectional max-average cosine of token embeddings vs the reference (Mixed-R1); a
    string is why the response has no final answer (the scorer embedded nothing)."""
    if isinstance(precision_recall, str):
        return Score(0.0, {"reason": precision_recall})
    if precision_recall is None:  # one side had no tokens
        return Score(0.0, {"precision": 0.0, "recall": 0.0, "empty": True})
    p, r = precision_recall
    return Score(bmas_value(p, r, params.combine, params.clamp), {"precision": p, "recall": r})


def clamp(value: float, mode: Clamp) -> float:
    return max(value, 0.0) if mode == "zero" else (value + 1.0) / 2.0


def bmas_value(
    precision: float, recall: float, combine: Literal["mean", "f1"], mode: Clamp
) -> float:
    """REWARD_SPEC's BMAS from P and R: ``mean`` clamps (P + R)/2; ``f1`` is the harmonic mean
    of the clamped P and R (a harmonic mean needs non-negative terms)."""
    if combine == "mean":
        value = clamp((precision + recall) / 2.0, mode)
    else:
        p, r = clamp(precision, mode), clamp(recall, mode)
        value = 2.0 * p * r / (p + r) if p + r > 0 else 0.0
    return min(max(value, 0.0), 1.0)
