"""``bmas``: bidirectional max-average similarity of token embeddings (Mixed-R1 open-ended reward).

Served by model workers (``RAAS_MODELS`` or ``RAAS_MODEL_WORKERS``), never by the rule pool.

Response: free text. Ground truth: the reference text (a string; anything else is
``invalid_input``).

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

from typing import Any, Literal

from pydantic import Field

from reward_service.registry import Context, Params, Score, model_verifier


class BMASParams(Params):
    model: str = Field(min_length=1, max_length=128)
    combine: Literal["mean", "f1"] = "mean"
    clamp: Literal["zero", "affine"] = "zero"


@model_verifier("bmas", params=BMASParams)
def bmas_reward(response: str, ground_truth: Any, params: BMASParams, context: Context) -> Score:
    """Bidirectional max-average cosine of token embeddings vs the reference (Mixed-R1)."""
    raise RuntimeError("bmas is scored by model workers; the rule pool must never receive it")
