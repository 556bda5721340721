"""Hostile responses, timed: what a verifier costs on the inputs built to make it slow.

Each case is scored as a pool child scores it (``run_task``: the reflection scan, the format
checker, the verifier) or, for the text helpers, called directly; the best of ``--rounds`` is
recorded. The unit tests check these cases' verdicts; their cost is measured here, against the
service's per-sample deadline (``RAAS_SAMPLE_TIMEOUT_S``, 5 s by default): a case near it would
time out in production.

    python bench/bench_hostile.py [--rounds 5]

Writes ``bench/results/hostile.json``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from _harness import ROOT, as_task, machine, write

from reward_service.contract.registry import Context
from reward_service.pool.execute import run_task
from reward_service.settings import Settings
from reward_service.verifiers._boxes import find_box, find_point
from reward_service.verifiers._text import final_answer
from reward_service.verifiers.formats import think_answer
from reward_service.verifiers.ocr import anls

TEXT = "lorem ipsum " * 5_000


def scored(verifier: str, response: str, truth: Any, **params: Any) -> Callable[[], object]:
    task = as_task(
        {"verifier": verifier, "response": response, "ground_truth": truth, "params": params},
        Context(),
    )
    return lambda: run_task(task)


def boxes(text: str) -> Callable[[], object]:
    return lambda: (find_box(text), find_point(text))


# the power tower (``\\boxed{10^{10^{10^{10}}}}``) is not here: it never finishes, and the pool's
# deadline kills it (``bench_traffic.py``'s bombs scenario)
CASES: dict[str, Callable[[], object]] = {
    "math: 64k characters of chatter, then the box": scored(
        "math", "word " * 12_800 + "\\boxed{4}", "4"
    ),
    "math: exponent 1e100000000": scored("math", "\\boxed{1e100000000}", "1"),
    "math: 5,000 chained relations": scored("math", "\\boxed{x" + " = 1" * 5_000 + "}", "1"),
    "chart: 64,000 nines": scored("chart", "9" * 64_000, "42"),
    "chart: 10,000 grouped numbers after the answer": scored(
        "chart", "<answer>42</answer>" + "1,000 " * 10_000, "42"
    ),
    "counting: 60k characters of thinking": scored(
        "counting", "<think>" + "1 2 3 " * 10_000 + "</think>\\boxed{7}", 7
    ),
    "counting: a 64,000-digit number": scored("counting", "7" * 64_000, 7),
    "choice: 64k characters of options in the thinking": scored(
        "choice", "<think>" + "A B C D " * 8_000 + "</think><answer>B</answer>", "B"
    ),
    "final answer: 9,000 nested boxes": lambda: final_answer("\\boxed{" * 9_000 + "}" * 9_000),
    "final answer: 8,000 answer tags": lambda: final_answer(
        "<answer>" * 8_000 + "</answer>" * 8_000
    ),
    "ocr anls: 64k characters against 11": lambda: anls("x" * 64_000, "hello world", 0.5),
    "ocr anls: 120k-character near miss": lambda: anls(TEXT + "a" + TEXT, TEXT + "b" + TEXT, 0.5),
    "think_answer: 64k characters of thinking": lambda: think_answer(
        "<think>\n" + "x" * 64_000 + "\n</think>\n<answer>\n4\n</answer>"
    ),
    "boxes: 64,000 spaces after a comma": boxes("[1," + " " * 64_000),
    "boxes: 16,000 unclosed openings": boxes("[1, " * 16_000),
    "boxes: 64,000 parentheses": boxes("(" * 64_000),
    "boxes: an endless exponent": boxes("[1e" + "1" * 64_000),
    "boxes: 9,000 unclosed \\boxed{": boxes("\\boxed{" * 9_000),
}


def best_of(case: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        case()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    deadline = Settings().sample_timeout_s
    rows = [
        {"case": name, "ms": round(best_of(case, args.rounds) * 1000, 3)}
        for name, case in CASES.items()
    ]
    for row in rows:
        row["share_of_deadline"] = round(row["ms"] / 1000 / deadline, 5)
        print(f"{row['ms']:10.3f} ms  {row['case']}")
    write(
        {
            "benchmark": "hostile responses: time per case (best of rounds)",
            "machine": machine(),
            "rounds": args.rounds,
            "deadline_s": deadline,
            "slowest_ms": max(row["ms"] for row in rows),
            "rows": rows,
        },
        ROOT / "bench/results/hostile.json",
    )


if __name__ == "__main__":
    main()
