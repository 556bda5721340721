"""``math``: the final answer checked by Math-Verify, then held to strict equality (V-Triune / Orsta
math, MiMo-VL reasoning).

Response: the final answer by the rule every verifier shares (``_text.locate``): the ``<answer>``
block after the thinking (the last ``</think>``), else the text after it, else all of it; an
unclosed ``<think>`` is no answer (``strict: false`` reads the same place). Inside it, the
``\\boxed{}`` if any, else anchored LaTeX (``the final answer is $5$``), else unanchored LaTeX
(``so $4$``); an answer block that is nothing but an answer (``<answer>\\n4\\n</answer>``) is read
as LaTeX, one that is a currency amount (``$1,000.99``) as its number; a trailing ``\\`` or
``\\\\`` after a boxed or block answer is dropped (``\\boxed{185\\}``). In strict mode, before
LaTeX in prose: the one number a "Final Answer:" sentence states in prose ("Final Answer: The
largest $n$ is 34."; ``_math_prose``: a second number or a hedging word in it is a hedge, 0). A
bare number in other prose (``so 4``, "the answer is 4", a response that is only ``4``) yields
nothing and scores 0. In prose, the span read is the one math-verify takes its verdict from (its
own patterns and priorities), and every strict check looks at that span.

Prompt: read (``reads_prompt``), in strict mode only: an answer that restates the question is
not paid. Samples that differ only in their prompt are scored apart; without a prompt, that one
check is skipped.

Ground truth: a LaTeX string (``\\boxed{4}``, ``\\frac{1}{2}``, ``2\\pi``, ``[1, 2)``, ``B``) or
a JSON number, wrapped in ``$…$`` when it holds neither ``$`` nor ``\\boxed`` (``2\\pi`` is 2π);
a trailing ``\\\\`` and ``\\$`` signs are dropped. A plain ``1,22`` or ``0,111`` (not a thousands
grouping) is read both as a decimal comma and as a list. A one-letter gold (``B``, ``E``, ``I``)
is a choice: compared as a letter, any case, never as Euler's number or the imaginary unit. A
gold math-verify cannot read (``12:00``, ``x = \\frac12, x = \\frac{-1 \\pm \\sqrt{13}}{4}``) is
compared as a normalised string (``details.gold_fallback``); one with neither a digit nor a LaTeX
command (``no-math-here ???``), or empty, is ``invalid_input``.

Params: ``strict`` (true): after math-verify says equal, reject what only its leniency makes equal
(``_math_strict``: rounding, ``12 = 7`` and ``(12 = 7)``, ``y = 5 = 7``, ``x - 5 = 7`` for 7,
``7 \\quad 1``, ``7 \\thinspace 1``, ``2 \\text{ (or 3)}``, ``2 \\text{ (three?)}``, "$7$. Or maybe
$8$.") and what is not an answer (``_math_form``: the question restated, an unevaluated
binomial, integral, derivative, limit, sum…, a root that simplifies, an unreduced fraction
against a fraction or decimal gold, an expanded polynomial against a factored gold, a root set
for an interval and the reverse); an inequality in one variable is read as the set it denotes
(``2 < x < 3`` is right for ``(2, 3)``). Exact values must be equal, a decimal within
``tolerance`` (1e-6, relative) of a value it cannot write exactly; an approximation is a rounding
(``_math_relations``): ``\\frac{\\sqrt{3}}{3} \\approx 0.577`` is right for the exact gold, the
exact side rounding to the digits written (``\\frac{1}{2} \\approx 0.9`` is 0), and
``\\frac{70}{9} \\approx 7.78`` for a gold 7.78, a decimal of three or more significant digits (an
integer or coarse gold may be exact: ``\\frac{5}{11} \\approx 0.5`` is 0 for 0.5); nothing is
lower-cased; ``1e-7`` is read as 10⁻⁷, ``1 000`` and ``14{,}916`` as one number. ``final_form``
(true): the
``_math_form`` checks of form (the restated question and the final-form rules; the kinds of sets
stay); false pays an unevaluated but equal answer.
``strict: false``: plain math-verify on the final answer's region (the same place as strict),
both sides lower-cased (the gold still wrapped; an unreadable one is ``invalid_input``); none of
strict's readings (prose after "Final Answer:", currency blocks, trailing backslashes, the
approximate side of ``\\approx``).
``vtriune_compat`` (false): V-Triune's reward server exactly, for ``/judge``: the whole response
(its thinking too), both sides lower-cased, the gold unwrapped (a bare ``B`` parses to nothing),
first matches, never ``strict``.

Formula: accuracy = 1 if math-verify's ``verify(gold, pred)`` holds (and, strict, no check
objects; a letter gold: the same letter; an unreadable gold: the same normalised string) else 0.
Range: {0, 1}. Details: the extracted answers, and ``reason`` for a rejection.

Reward-hacking caveats (math-verify 0.9.0, latex2sympy2_extended 1.11.0; pinned in tests):
- Several different boxed values in the final answer are a hedge and score 0, unless the gold
  answer itself holds several (a set, a list): then the boxes merge into a set that must match.
- Nothing inside the thinking is read; a thinking never closed (a truncated rollout) scores 0;
  several answer blocks holding different answers are a hedge and score 0.
- Units in ``\\text{}`` are dropped, right or wrong (``4\\text{ m}`` matches ``4\\text{ cm}``),
  and ``4\\%`` matches both 4 and 0.04; a gold ``1,5`` matches both 1.5 and {1, 5}.
- A number written in prose without LaTeX is read only after "final answer" and alone in its
  sentence: "Therefore, there are 12 sequences." and a response that is only ``$1,000.99`` score
  0, where peers' tests expect 1 (see ``bench/bench_agreement.py``). A "Final Answer:" sentence
  whose one number is incidental ("Final Answer: Sphere started 3 hours ago" for a gold 3) is
  read as that number.
- A gold decimal of three or more significant digits is taken to be a rounding: an exact value
  that rounds to it, stated with its approximation (``\\frac{70}{9} \\approx 7.78``), is paid even
  if the gold was exact.
- A gold ``(a, b)`` is an interval for math-verify; it is read as a point only when the prompt
  asks for one ("point", "coordinates", "ordered pair"…, and no inequality): then an inequality
  is not accepted for it. A bare list ``a, b`` for it is left to math-verify unless the gold
  (``[``, ``\\infty``, ``\\cup``) or the prompt makes it surely an interval.
- A hedge word after the answer counts only when another value follows it closely ("or maybe
  $8$"); a sentence of doubt with no value ("I am not sure") is not read as one.
- A question restated without ``$…$`` in the prompt (plain text) is not recognised as such; its
  unevaluated forms still are.
- ``strict: false`` inherits math-verify's false positives: 6-decimal rounding
  (``0.00000049`` ≡ ``0.0000004``), ``12 = 7`` read as 7, ``7 \\quad 1`` as 8,
  ``\\frac{1}{2} \\approx 0.9`` as 1/2.

Math-verify's own ``signal.alarm`` timeouts are disabled (they work only on the main thread and
cannot stop C-level work such as ``10^{10^{10}}``): raas runs every verifier in a child process
with a hard deadline, so an overrun is reported as status ``timeout``, never as a silent 0.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import Field

from reward_service.contract.registry import Context, Params, Score, verifier
from reward_service.verifiers import _math_form as mf
from reward_service.verifiers import _math_parse as mp
from reward_service.verifiers import _math_relations as mr
from reward_service.verifiers import _math_strict as ms
from reward_service.verifiers._text import HEDGE, boxed, locate

# With timeouts disabled on purpose, math-verify warns "Timeout is disabled" on every call; its
# other warnings in these two loggers are about those (disabled) timeouts too.
for _name in ("math_verify.parser", "math_verify.grader"):
    logging.getLogger(_name).setLevel(logging.ERROR)


class MathParams(Params):
    strict: bool = True
    final_form: bool = True
    tolerance: float = Field(default=1e-6, ge=0, le=1, allow_inf_nan=False)
    vtriune_compat: bool = False


def parse_gold(ground_truth: Any, params: MathParams) -> mp.Gold:
    """Math-verify's parse of the ground truth (reused across a GRPO group)."""
    if params.vtriune_compat or not params.strict:
        return mp.lenient_gold(ground_truth, vtriune=params.vtriune_compat)
    return mp.strict_gold(ground_truth)


