"""``rm``: a Bradley–Terry reward model, text or image+text (MiMo-VL's RLHF reward).

Served by model workers (``RAAS_MODELS`` or ``RAAS_MODEL_WORKERS``), never by the rule pool.

Response: free text, scored as the assistant turn of the conversation.

Prompt: the sample's ``prompt`` is the user turn (send it: a BT model scores a reply *to*
something); ``images`` go with it for a ``bt_vision`` model — base64 (``data:image/png;base64,…``
or bare) or paths under the model's ``image_root``.

Ground truth: ignored (a BT reward model is reference-free).

Params: ``model`` (a configured model of kind ``bt`` or ``bt_vision``), ``bias`` (subtracted
from the score before the sigmoid; default: the model's configured ``bias``, else 0),
``ignore_images`` (false): a text-only (``bt``) model given a sample with images answers
``invalid_input`` — it would judge the reply without seeing what it is about — unless this is
set; route such samples to a ``bt_vision`` model instead (a route's ``with_images`` variant).

Formula: s = the model's scalar score of the chat-formatted conversation;
accuracy = sigmoid(s − bias). Range: (0, 1); ``details.score`` is s, so a trainer can
normalise per group itself. No model of that name → ``unavailable`` (naming those configured);
a model that failed to load → ``unavailable`` with its error; more tokens than the model's
``max_input_tokens`` → ``invalid_input``.

Reward-hacking caveats: a policy optimised against a fixed RM over-optimises it (Gao et al.,
2022): the RM score keeps rising while true quality falls; watch held-out rule rewards, keep a
KL penalty, and mix RM rewards with verifiable ones. BT RMs are known to prefer longer, more
confident, more formatted answers (length bias): monitor ``summary.by_source`` response length.
The sigmoid saturates: differences between scores far above the bias vanish; choose ``bias``
near the median score of your data.
"""

from __future__ import annotations

import math

from pydantic import Field

from reward_service.contract.registry import Params, Score, model_verifier
from reward_service.models.config import ModelSpec


class RMParams(Params):
    model: str = Field(min_length=1, max_length=128)
    bias: float | None = Field(None, allow_inf_nan=False)
    ignore_images: bool = False


@model_verifier("rm", params=RMParams, kinds=("bt", "bt_vision"))
def rm_reward(score: float, params: RMParams, model: ModelSpec) -> Score:
    """Bradley–Terry reward model score mapped by sigmoid(score − bias) (MiMo-VL RLHF)."""
    if not math.isfinite(score):
        raise ValueError(f"model {model.name!r} returned a non-finite score {score!r}")
    bias = model.bias if params.bias is None else params.bias
    return Score(sigmoid(score - bias), {"score": score, "bias": bias})


def sigmoid(x: float) -> float:
    """1 / (1 + e^−x) without overflow for large |x|."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    exp = math.exp(x)
    return exp / (1.0 + exp)
