"""Format checkers: how well a response keeps the reasoning/answer layout.

``think_answer`` (V-Triune / Orsta): +0.25 for each of ``"<think>\\n"``, ``"\\n</think>\\n"``,
``"\\n<answer>\\n"`` and ``"\\n</answer>"`` that occurs exactly once; the newlines are part of
the tags. Range: 0, 0.25, 0.5, 0.75, 1.

Reward-hacking caveats: only the tags are counted, not their order or what lies between them,
so ``"\\n</answer>...<think>\\n"`` earns as much as a well-formed response; keep the format
weight small next to accuracy (Orsta uses 0.1). A tag repeated twice earns nothing for it.
Stray vision tokens (``<|image_pad|>`` …) are removed first, as V-Triune's decoding drops them.
V-Triune's formula, kept exact for ``/judge``: it counts tags, wherever they are, and reads no
answer; the verifiers find the answer by their own rule (``_text.locate``).
"""

from __future__ import annotations

from reward_service.contract.registry import format_checker
from reward_service.verifiers._text import without_vision_tokens

_THINK_ANSWER_TAGS = ("<think>\n", "\n</think>\n", "\n<answer>\n", "\n</answer>")


@format_checker("think_answer")
def think_answer(response: str) -> float:
    """+0.25 for each of ``"<think>\\n"``, ``"\\n</think>\\n"``, ``"\\n<answer>\\n"`` and
    ``"\\n</answer>"`` that occurs exactly once (the newlines are part of the tags)."""
    response = without_vision_tokens(response)
    return 0.25 * sum(response.count(tag) == 1 for tag in _THINK_ANSWER_TAGS)