def _lenient(response: str, gold: mp.Gold, params: MathParams) -> Score:
    if not params.vtriune_compat:  # V-Triune reads the whole response; raas its final answer
        region = locate(response)
        if region.problem is not None:
            return Score(0.0, {"gold": gold.shown, "reason": region.problem})
        response = region.text
    pred = mp.lenient_pred(response, vtriune=params.vtriune_compat)
    correct = ms.equal_by_math_verify(gold.parsed, pred)
    return Score(1.0 if correct else 0.0, {"gold": gold.shown, "extracted": mp.shown(pred)})


def _problem(
    answers: list[str], gold: mp.Gold, pred: list[Any], prompt: str | None, params: MathParams
) -> str | None:
    """Why a prediction math-verify accepts is not strictly equal, or ``None``."""
    equation = any(ms.is_equation(value) for value in gold.parsed)
    for answer in answers:
        if found := ms.several_values(answer, gold.multi) or mr.relation_problem(
            answer, params.tolerance, equation
        ):
            return found
    matched = [value for value in gold.parsed if ms.equal_by_math_verify([value], pred)]
    for value in matched or gold.parsed:
        if found := mf.kind_problem(value, pred[0], gold.text, answers[-1], prompt):
            return found
    if any(isinstance(value, str) for value in matched):
        return None  # the same answer, character for character
    if any(ms.agree(*ms.unwrapped(value, pred[0]), params.tolerance) for value in matched):
        return None
    return "equal only after rounding"


