"""1,024 math samples: the HTTP service vs the same verifier in a plain in-process loop.

Both sides do identical work: every response is unique (no deduplication advantage for the
service), ground truths repeat per GRPO group of 16 (both sides reuse the parsed gold), and both
are warmed up first. The service runs as a real ``raas serve`` process on 127.0.0.1 with one pool
child per core. Target: service ≥ 0.85 × loop × cores in use.

    python bench/bench_math.py [--rounds 5] [--out bench/results/math_service_vs_loop.json]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from _harness import ROOT, compare, machine, write

from reward_service.contract.registry import Context
from reward_service.settings import Settings

GOLDS = ["\\frac{1}{2}", "42", "3\\sqrt{2}", "x^2+1", "\\pi/4", "(1, 2)", "0.75", "-7"]
ANSWERS = [
    "\\frac{2}{4}",
    "42",
    "\\sqrt{18}",
    "1+x^2",
    "\\frac{\\pi}{4}",
    "(1,2)",
    "3/4",
    "-7",
    "\\frac{1}{3}",
    "41",
    "2\\sqrt{3}",
    "x^2",
    "\\pi",
    "(2, 1)",
    "0.7",
    "7",
]


def samples(n: int = 1024, group: int = 16) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        prompt, rollout = divmod(i, group)
        k = prompt % len(GOLDS)  # ANSWERS[k] is an equivalent form of GOLDS[k]; k + 8 is wrong
        answer = ANSWERS[k if rollout % 2 == 0 else len(GOLDS) + (k + rollout) % len(GOLDS)]
        think = f"Rollout {i}: let me work through problem {prompt} carefully. " * 3
        out.append(
            {
                "id": i,
                "data_source": "bench_math",
                "verifier": "math",
                "ground_truth": GOLDS[prompt % len(GOLDS)],
                "response": f"<think>\n{think}\n</think>\n<answer>\n"
                f"The final answer is $\\boxed{{{answer}}}$\n</answer>",
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench/results/math_service_vs_loop.json"
    )
    args = parser.parse_args()
    batch = samples()
    workers = Settings().pool_workers
    result = compare(batch, args.rounds, workers, Context())
    loop, service = result.loop, result.service
    loop_accuracy, service_accuracy = result.loop_accuracy, result.service_accuracy
    assert loop_accuracy == service_accuracy, "service and loop disagree on rewards"
    write(
        {
            "benchmark": "math: HTTP service vs in-process loop",
            "samples": len(batch),
            "unique_responses": len({s["response"] for s in batch}),
            "rounds": args.rounds,
            "cores_in_use": workers,
            "loop_samples_per_s": round(loop, 1),
            "service_samples_per_s": round(service, 1),
            "ratio_service_over_loop_x_cores": round(service / (loop * workers), 3),
            "target": 0.85,
            "mean_reward": round(sum(service_accuracy) / len(service_accuracy), 4),
            "machine": machine(),
        },
        args.out,
    )


if __name__ == "__main__":
    main()
