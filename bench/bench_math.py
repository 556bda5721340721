"""1,024 math samples: the HTTP service vs the same verifier in a plain in-process loop.

Both sides do identical work: every response is unique (no deduplication advantage for the
service), ground truths repeat per GRPO group of 16 (both sides reuse the parsed gold), and both
are warmed up first. The service runs as a real ``raas serve`` process on 127.0.0.1 with one pool
child per core. Target: service ≥ 0.85 × loop × cores in use.

    python bench/bench_math.py [--rounds 5] [--out bench/results/math_service_vs_loop.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reward_service.registry import VERIFIERS, Context  # noqa: E402
from reward_service.settings import Settings  # noqa: E402
from reward_service.workers.execute import Task, run_task  # noqa: E402
from tests.live import LiveServer  # noqa: E402

GOLDS = ["\\frac{1}{2}", "42", "3\\sqrt{2}", "x^2+1", "\\pi/4", "(1, 2)", "0.75", "-7"]
ANSWERS = ["\\frac{2}{4}", "42", "\\sqrt{18}", "1+x^2", "\\frac{\\pi}{4}", "(1,2)", "3/4", "-7",
           "\\frac{1}{3}", "41", "2\\sqrt{3}", "x^2", "\\pi", "(2, 1)", "0.7", "7"]  # fmt: skip


def samples(n: int = 1024, group: int = 16) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        prompt, rollout = divmod(i, group)
        k = prompt % len(GOLDS)  # ANSWERS[k] is an equivalent form of GOLDS[k]; k + 8 is wrong
        answer = ANSWERS[k if rollout % 2 == 0 else len(GOLDS) + (k + rollout) % len(GOLDS)]
        think = f"Rollout {i}: let me work through problem {prompt} carefully. " * 3
        out.append({
            "id": i, "data_source": "bench_math", "verifier": "math",
            "ground_truth": GOLDS[prompt % len(GOLDS)],
            "response": f"<think>\n{think}\n</think>\n<answer>\n"
            f"The final answer is $\\boxed{{{answer}}}$\n</answer>",
        })  # fmt: skip
    return out


def loop_rate(batch: list[dict[str, Any]], rounds: int) -> tuple[float, list[float]]:
    params = VERIFIERS.get("math").params()
    tasks = [
        Task("math", params, s["response"], s["ground_truth"], None, Context(), s["ground_truth"])
        for s in batch
    ]
    rewards = [run_task(t).accuracy for t in tasks[:64]]  # warm-up
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        rewards = [run_task(t).accuracy for t in tasks]
        times.append(time.perf_counter() - start)
    return len(batch) / statistics.median(times), [float(r or 0) for r in rewards]


def service_rate(
    batch: list[dict[str, Any]], rounds: int, workers: int
) -> tuple[float, list[float]]:
    server = LiveServer.start(RAAS_POOL_WORKERS=str(workers))
    try:
        with httpx.Client(base_url=server.url, timeout=300) as client:
            client.post("/reward", json={"samples": batch[:64]}).raise_for_status()  # warm-up
            times, rewards = [], []
            for _ in range(rounds):
                start = time.perf_counter()
                response = client.post("/reward", json={"samples": batch})
                times.append(time.perf_counter() - start)
                rewards = [r["reward"] for r in response.json()["results"]]
    finally:
        server.stop()
    return len(batch) / statistics.median(times), rewards


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench/results/math_service_vs_loop.json"
    )
    args = parser.parse_args()
    batch = samples()
    workers = Settings().pool_workers
    loop, loop_rewards = loop_rate(batch, args.rounds)
    service, service_rewards = service_rate(batch, args.rounds, workers)
    assert loop_rewards == service_rewards, "service and loop disagree on rewards"
    result = {
        "benchmark": "math: HTTP service vs in-process loop",
        "samples": len(batch),
        "unique_responses": len({s["response"] for s in batch}),
        "rounds": args.rounds,
        "cores_in_use": workers,
        "loop_samples_per_s": round(loop, 1),
        "service_samples_per_s": round(service, 1),
        "ratio_service_over_loop_x_cores": round(service / (loop * workers), 3),
        "target": 0.85,
        "mean_reward": round(sum(service_rewards) / len(service_rewards), 4),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
