"""GRPO step time: rewards overlapped with the rollout vs computed after it, vs no rewards.

One run, one model, one raas server, three ways of getting rewards (``GRPOConfig.reward_mode``):

- ``none``    — the floor: random rewards drawn locally, no HTTP at all;
- ``after``   — the usual way: the whole rollout (B prompts × G completions) is generated, then
  sent to raas as one batch, and the step waits for it;
- ``overlap`` — each group is sent the moment it is generated and scored while the next groups
  are generated; the step waits only for the last group.

The work is identical across modes: the learning rate is 0 (the policy never changes) and every
measured step reseeds the sampler and the prompt order, so each mode generates exactly the same
tokens and runs the same forward/backward/optimizer update (dynamic sampling off, so no group is
skipped). ``--task arithmetic``: a randomly initialised tiny Llama writes 32-token answers —
generation dominates, as in real RL — and raas's ``math`` verifier scores them. ``--task
grounding``: the tiny vision-language policy (``devtools.vlm``, a Llava of the same width and
depth) reads a 64×64 image of shapes with each prompt, writes 24-token answers, and raas's
``iou`` verifier scores them; every sample carries its image (a data URI) to raas, and the
update's forwards run the vision tower on each sequence's image. Trainer and server get one
core each (``torch_threads=1``, ``RAAS_POOL_WORKERS=1``), pinned apart (raas stands in for a
service on other machines; here it shares the host). Modes are interleaved step by step, so each
seed's three measurements are taken seconds apart; the headline ratios are medians of these
paired ratios (step time of a mode / step time of the floor on the same seed), which cancels
the machine's slow drift. Target: overlap ≤ 1.02 × floor.

    python bench/bench_grpo_overlap.py [--task arithmetic|grounding] [--rounds 20] [--steps 2]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from _harness import ROOT, machine, write

from devtools.live import LiveServer
from devtools.toy import arithmetic_rows, save_toy
from devtools.vlm import grounding_rows, save_vlm
from trainer_client import RewardClient
from trainer_client.grpo import GRPOConfig, GRPOTrainer
from trainer_client.grpo.config import RewardMode
from trainer_client.grpo.data import PromptSampler

MODES: tuple[RewardMode, ...] = ("none", "after", "overlap")
PROMPTS, GROUP, HIDDEN, LAYERS = 8, 8, 256, 4
NEW_TOKENS = {"arithmetic": 32, "grounding": 24}
MODEL = {
    "arithmetic": f"Llama, hidden {HIDDEN}, {LAYERS} layers, random init",
    "grounding": f"Llava (CLIP tower 2 layers, Llama {LAYERS} layers, hidden {HIDDEN}), random "
    "init, 64×64 images (65 image tokens)",
}
VERIFIER = {"arithmetic": "math", "grounding": "iou"}


def setup(task: str, work: Path) -> list[dict[str, Any]]:
    """The task's policy saved under ``work/model``; its rows."""
    if task == "grounding":
        save_vlm(work / "model", hidden=HIDDEN, layers=LAYERS)
        return grounding_rows(work / "images", 256)
    save_toy(work / "model", hidden=HIDDEN, layers=LAYERS)  # random init: 64-token answers
    return arithmetic_rows()


def measure(
    trainer: GRPOTrainer, rows: list[dict[str, Any]], mode: RewardMode, seed: int
) -> dict[str, float]:
    trainer.config.reward_mode = mode
    trainer.sampler = PromptSampler(rows, seed)
    trainer.rng.seed(seed)
    torch.manual_seed(seed)
    gc.collect()  # every mode starts from the same heap: a collection is not billed to one
    cpu = time.process_time()  # every thread of the trainer: the client's worker threads included
    metrics = trainer.step(0)
    keys = ("time/step", "time/generate", "time/reward_wait", "time/update")
    return {**{k: metrics[k] for k in keys}, "cpu/trainer": time.process_time() - cpu}


