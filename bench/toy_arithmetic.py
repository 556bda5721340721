"""GRPO with raas rewards raises the reward of a tiny model on one-digit arithmetic, on CPU.

The task, model and tokenizer are built locally (``devtools.toy``): prompts ``7+5=``
and ``7-5=`` (data sources ``add`` and ``sub``), answers scored by raas's ``math`` verifier on
``\\boxed{12}``. Warm start: 400 supervised steps on *noisy* answers — half of them replaced by a
neighbour (±1) — so the policy writes the format and is right about a third of the time. GRPO
(G = 8, 16 prompts a step, lr 1e-3, clip-higher 0.2/0.28, no KL, dynamic sampling, rewards
overlapped with the rollout) must then learn to prefer the exact answer: the mean reward rises
from about 0.36 to about 0.74 in 300 steps (about 4 minutes on two cores, warm start included).

    python bench/toy_arithmetic.py [--steps 300] [--reward-url http://127.0.0.1:8000]

Writes ``bench/results/toy_arithmetic/``: ``metrics.jsonl`` (per step and per source),
``reward_curve_{all,add,sub}.png`` and ``summary.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from _harness import ROOT, machine, write

from devtools.live import LiveServer
from devtools.toy import arithmetic_rows, save_toy
from trainer_client.grpo import GRPOConfig, GRPOTrainer

WARM_STEPS, NOISE, HIDDEN = 400, 0.5, 128


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--reward-url", help="an existing raas (default: start one)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/toy_arithmetic")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="raas-toy-"))
    server = None if args.reward_url else LiveServer.start(RAAS_POOL_WORKERS="1")
    try:
        start = time.perf_counter()
        save_toy(work / "model", warm_steps=WARM_STEPS, noise=NOISE, hidden=HIDDEN)
        warm_s = time.perf_counter() - start
        rows = arithmetic_rows()
        (work / "data.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
        config = GRPOConfig(
            model=str(work / "model"),
            data=str(work / "data.jsonl"),
            reward_url=args.reward_url or (server.url if server else ""),
            output_dir=str(work / "run"),
            steps=args.steps,
            prompts_per_step=16,
            group_size=8,
            max_new_tokens=8,
            learning_rate=1e-3,
            torch_threads=1,
            save_model=False,
        )
        start = time.perf_counter()
        history = GRPOTrainer(config).train()
        train_s = time.perf_counter() - start
    finally:
        if server is not None:
            server.stop()
    args.out.mkdir(parents=True, exist_ok=True)
    for produced in [work / "run" / "metrics.jsonl", *(work / "run").glob("reward_curve_*.png")]:
        shutil.copy(produced, args.out / produced.name)
    shutil.rmtree(work, ignore_errors=True)
    rewards = [h["reward/all"] for h in history]
    window = min(20, len(rewards))
    summary = {
        "benchmark": "toy arithmetic: GRPO with raas rewards on CPU",
        "machine": machine(),
        "warm_start": {"steps": WARM_STEPS, "answer_noise": NOISE, "seconds": round(warm_s, 1)},
        "model": {"hidden": HIDDEN, "layers": 2, "tokenizer": "characters + \\boxed{"},
        "grpo": {
            "steps": args.steps,
            "prompts_per_step": 16,
            "group_size": 8,
            "learning_rate": 1e-3,
            "eps_low": 0.2,
            "eps_high": 0.28,
            "beta": 0.0,
        },
        f"reward_first_{window}_steps": round(sum(rewards[:window]) / window, 3),
        f"reward_last_{window}_steps": round(sum(rewards[-window:]) / window, 3),
        "train_seconds": round(train_s, 1),
    }
    write(summary, args.out / "summary.json")


if __name__ == "__main__":
    main()
