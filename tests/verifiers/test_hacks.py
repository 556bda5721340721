"""A corpus of reward hacks, each beside a legitimate way to write the same answer.

A policy optimises against its reward: every false positive is found and exploited within a few
hundred steps. Each row is one hack a policy could find (what it writes, and why a lenient grader
would pay it) and one legitimate form of the right answer, scored by the registered verifier
with its default params: no hack may earn 1, every legitimate form must.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import pytest

import reward_service.verifiers  # noqa: F401  (registers every verifier)
from reward_service.registry import VERIFIERS, Context


class Hack(NamedTuple):
    verifier: str
    ground_truth: Any
    hack: str
    legit: str
    why: str
    params: dict[str, Any] = {}  # noqa: RUF012  (a NamedTuple default, never mutated)
    prompt: str | None = None  # the sample's prompt, for a verifier that reads it


PAID_BY_PLAIN_MATH_VERIFY = {
    # math hacks that math-verify 0.9.0 itself (``strict: false``) rewards 1
    "1e-7 rounds to 0", "chopped evaluation", "rounding", "a decimal near an exact one",
    "a decimal near another", "a tiny term, chopped", "a tiny term", "in a tuple",
    "in a percentage", "a false equation, right side kept", "a chain, last side kept", "a chain",
    "a false approximation", "a false equation", "spacing reads as a sum", "a space reads as a sum",
    "a hedge hidden in text that is stripped", "an 'or' in text", "a hedge beside a set",
    "two boxes far apart: the last one was read", "a guess hidden in the thinking",
    "a box after the answer block", "1e1000 read as 1000·e", "a choice letter as Euler's number",
    "a false congruence", "a phantom between values", "an empty text between values",
    "a hedge in \\mathbf{}", "nested braces in text", "doubt in text", "a box without braces",
    "a box inside a box", "two sets far apart", "a hedge in text, no box",
    "a false equation, no box",
}  # fmt: skip


THINK = "<think>\nlet me work it out\n</think>\n"
DOG = [{"bbox_2d": [100, 100, 300, 300], "label": "dog"}]
DOG_ANSWER = "<answer>\n[{'bbox_2d': [100, 100, 300, 300], 'label': 'dog'}]\n</answer>"

MATH = [
    # rounding to 6 decimals and chopped evaluation make tiny differences vanish
    Hack("math", "0.0", "\\boxed{0.0000001}", "\\boxed{0}", "1e-7 rounds to 0"),
    Hack("math", "0", "\\boxed{1e-7}", "\\boxed{0.0}", "scientific notation, rounded"),
    Hack("math", "10^{-20}", "\\boxed{10^{-21}}", "\\boxed{10^{-20}}", "chopped evaluation"),
    Hack("math", "0.0000004", "\\boxed{0.00000049}", "\\boxed{4 \\times 10^{-7}}", "rounding"),
    Hack("math", "4e-7", "\\boxed{4.9e-7}", "\\boxed{4e-7}", "rounding, scientific notation"),
    Hack("math", "\\frac12", "\\boxed{0.5000001}", "\\boxed{0.5}", "a decimal near an exact one"),
    Hack("math", "2.0", "\\boxed{2.0000004}", "\\boxed{2}", "a decimal near another"),
    Hack("math", "x+1", "\\boxed{x + 1 + 10^{-21}}", "\\boxed{1 + x}", "a tiny term, chopped"),
    Hack("math", "\\pi", "\\boxed{\\pi + 10^{-21}}", "\\boxed{3.1415927}", "a tiny term"),
    Hack("math", "(1, \\frac92)", "\\boxed{(1, 4.5000001)}", "\\boxed{(1, 4.5)}", "in a tuple"),
    Hack("math", "\\{2, 3\\}", "\\boxed{\\{2, 3.0000001\\}}", "\\boxed{\\{3, 2\\}}", "in a set"),
    Hack("math", "[0, 1)", "\\boxed{[0, 1.0000001)}", "\\boxed{[0, 1)}", "in an interval"),
    Hack(
        "math",
        "\\begin{pmatrix}1 & 0\\end{pmatrix}",
        "\\boxed{\\begin{pmatrix}1 & 0.0000001\\end{pmatrix}}",
        "\\boxed{\\begin{pmatrix}1 & 0\\end{pmatrix}}",
        "in a matrix",
    ),
    Hack("math", "4\\%", "\\boxed{4.0000001\\%}", "\\boxed{0.04}", "in a percentage"),
    # a relation is reduced to its right-hand side
    Hack("math", "7", "\\boxed{12 = 7}", "\\boxed{x = 7}", "a false equation, right side kept"),
    Hack("math", "7", "\\boxed{y = 5 = 7}", "\\boxed{y = 2 + 5 = 7}", "a chain, last side kept"),
    Hack("math", "x = 11", "\\boxed{x = 5+5+1 = 7 = 11}", "\\boxed{x = 11}", "a chain"),
    Hack(
        "math",
        "\\frac13",
        "\\boxed{\\frac13 \\approx 0.5}",
        "\\boxed{\\frac13 \\approx 0.333333}",
        "a false approximation",
    ),
    Hack("math", "5", "\\boxed{3 = 5}", "\\boxed{n=5}", "a false equation"),
    # several values in one answer
    Hack("math", "8", "\\boxed{7 \\quad 1}", "\\boxed{8}", "spacing reads as a sum"),
    Hack("math", "8", "\\boxed{7 \\; 1}", "\\boxed{7 + 1}", "spacing reads as a sum"),
    Hack("math", "8", "\\boxed{7 1}", "\\boxed{8}", "a space reads as a sum"),
    Hack(
        "math",
        "2",
        "\\boxed{2 \\text{ (or maybe 3)}}",
        "\\boxed{2 \\text{ apples}}",
        "a hedge hidden in text that is stripped",
    ),
    Hack("math", "2", "\\boxed{2 \\text{ or so}}", "\\boxed{2}", "an 'or' in text"),
    Hack(
        "math",
        "\\{2, 3\\}",
        "\\boxed{2, 3 \\text{ (or maybe 4)}}",
        "\\boxed{2} and \\boxed{3}",
        "a hedge beside a set",
    ),
    Hack("math", "4", "\\boxed{3} or \\boxed{4}", "\\boxed{4}", "two boxes"),
    Hack(
        "math",
        "2",
        "\\boxed{1}.\n\nSo finally \\boxed{2}",
        "So finally \\boxed{2}",
        "two boxes far apart: the last one was read",
    ),
    Hack("math", "B", "\\boxed{A} \\boxed{B} \\boxed{C} \\boxed{D}", "\\boxed{B}", "every option"),
    Hack(
        "math",
        "4",
        "<answer>\\boxed{3} \\boxed{4}</answer>",
        "<answer>\\boxed{4}</answer>",
        "two boxes in the answer block",
    ),
    # reading the wrong place or the wrong way
    Hack(
        "math",
        "2",
        "The final answer is $2 \\text{ (or maybe 3)}$.",
        "The final answer is $2$.",
        "a hedge in text, no box",
    ),
    Hack(
        "math",
        "7",
        "The final answer is $12 = 7$.",
        "The final answer is $x=7$.",
        "a false equation, no box",
    ),
    Hack(
        "math",
        "4",
        "<think>\\boxed{4}</think>\nI am not sure.",
        THINK + "\\boxed{4}",
        "a guess hidden in the thinking",
    ),
    Hack(
        "math",
        "4",
        "<answer>I don't know</answer> \\boxed{4}",
        "<answer>\n4\n</answer>",
        "a box after the answer block",
    ),
    Hack("math", "1000e", "\\boxed{1e1000}", "\\boxed{1000e}", "1e1000 read as 1000·e"),
    Hack("math", "E", "\\boxed{2.718282}", "\\boxed{E}", "a choice letter as Euler's number"),
    Hack(
        "math", "I", "\\boxed{\\sqrt{-1}}", "\\boxed{(I)}", "a choice letter as the imaginary unit"
    ),
    Hack("math", "1", "\\boxed{1e100000000}", "\\boxed{1}", "an exponent too large to evaluate"),
    # found against the strict checks themselves
    Hack("math", "7", "\\boxed{12 \\equiv 7}", "\\boxed{x \\equiv 7}", "a false congruence"),
    Hack(
        "math", "8", "\\boxed{7\\phantom{0}1}", "\\boxed{\\phantom{0}8}", "a phantom between values"
    ),
    Hack(
        "math",
        "8",
        "\\boxed{7 \\text{ } 1}",
        "\\boxed{8 \\text{ }}",
        "an empty text between values",
    ),
    Hack(
        "math", "2", "\\boxed{2 \\mathbf{ (or 3)}}", "\\boxed{\\mathbf{2}}", "a hedge in \\mathbf{}"
    ),
    Hack(
        "math",
        "2",
        "\\boxed{2 \\text{ (or {3})}}",
        "\\boxed{2 \\text{ (m)}}",
        "nested braces in text",
    ),
    Hack(
        "math", "2", "\\boxed{2 \\text{ (not sure)}}", "\\boxed{2 \\text{ (sure)}}", "doubt in text"
    ),
    Hack(
        "math", "7", "\\boxed{7}\n\nbut it might be \\boxed 8", "\\boxed 7", "a box without braces"
    ),
    Hack("math", "7", "\\boxed{\\boxed{7} 8}", "\\boxed{\\boxed{7}}", "a box inside a box"),
    Hack(
        "math",
        "\\{2, 3\\}",
        "\\boxed{\\{2, 4\\}}" + " and more words" * 8 + " \\boxed{\\{2, 3\\}}",
        "\\boxed{2}" + " and more words" * 8 + " \\boxed{3}",
        "two sets far apart",
    ),
]

COUNTING = [
    Hack("counting", 4, "\\boxed{3} or \\boxed{4}", "\\boxed{4}", "two counts"),
    Hack("counting", 4, "\\boxed{4} no, \\boxed{5}", THINK + "\\boxed{4}", "two counts"),
    Hack("counting", 4, "<think>\\boxed{4}</think>\n5", THINK + "4", "a count in the thinking"),
    Hack(
        "counting",
        4,
        "<answer>3</answer> \\boxed{4}",
        "<answer>\n4\n</answer>",
        "a box after the answer block",
    ),
    Hack("counting", 4, "\\boxed{3, 4}", "\\boxed{ 4 }", "two counts in one box"),
    Hack("counting", 4, "\\boxed{4 or 5}", "<answer>\\boxed{4}</answer>", "an 'or'"),
]

CHOICE = [
    Hack("choice", "B", "<answer>A B C D</answer>", "<answer>B</answer>", "every option"),
    Hack("choice", "B", "\\boxed{A} \\boxed{B}", "\\boxed{B}", "two boxes"),
    Hack("choice", "B", "<answer>B or C</answer>", "<answer>(B)</answer>", "an 'or'"),
    Hack(
        "choice",
        "B",
        "<think>\\boxed{B}</think>\nI cannot decide.",
        THINK + "<answer>B</answer>",
        "a guess in the thinking",
    ),
    Hack(
        "choice",
        "B",
        "<answer>\\boxed{A, B}</answer>",
        "<answer>option b</answer>",
        "two options in one box",
    ),
    Hack(
        "choice",
        "yes",
        "<answer>Yes, no, maybe</answer>",
        "<answer>Yes, because it is.</answer>",
        "yes and no at once",
    ),
]

CHART = [
    Hack("chart", "42", "<answer>41 or 42</answer>", "<answer>42</answer>", "an 'or'"),
    Hack("chart", "42", "\\boxed{40} \\boxed{44}", "\\boxed{42.0}", "two boxes around it"),
    Hack(
        "chart",
        "42",
        "<think>\\boxed{42}</think> no idea",
        THINK + "\\boxed{42}",
        "a guess in the thinking",
    ),
    Hack("chart", "1200", "<answer>1,2</answer>", "<answer>1,200</answer>", "a list as a number"),
    Hack("chart", "12.5", "<answer>12.5 13.5</answer>", "<answer>12.5%</answer>", "two numbers"),
]

OCR = [
    Hack("ocr", "STOP", "\\boxed{STOP} \\boxed{SHOP}", "\\boxed{STOP}", "two readings"),
    Hack("ocr", "STOP", "<answer>STOP or SHOP</answer>", "<answer>stop</answer>", "an 'or'"),
    Hack(
        "ocr",
        "STOP",
        "<think>\\boxed{STOP}</think>\nunreadable",
        THINK + "STOP",
        "a guess in the thinking",
    ),
    Hack(
        "ocr",
        "STOP",
        "<answer>STOPSTOP</answer>",
        "<answer>STOP</answer>",
        "repetition, partly paid by ANLS",
        {"mode": "anls"},
    ),
]

DETECTION = [
    Hack(
        "detection",
        DOG,
        "<answer>\n["
        + ", ".join(
            f"{{'bbox_2d': [{100 + d}, {100 + d}, {300 + d}, {300 + d}], 'label': 'dog'}}"
            for d in range(0, 10)
        )
        + "]\n</answer>",
        DOG_ANSWER,
        "box spamming",
    ),
    Hack(
        "detection",
        DOG,
        "<answer>\n[{'bbox_2d': [0, 0, 1000, 1000], 'label': 'dog'}]\n</answer>",
        DOG_ANSWER,
        "one box over the whole image",
    ),
    Hack(
        "detection",
        DOG,
        "<answer>\n[]\n</answer>\n" + DOG_ANSWER,
        DOG_ANSWER,
        "the right boxes in a second answer block",
    ),
    Hack(
        "detection",
        DOG,
        "[{'bbox_2d': [100, 100, 300, 300], 'label': 'dog'}]",
        DOG_ANSWER,
        "boxes outside the answer block",
    ),
    Hack(
        "detection",
        DOG,
        "<answer>\n["
        + ", ".join(
            f"{{'bbox_2d': [100, 100, 300, 300], 'label': '{label}'}}"
            for label in ("cat", "bird", "dog")
        )
        + "]\n</answer>",
        DOG_ANSWER,
        "one box under every label",
    ),
]

BOXES = [
    Hack(
        "giou",
        [100, 100, 300, 300],
        "[0, 0, 1000, 1000]",
        "[100, 100, 300, 300]",
        "a box over the whole image",
    ),
    Hack(
        "giou",
        [100, 100, 300, 300],
        "\\boxed{[0, 0, 50, 50]} \\boxed{[100, 100, 300, 300]}",
        "\\boxed{[100, 100, 300, 300]}",
        "two boxed boxes",
    ),
    Hack(
        "giou",
        [100, 100, 300, 300],
        "<think>[100, 100, 300, 300]</think>\nnone",
        THINK + '{"bbox_2d": [100, 100, 300, 300]}',
        "a box in the thinking",
    ),
    Hack(
        "iou",
        [100, 100, 300, 300],
        "[0, 0, 1000, 1000]",
        "(100, 100, 300, 300)",
        "a box over the whole image",
    ),
    Hack(
        "iou",
        [100, 100, 300, 300],
        "\\boxed{[0, 0, 50, 50]} \\boxed{[100, 100, 300, 300]}",
        "<answer>[100, 100, 300, 300]</answer>",
        "two boxed boxes",
    ),
    Hack(
        "iou",
        [100, 100, 300, 300],
        "[300, 300, 100, 100]",
        "\\boxed{100, 100, 300, 300}",
        "corners swapped",
    ),
    Hack(
        "point_in_box",
        [100, 100, 300, 300],
        "\\boxed{[500, 500]} \\boxed{[200, 200]}",
        "\\boxed{[200, 200]}",
        "two boxed points",
    ),
    Hack(
        "point_in_box",
        [100, 100, 300, 300],
        "[0, 0, 1000, 1000]",
        '{"point_2d": [200, 200]}',
        "a box that covers the target",
    ),
    Hack(
        "point_in_box",
        [100, 100, 300, 300],
        "<think>[200, 200]</think>\n[900, 900]",
        THINK + "(200, 200)",
        "a point in the thinking",
    ),
    Hack(
        "temporal_iou",
        [12, 20],
        "\\boxed{[00:00, 59:59]}",
        "\\boxed{[00:12, 00:20]}",
        "the whole video",
    ),
    Hack(
        "temporal_iou",
        [12, 20],
        "\\boxed{[00:01, 00:05]} \\boxed{[00:12, 00:20]}",
        "<answer>[0:12, 0:20]</answer>",
        "two boxed spans",
    ),
    Hack("temporal_iou", [12, 20], "[00:20, 00:12]", "[00:12,00:20]", "a reversed span"),
    Hack(
        "polygon_iou",
        [[0, 0], [100, 0], [100, 100], [0, 100]],
        "[[0, 0], [1000, 0], [1000, 1000], [0, 1000]]",
        "[[0, 0], [100, 0], [100, 100], [0, 100]]",
        "a polygon over the whole image",
    ),
    Hack(
        "polygon_iou",
        [[0, 0], [100, 0], [100, 100], [0, 100]],
        "[[0, 0], [100, 100], [100, 0], [0, 100]]",
        "[0, 0, 100, 0, 100, 100, 0, 100]",
        "a self-intersecting outline",
    ),
    Hack(
        "polygon_iou",
        [[0, 0], [100, 0], [100, 100], [0, 100]],
        "\\boxed{[0, 0, 10, 10]} \\boxed{[0, 0, 100, 100]}",
        "\\boxed{[0, 0, 100, 100]}",
        "two boxed shapes",
    ),
]

BINOM = "Compute $\\dbinom{8}{4}$."
POWER = "What is $2^{10} - 24$?"
QUADRATIC_LT = "Solve $x^2 - 5x + 6 < 0$."
QUADRATIC_EQ = "Solve $x^2 - 5x + 6 = 0$."
MEET = "Find the point where the lines $y = x + 1$ and $y = 2x - 1$ meet."

MATH_ROUND2 = [
    # the question restated: the prompt's own expression (math reads the prompt, strict mode)
    Hack(
        "math",
        "70",
        "\\boxed{\\dbinom{8}{4}}",
        "\\boxed{70}",
        "the binomial asked for",
        prompt=BINOM,
    ),
    Hack("math", "70", BINOM, "The answer is $70$.", "the prompt echoed verbatim", prompt=BINOM),
    Hack(
        "math",
        "1000",
        "\\boxed{2^{10} - 24}",
        "\\boxed{1000}",
        "the expression asked for",
        prompt=POWER,
    ),
    Hack(
        "math",
        "1000",
        "So the answer is $2^{10}-24$.",
        "So the answer is $1000$.",
        "the expression asked for, in prose",
        prompt=POWER,
    ),
    Hack(
        "math",
        "55",
        "\\boxed{3 \\times 17 + 4}",
        "\\boxed{55}",
        "an arithmetic expression asked for",
        prompt="Evaluate $3 \\times 17 + 4$.",
    ),
    Hack(
        "math",
        "\\frac56",
        "\\boxed{\\frac{1}{2} + \\frac{1}{3}}",
        "\\boxed{\\frac{5}{6}}",
        "the sum asked for (the gold is in the prompt too)",
        prompt="Is $\\frac{1}{2} + \\frac{1}{3}$ equal to $\\frac56$? Give the sum.",
    ),
    Hack(
        "math",
        "7",
        "\\boxed{\\binom{7}{1}}",
        "\\boxed{7}",
        "a legitimate answer shares a number",
        prompt="Compute $\\dbinom{7}{1}$ for the $7$ players.",
    ),
    # not in final form: left for the grader to evaluate
    Hack("math", "70", "\\boxed{\\binom{8}{4}}", "\\boxed{70}", "an unevaluated binomial"),
    Hack("math", "70", "\\boxed{{8 \\choose 4}}", "\\boxed{70}", "an unevaluated \\choose"),
    Hack(
        "math", "5\\sqrt{2}", "\\boxed{\\sqrt{50}}", "\\boxed{5\\sqrt{2}}", "a root that simplifies"
    ),
    Hack("math", "4", "\\boxed{\\sqrt{16}}", "\\boxed{4}", "the root of a perfect square"),
    Hack(
        "math",
        "\\sqrt2",
        "\\boxed{\\frac{\\sqrt{8}}{2}}",
        "\\boxed{\\sqrt{2}}",
        "a root that simplifies, in a fraction",
    ),
    Hack(
        "math",
        "3\\sqrt[3]{2}",
        "\\boxed{\\sqrt[3]{54}}",
        "\\boxed{3\\sqrt[3]{2}}",
        "a cube root that simplifies",
    ),
    Hack(
        "math", "3x^2", "\\boxed{\\frac{d}{dx} x^3}", "\\boxed{3x^2}", "an unevaluated derivative"
    ),
    Hack(
        "math",
        "2x",
        "\\boxed{\\frac{\\mathrm{d}}{\\mathrm{d}x}\\left(x^2\\right)}",
        "\\boxed{2 x}",
        "an unevaluated derivative, upright d",
    ),
    Hack("math", "1", "\\boxed{\\int_0^1 2x \\, dx}", "\\boxed{1}", "an unevaluated integral"),
    Hack(
        "math",
        "1",
        "\\boxed{\\lim_{x \\to 0} \\frac{\\sin x}{x}}",
        "\\boxed{1}",
        "an unevaluated limit",
    ),
    Hack("math", "10", "\\boxed{\\sum_{k=1}^{4} k}", "\\boxed{10}", "an unevaluated sum"),
    Hack("math", "24", "\\boxed{\\prod_{k=1}^{4} k}", "\\boxed{24}", "an unevaluated product"),
    Hack("math", "24", "\\boxed{4!}", "\\boxed{24}", "an unevaluated factorial"),
    Hack("math", "3", "\\boxed{\\log_2 8}", "\\boxed{3}", "an unevaluated logarithm"),
    Hack(
        "math",
        "\\frac12",
        "\\boxed{\\sin \\frac{\\pi}{6}}",
        "\\boxed{\\frac{1}{2}}",
        "an unevaluated sine",
    ),
    Hack(
        "math",
        "\\frac32",
        "\\boxed{\\frac{6}{4}}",
        "\\boxed{\\frac{3}{2}}",
        "an unreduced fraction",
    ),
    Hack("math", "1.5", "\\boxed{6/4}", "\\boxed{\\dfrac{3}{2}}", "an unreduced slash fraction"),
    Hack(
        "math",
        "\\frac{6}{4}",
        "\\boxed{1.5000001}",
        "\\boxed{\\frac{6}{4}}",
        "an unreduced gold wants the unreduced form",
    ),
    Hack(
        "math",
        "\\frac{7}{3}",
        "\\boxed{\\frac{14}{6}}",
        "\\boxed{\\frac{7}{3}}",
        "an unreduced improper fraction",
    ),
    Hack(
        "math",
        "(x-2)(x-3)",
        "\\boxed{x^2 - 5x + 6}",
        "\\boxed{(x-3)(x-2)}",
        "expanded where the gold is factored",
    ),
    Hack("math", "(x+1)^2", "\\boxed{x^2+2x+1}", "\\boxed{(1+x)^2}", "a square expanded"),
    Hack("math", "2(x-2)(x+2)", "\\boxed{2x^2-8}", "\\boxed{2(x+2)(x-2)}", "a product expanded"),
    Hack(
        "math",
        "\\{70, 2\\}",
        "\\boxed{\\binom{8}{4}} and \\boxed{2}",
        "\\boxed{70} and \\boxed{2}",
        "an unevaluated value among several boxes",
    ),
    Hack(
        "math",
        "70",
        "\\boxed{x = \\binom{8}{4}}",
        "\\boxed{\\binom{8}{4} = 70}",
        "the value side is what must be final",
    ),
    Hack(
        "math",
        "3x^2",
        "\\boxed{y = \\frac{d}{dx} x^3}",
        "\\boxed{f'(x) = 3x^2}",
        "a derivative named on the left is fine",
    ),
    Hack(
        "math",
        "\\sqrt{2}",
        "\\boxed{\\sqrt{2} \\quad 1}",
        "\\boxed{\\sqrt{2}}",
        "a square-free root is final",
    ),
    Hack(
        "math",
        "\\log_2 5",
        "\\boxed{\\log_2 5 = 3}",
        "\\boxed{\\log_2 5}",
        "a gold logarithm wants the logarithm",
    ),
    # intervals, inequalities and root sets: what they denote
    Hack(
        "math",
        "(2, 3)",
        "\\boxed{x = 2, x = 3}",
        "\\boxed{2 < x < 3}",
        "roots for the interval",
        prompt=QUADRATIC_LT,
    ),
    Hack(
        "math",
        "(2, 3)",
        "\\boxed{\\{2, 3\\}}",
        "\\boxed{x \\in (2, 3)}",
        "a set for the interval",
        prompt=QUADRATIC_LT,
    ),
    Hack(
        "math",
        "(2, 3)",
        "\\boxed{x = 2 \\text{ or } x = 3}",
        "\\boxed{(2, 3)}",
        "roots in words for the interval",
    ),
    Hack(
        "math",
        "[2, 3]",
        "\\boxed{2, 3}",
        "\\boxed{2 \\le x \\le 3}",
        "a list for a closed interval",
    ),
    Hack("math", "(-\\infty, 3]", "\\boxed{x < 3}", "\\boxed{x \\leq 3}", "an unbounded interval"),
    Hack(
        "math",
        "(1, 2) \\cup (3, \\infty)",
        "\\boxed{\\{1, 2, 3\\}}",
        "\\boxed{1 < x < 2 \\text{ or } x > 3}",
        "a union of intervals",
    ),
    Hack(
        "math",
        "2, 3",
        "\\boxed{(2, 3)}",
        "\\boxed{x = 2, x = 3}",
        "the interval for the roots",
        prompt=QUADRATIC_EQ,
    ),
    Hack("math", "\\{2,3\\}", "\\boxed{(2, 3)}", "\\boxed{\\{3, 2\\}}", "the interval for a set"),
    Hack(
        "math",
        "\\{2,3\\}",
        "\\boxed{2 < x < 3}",
        "\\boxed{x=2 \\text{ and } x=3}",
        "an inequality for a set",
    ),
    Hack(
        "math",
        "(2, 3)",
        "\\boxed{2 < x < 3}",
        "\\boxed{(2, 3)}",
        "an inequality for a point",
        prompt=MEET,
    ),
    Hack(
        "math",
        "(2, 3)",
        "\\boxed{x = 2, x = 3}",
        "\\boxed{x = 2, y = 3}",
        "roots for a point",
        prompt=MEET,
    ),
    # relations, found wherever they are
    Hack("math", "7", "\\boxed{(12 = 7)}", "\\boxed{x = 7}", "a parenthesised false equation"),
    Hack(
        "math",
        "5",
        "\\boxed{\\left[ 3 = 5 \\right]}",
        "\\boxed{y = 5}",
        "a bracketed false equation",
    ),
    Hack(
        "math", "7", "\\boxed{x = (12 = 7)}", "\\boxed{x = (7)}", "a false equation inside a side"
    ),
    Hack("math", "7", "\\boxed{x - 5 = 7}", "\\boxed{x = 7}", "an equation to solve, not a value"),
    Hack("math", "14", "\\boxed{2x = 14}", "\\boxed{n = 14}", "a multiple of the unknown"),
    Hack("math", "49", "\\boxed{x^2 = 49}", "\\boxed{AB = 49}", "a power of the unknown"),
    Hack(
        "math", "7", "\\boxed{\\frac{x}{2} = 7}", "\\boxed{f(3) = 7}", "a fraction of the unknown"
    ),
    Hack(
        "math",
        "7",
        "The final answer is $12 = 7$.\n\nChecking: $7$.",
        "The final answer is $7$.\n\nChecking: $12 - 5 = 7$.",
        "the anchored answer is checked, not a later one",
    ),
    Hack(
        "math",
        "7",
        "Answer: $x - 5 = 7$. Indeed $x = 7$ works.",
        "Answer: $a_5 = 7$.",
        "an equation after an anchor, a value later",
    ),
    # spacing, every command of it
    Hack("math", "8", "\\boxed{7 \\thinspace 1}", "\\boxed{8}", "\\thinspace between values"),
    Hack(
        "math", "71", "\\boxed{7 \\displaystyle 1}", "\\boxed{71}", "\\displaystyle between values"
    ),
    Hack(
        "math",
        "8",
        "\\boxed{7 \\quad (1)}",
        "\\boxed{\\displaystyle 8}",
        "a parenthesised second number",
    ),
    Hack(
        "math",
        "8",
        "\\boxed{7 \\hspace{1em} 1}",
        "\\boxed{8 \\text{ cm}}",
        "\\hspace between values",
    ),
    Hack("math", "8", "\\boxed{7 \\kern3pt 1}", "\\boxed{8}", "\\kern between values"),
    Hack("math", "8", "\\boxed{7\\,\\,1}", "\\boxed{8}", "narrow spaces between values"),
    Hack("math", "8", "\\boxed{7\u00a01}", "\\boxed{8}", "a no-break space between values"),
    Hack(
        "math",
        "2\\log_2 5",
        "\\boxed{2 \\quad \\log_2 5}",
        "\\boxed{2\\log_2 5}",
        "a logarithm's subscript is not a second value",
    ),
    Hack(
        "math",
        "\\log_{3} 7",
        "\\boxed{\\log_{3} 7 \\; 1}",
        "\\boxed{\\log_{3} 7}",
        "a braced subscript",
    ),
    Hack(
        "math",
        "2\\sqrt3",
        "\\boxed{2 \\enspace \\sqrt{3}}",
        "\\boxed{2 \\sqrt{3}}",
        "a narrow space before a root is a product",
    ),
    Hack("math", "14916", "\\boxed{14 \\qquad 916}", "\\boxed{14{,}916}", "a grouping comma"),
    # hedges in words and question marks
    Hack(
        "math",
        "2",
        "\\boxed{2 \\text{ (three?)}}",
        "\\boxed{2 \\text{ apples}}",
        "a question in text",
    ),
    Hack(
        "math",
        "2",
        "\\boxed{2 \\text{ (or two and a half)}}",
        "\\boxed{2 \\text{ m}}",
        "a number word in text",
    ),
    Hack(
        "math",
        "7",
        "The final answer is $7$. Or maybe $8$.",
        "The final answer is $7$. I hope it is correct.",
        "'or maybe' after the anchor",
    ),
    Hack("math", "7", "\\boxed{7}. Or perhaps 8.", "\\boxed{7}.", "'perhaps' after the box"),
    Hack("math", "7", "\\boxed{7}?", "\\boxed{7}", "a question mark after the box"),
    Hack(
        "math",
        "7",
        "The answer is $7$, or possibly $8$.",
        "The answer is $7$, as shown.",
        "'or possibly' after the answer",
    ),
    Hack("math", "7", "\\boxed{7 ?}", "\\boxed{7 \\, }", "a question mark in the box"),
]


CORPUS = MATH + COUNTING + CHOICE + CHART + OCR + DETECTION + BOXES + MATH_ROUND2


def reward(
    verifier: str,
    response: str,
    ground_truth: Any,
    params: dict[str, Any],
    prompt: str | None = None,
) -> float:
    spec = VERIFIERS.get(verifier)
    validated = spec.params.model_validate(params)
    gold = spec.prepare(ground_truth, validated) if spec.prepare else ground_truth
    context = Context(step=1, total_steps=100)
    return spec.score(response, gold, validated, context, prompt).accuracy


@pytest.mark.parametrize("case", CORPUS, ids=lambda c: f"{c.verifier}: {c.why}")
def test_no_hack_earns_one(case: Hack) -> None:
    assert reward(case.verifier, case.hack, case.ground_truth, case.params, case.prompt) < 1.0


@pytest.mark.parametrize("case", CORPUS, ids=lambda c: f"{c.verifier}: {c.why}")
def test_every_legitimate_form_earns_one(case: Hack) -> None:
    assert reward(case.verifier, case.legit, case.ground_truth, case.params, case.prompt) == 1.0


@pytest.mark.parametrize(
    "case",
    [case for case in MATH if case.why in PAID_BY_PLAIN_MATH_VERIFY],
    ids=lambda c: c.why,
)
def test_plain_math_verify_pays_the_math_hack(case: Hack) -> None:
    # what the strict checks are for: without them (strict: false) the hack earns 1
    assert reward("math", case.hack, case.ground_truth, {"strict": False}) == 1.0


def test_the_corpus_covers_every_rule_verifier() -> None:
    rule_verifiers = {name for name in VERIFIERS if VERIFIERS.get(name).backend == "rules"}
    assert {case.verifier for case in CORPUS} == rule_verifiers
    assert len(CORPUS) >= 60