def group_latency(url: str, trainer: GRPOTrainer, rows: list[dict[str, Any]]) -> float:
    """Median seconds for raas to score one group of G rollouts (round trip included)."""
    torch.manual_seed(0)
    (group,) = trainer._generate(rows[:1])
    samples = trainer._samples(group)
    times = []
    with RewardClient(url) as client:
        for _ in range(20):
            start = time.perf_counter()
            client.score_sync(samples)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--steps", type=int, default=2, help="measured steps per mode per round")
    parser.add_argument("--task", choices=sorted(NEW_TOKENS), default="arithmetic")
    parser.add_argument("--out", type=Path, help="default bench/results/grpo_overlap[_vlm].json")
    args = parser.parse_args()
    suffix = "_vlm" if args.task == "grounding" else ""
    out = args.out or ROOT / f"bench/results/grpo_overlap{suffix}.json"
    work = Path(tempfile.mkdtemp(prefix="raas-bench-"))
    rows = setup(args.task, work)
    (work / "data.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    server = LiveServer.start(RAAS_POOL_WORKERS="1")
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) > 1:  # the trainer on one core, raas (router and pool) on the others
        for pid in (server.process.pid, *server.pool_pids):
            os.sched_setaffinity(pid, cores[1:])
        os.sched_setaffinity(0, cores[:1])
    try:
        config = GRPOConfig(
            model=str(work / "model"),
            data=str(work / "data.jsonl"),
            reward_url=server.url,
            output_dir=str(work / "run"),
            prompts_per_step=PROMPTS,
            group_size=GROUP,
            max_new_tokens=NEW_TOKENS[args.task],
            learning_rate=0.0,
            dynamic_sampling=False,
            torch_threads=1,
            tensorboard=False,
            save_model=False,
        )
        trainer = GRPOTrainer(config)
        latency = group_latency(server.url, trainer, rows)
        for mode in MODES:  # warm-up: imports, allocator, the server's first batches
            measure(trainer, rows, mode, seed=10_000)
        runs: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
        for r in range(args.rounds):
            order = MODES[r % 3 :] + MODES[: r % 3]  # rotate, so no mode always goes first
            for k in range(args.steps):
                for mode in order:
                    runs[mode].append(measure(trainer, rows, mode, seed=100 * r + k))
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)

    def median(mode: str, key: str) -> float:
        return statistics.median(run[key] for run in runs[mode])

    floor = median("none", "time/step")

    def paired(mode: str) -> float:
        ratios = [
            run["time/step"] / base["time/step"]
            for run, base in zip(runs[mode], runs["none"], strict=True)
        ]
        return round(statistics.median(ratios), 4)

    def spread(mode: str) -> list[float]:
        ratios = sorted(
            run["time/step"] / base["time/step"]
            for run, base in zip(runs[mode], runs["none"], strict=True)
        )
        return [round(ratios[len(ratios) // 4], 4), round(ratios[3 * len(ratios) // 4], 4)]

    def per_mode(key: str) -> dict[str, float]:
        return {mode: round(median(mode, key), 4) for mode in MODES}

    result = {
        "benchmark": "GRPO step time: rewards overlapped vs after the rollout vs none",
        "machine": machine(),
        "setup": {
            "task": args.task,
            "prompts_per_step": PROMPTS,
            "group_size": GROUP,
            "new_tokens": NEW_TOKENS[args.task],
            "model": MODEL[args.task],
            "verifier": VERIFIER[args.task],
            "trainer_threads": 1,
            "raas_pool_workers": 1,
            "measured_steps_per_mode": args.rounds * args.steps,
        },
        "raas_round_trip_per_group_s": round(latency, 4),
        "median_step_s": per_mode("time/step"),
        "median_reward_wait_s": per_mode("time/reward_wait"),
        "median_generate_s": per_mode("time/generate"),
        "median_update_s": per_mode("time/update"),
        "median_trainer_cpu_s": per_mode("cpu/trainer"),
        "after_over_floor": paired("after"),
        "overlap_over_floor": paired("overlap"),
        "paired_ratio_interquartile": {mode: spread(mode) for mode in ("after", "overlap")},
        "ratio_of_medians": {
            mode: round(median(mode, "time/step") / floor, 4) for mode in ("after", "overlap")
        },
        "target": "overlap_over_floor <= 1.02",
        "step_s": {mode: [round(run["time/step"], 4) for run in runs[mode]] for mode in MODES},
    }
    write(result, out)


if __name__ == "__main__":
    main()
