"""``math``: the final answer checked by Math-Verify (V-Triune / Orsta math, MiMo-VL reasoning).

Response: free text. Its answer is taken by LaTeX extraction only: every ``\\boxed{}`` first,
then anchored LaTeX such as ``the final answer is $5$``. A bare number with neither a box nor an
anchor (``so 4``) yields nothing and scores 0.

Ground truth: a LaTeX string (``\\boxed{4}``, ``\\frac{1}{2}``, ``2\\pi``, ``[1, 2)``, ``B``) or
a JSON number. It is wrapped in ``$…$`` when it holds neither ``$`` nor ``\\boxed`` (so ``2\\pi``
is 2π, not 2). A ground truth that parses to no mathematical object is ``invalid_input``.

Params: ``vtriune_compat`` (false): parse exactly as V-Triune's reward server did, for its
``/judge`` endpoint — the ground truth unwrapped (a bare ``B`` then parses to nothing), with
math-verify's default LaTeX + expression extraction, first match; the response with V-Triune's
normalisation (no ``nits``, no malformed-operator repair, no unanchored LaTeX), first match.

Formula: both sides lower-cased; accuracy = 1 if ``math_verify.verify(gold, pred)`` else 0.
Range: {0, 1}. Details: the extracted gold and predicted answers (truncated).

Reward-hacking caveats (math-verify 0.9.0, latex2sympy2_extended 1.11.0; pinned in tests):
- Nearby boxes merge into a set (under 10 characters apart, or under 70 with ``and``, ``or``,
  ``,`` or ``;`` between them): ``\\boxed{1} \\boxed{2}`` is {1, 2}, which matches neither 1
  nor 2, so hedging is not paid; boxes further apart: only the last counts.
- The whole response is read: a ``\\boxed{}`` inside the ``<think>`` block counts when the
  text after it has none.
- Units in ``\\text{}`` are dropped, right or wrong (``4\\text{ m}`` matches ``4\\text{ cm}``),
  and ``4\\%`` matches both 4 and 0.04.
- No fixed numeric tolerance: ``0.333333`` ≡ 1/3, but ``0.3333`` ≢ 1/3 and ``2.0000001`` ≢ 2.

Math-verify's own ``signal.alarm`` timeouts are disabled (they work only on the main thread and
cannot stop C-level work such as ``10^{10^{10}}``): raas runs every verifier in a child process
with a hard deadline, so an overrun is reported as status ``timeout``, never as a silent 0.
"""

from __future__ import annotations

import logging
from typing import Any

from latex2sympy2_extended import NormalizationConfig
from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

from reward_service.errors import InvalidInputError
from reward_service.registry import Context, Params, Score, verifier
from reward_service.verifiers._text import scalar_text

# With timeouts disabled on purpose, math-verify warns "Timeout is disabled" on every call; its
# other warnings in these two loggers are about those (disabled) timeouts too.
for _name in ("math_verify.parser", "math_verify.grader"):
    logging.getLogger(_name).setLevel(logging.ERROR)

_GOLD_CONFIG = [LatexExtractionConfig()]
_PRED_CONFIG = [LatexExtractionConfig(boxed_match_priority=0)]
_VTRIUNE_GOLD = [LatexExtractionConfig(), ExprExtractionConfig()]  # parse()'s default
_VTRIUNE_PRED = [
    LatexExtractionConfig(
        normalization_config=NormalizationConfig(
            nits=False, malformed_operators=False, basic_latex=True, boxed="all", units=True
        ),
        boxed_match_priority=0,
        try_extract_without_anchor=False,
    )
]
_DETAIL_CHARS = 200


class MathParams(Params):
    vtriune_compat: bool = False


def _first_match(text: str, config: list[Any]) -> list[Any]:
    """V-Triune's parse: the first extraction that succeeds, in ``config`` order."""
    found: list[Any] = parse(text, config, extraction_mode="first_match", parsing_timeout=None)
    return found


def parse_gold(ground_truth: Any, params: MathParams) -> list[Any]:
    """Math-verify's parse of the ground truth (reused across a GRPO group)."""
    text = scalar_text(ground_truth).lower()
    gold: list[Any]
    if params.vtriune_compat:
        gold = _first_match(text, _VTRIUNE_GOLD)
    else:
        if "$" not in text and "\\boxed" not in text:
            text = f"${text}$"
        gold = parse(
            text, extraction_config=_GOLD_CONFIG, fallback_mode="no_fallback", parsing_timeout=None
        )
    if not gold:
        raise InvalidInputError(f"ground truth {text[:_DETAIL_CHARS]!r} has no math to parse")
    return gold


def _shown(parsed: list[Any]) -> str | None:
    """The extracted string math-verify keeps last in a parse result, truncated."""
    return str(parsed[-1])[:_DETAIL_CHARS] if parsed else None


@verifier("math", params=MathParams, prepare=parse_gold)
def math_reward(response: str, ground_truth: Any, params: MathParams, context: Context) -> Score:
    """Final answer (``\\boxed{}`` first) equivalent to the LaTeX ground truth (Math-Verify)."""
    text = response.lower()
    pred: list[Any]
    if params.vtriune_compat:
        pred = _first_match(text, _VTRIUNE_PRED)
    else:
        pred = parse(text, extraction_config=_PRED_CONFIG, parsing_timeout=None)
    correct = bool(pred) and verify(ground_truth, pred, timeout_seconds=None)
    return Score(
        1.0 if correct else 0.0,
        {"gold": _shown(ground_truth), "extracted": _shown(pred)},
    )