def _form(
    answers: list[str],
    answer: mp.Answer,
    region: str,
    gold: mp.Gold,
    pred: list[Any],
    prompt: str | None,
    params: MathParams,
) -> str | None:
    """Why the answer, equal by value, is not an answer: a hedge after it, or (unless
    ``final_form: false``) the question restated or a form that is not final."""
    if found := ms.hedge_after(answer.tail, gold.multi):
        return found
    if not params.final_form:
        return None
    written = mr.value_sides(", ".join(answers))
    return mf.form_problem(written, region, gold.text, gold.parsed[0], pred[0], prompt)


@verifier("math", params=MathParams, prepare=parse_gold, reads_prompt=True)
def math_reward(
    response: str,
    ground_truth: Any,
    params: MathParams,
    context: Context,
    prompt: str | None = None,
) -> Score:
    """Final answer (answer block, else after thinking; ``\\boxed{}`` first) equal to the LaTeX
    ground truth by Math-Verify, then strictly (no rounding, no ``12 = 7``, no hedges, no
    question restated, final form)."""
    gold: mp.Gold = ground_truth
    if params.vtriune_compat or not params.strict:
        return _lenient(response, gold, params)
    found = locate(response)
    if found.problem is not None:
        return Score(0.0, {"gold": gold.shown, "reason": found.problem})
    region = found.text
    boxes = boxed(region)
    if boxes.hedge and (not gold.multi or not boxes.answers):
        return Score(0.0, {"gold": gold.shown, "reason": HEDGE})
    answer = mp.strict_answer(region, boxes, is_block=found.is_block)
    if answer is None:
        return Score(0.0, {"gold": gold.shown, "reason": "exponent beyond ±1000"})
    if answer.problem is not None:
        return Score(0.0, {"gold": gold.shown, "reason": answer.problem})
    pred = answer.pred if answer.pred is not None else mp.strict_pred(answer.text)
    raw = answer.raw if answer.raw is not None else str(pred[-1]) if pred else ""
    details: dict[str, Any] = {"gold": gold.shown, "extracted": mp.shown(pred)}
    if gold.parsed and (rounded := _rounded_side(raw, gold, pred)) is not None:
        pred = rounded  # a gold that is itself rounded: 7.78 for \frac{70}{9} \approx 7.78
        details |= {"read_as": "the approximate side"}
    if (choice := mp.letter(gold.text)) is not None:  # a choice, not E = e or I = √−1
        return Score(1.0 if mp.letter(raw) == choice else 0.0, details | {"gold_letter": choice})
    if not gold.parsed:  # math-verify cannot read the gold: compare strings
        correct = mp.same_text(raw, gold.text)
        return Score(1.0 if correct else 0.0, details | {"gold_fallback": "string"})
    if not ms.equal_by_math_verify(gold.parsed, pred):
        if not _denotes_gold_set(gold, pred, prompt):
            return Score(0.0, details)
        if reason := ms.several_values(raw, gold.multi) or _form(
            [raw], answer, region, gold, pred, prompt, params
        ):
            return Score(0.0, details | {"reason": reason})
        return Score(1.0, details | {"read_as": "the set an inequality denotes"})
    answers = boxes.answers or [raw]
    if reason := _problem(answers, gold, pred, prompt, params) or _form(
        answers, answer, region, gold, pred, prompt, params
    ):
        return Score(0.0, details | {"reason": reason})
    return Score(1.0, details)


def _rounded_side(raw: str, gold: mp.Gold, pred: list[Any]) -> list[Any] | None:
    """The approximate side of ``raw`` (``\\frac{70}{9} \\approx 7.78``: 7.78) as math-verify
    reads it, when the gold is a fine rounding (``mr.fine_rounding``) equal to that side and not
    to the exact one math-verify read first (it takes the left side of ``\\approx``); the strict
    checks then hold the exact side to round to it. Else ``None``."""
    side = mr.approximate_side(raw)
    if side is None or not mr.fine_rounding(mp.normal_text(gold.text)):
        return None
    if ms.equal_by_math_verify(gold.parsed, pred):
        return None
    rounded = mp.strict_pred(f"${side}$")
    return rounded if ms.equal_by_math_verify(gold.parsed, rounded) else None


def _denotes_gold_set(gold: mp.Gold, pred: list[Any], prompt: str | None) -> bool:
    """Whether the answer (an inequality in one variable) denotes the gold's interval or set."""
    point = mf.asks_for_point(prompt)
    return bool(pred) and any(mf.same_set(value, pred[0], point) for value in gold.parsed)
