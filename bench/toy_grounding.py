"""A tiny vision-language policy learns grounding from raas's ``iou`` rewards, on CPU.

The policy (``devtools.vlm``: a small CLIP tower and Llama, 64×64 images) is built from configs,
warm-started by supervision on boxes of which half are a grid step off — it learns the
``\\boxed{[x1,y1,x2,y2]}`` format and partly where things are — and then trained by
``raas-train`` with GRPO: each row is an image of one or two coloured shapes, the prompt
names one, ``iou`` scores the box (continuous IoU). The rows' images reach the policy through
its processor and raas as data URIs. Per step the trainer logs reward, raas's mean IoU and parsed
share for the source; this script plots them from the run's own ``metrics.jsonl``.

    python bench/toy_grounding.py [--steps 300] [--warm-steps 2500] [--learning-rate 2e-4]
        [--device auto|cpu|cuda] [--dtype auto|float32|bfloat16] [--plot-only]

Writes ``bench/results/toy_grounding/``: ``metrics.jsonl``, ``curves.png``, ``summary.json``.
``--plot-only`` redraws ``curves.png`` from the ``metrics.jsonl`` already there. On a GPU
machine ``bench/gpu/toy_grounding_cuda.sh`` runs it on CUDA in bfloat16 (warm start in float32
on the GPU, then raas-train's ``dtype`` auto).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from _harness import ROOT, machine, window_mean, write

from devtools.live import LiveServer
from devtools.vlm import build_model, build_processor, build_tokenizer, grounding_rows, warm_start
from trainer_client.grpo import GRPOConfig, GRPOTrainer
from trainer_client.grpo.metrics import moving_average, read_log, series

HIDDEN, ROWS, NOISE, OBJECTS, WARM_LR = 64, 1024, 0.5, (1, 2), 5e-4
GRPO = {
    "prompts_per_step": 16,
    "group_size": 8,
    "prompts_per_generate": 16,
    "max_new_tokens": 24,
    "micro_batch_size": 32,
}


def plot(records: list[dict[str, Any]], path: Path, smooth: int = 5) -> None:
    """Two panels from the run's own log: what the trainer optimised (reward, response length)
    and raas's per-source monitoring of the same rollouts (mean IoU, parsed share; a detection
    source's IoU threshold where it has one — ``iou`` is continuous and has none)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    steps, values = series(records, "reward/grounding")
    left.plot(steps, moving_average(values, smooth), label="reward/grounding")
    left.set(
        xlabel="GRPO step",
        ylabel="mean reward",
        ylim=(0, 0.5),
        title=f"raas-train: reward per step ({smooth}-step mean)",
    )
    length = left.twinx()
    steps, values = series(records, "response_length/grounding")
    length.plot(
        steps,
        moving_average(values, smooth),
        ":",
        color="grey",
        label="response_length/grounding (right axis)",
    )
    length.set(ylabel="response tokens", ylim=(0, 24))
    lines = left.get_lines() + length.get_lines()
    left.legend(lines, [str(line.get_label()) for line in lines], fontsize=8, loc="lower right")
    for name, style in (
        ("iou/grounding", "-"),
        ("parsed/grounding", "--"),
        ("threshold/grounding", ":"),
    ):
        steps, values = series(records, name)
        if steps:
            right.plot(steps, moving_average(values, smooth), style, label=name)
    right.set(xlabel="GRPO step", ylim=(0, 1.02), title="raas summary.by_source[grounding]")
    left.grid(alpha=0.3)
    right.grid(alpha=0.3)
    right.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--warm-steps", type=int, default=2500)
    parser.add_argument("--learning-rate", type=float, default=2e-4)
    parser.add_argument("--device", default="auto", help="auto: CUDA when there is one")
    parser.add_argument("--dtype", choices=("auto", "float32", "bfloat16"), default="auto")
    parser.add_argument("--rows", type=int, default=ROWS, help="grounding rows (images)")
    parser.add_argument("--prompts-per-step", type=int, default=GRPO["prompts_per_step"])
    parser.add_argument("--group-size", type=int, default=GRPO["group_size"])
    parser.add_argument("--plot-only", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/toy_grounding")
    args = parser.parse_args()
    if args.plot_only:
        plot(read_log(args.out / "metrics.jsonl"), args.out / "curves.png")
        return
    device = torch.device(
        ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    )
    threads = 1 if device.type == "cpu" else None  # two shared cores: one for raas
    if threads:
        torch.set_num_threads(threads)
    work = Path(tempfile.mkdtemp(prefix="raas-grounding-"))
    server = LiveServer.start(RAAS_POOL_WORKERS="1")
    try:
        start = time.perf_counter()
        rows = grounding_rows(work / "images", args.rows, objects=OBJECTS)
        tokenizer = build_tokenizer()
        processor = build_processor(tokenizer)
        model = build_model(tokenizer, hidden=HIDDEN).to(device)  # type: ignore[arg-type]
        losses = warm_start(
            model, processor, rows, args.warm_steps, learning_rate=WARM_LR, noise=NOISE
        )
        model.save_pretrained(work / "model")
        processor.save_pretrained(work / "model")
        warm_s = time.perf_counter() - start
        (work / "data.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
        grpo = {
            **GRPO,
            "prompts_per_step": args.prompts_per_step,
            "group_size": args.group_size,
            "prompts_per_generate": args.prompts_per_step,
        }
        config = GRPOConfig(
            model=str(work / "model"),
            data=str(work / "data.jsonl"),
            reward_url=server.url,
            output_dir=str(work / "run"),
            steps=args.steps,
            torch_threads=threads,
            save_model=False,
            learning_rate=args.learning_rate,
            device=str(device),
            dtype=args.dtype,
            **grpo,
        )
        start = time.perf_counter()
        trainer = GRPOTrainer(config)
        dtype = str(next(trainer.model.parameters()).dtype).removeprefix("torch.")
        trainer.train()
        train_s = time.perf_counter() - start
    finally:
        server.stop()
    args.out.mkdir(parents=True, exist_ok=True)
    shutil.copy(work / "run" / "metrics.jsonl", args.out / "metrics.jsonl")
    shutil.rmtree(work, ignore_errors=True)
    records = read_log(args.out / "metrics.jsonl")
    plot(records, args.out / "curves.png")
    size = max(1, args.steps // 10)
    curves = {
        name: {
            f"first_{size}": window_mean(records, name, True, size),
            f"last_{size}": window_mean(records, name, False, size),
        }
        for name in ("reward/grounding", "iou/grounding", "parsed/grounding")
    }
    summary = {
        "benchmark": "tiny VLM grounding: supervised warm start, then GRPO with raas iou, CPU",
        "machine": machine(),
        "warm_start": {
            "steps": args.warm_steps,
            "rows": args.rows,
            "answer_noise": NOISE,
            "objects": list(OBJECTS),
            "learning_rate": WARM_LR,
            "first_loss": round(losses[0], 3) if losses else None,
            "last_loss": round(losses[-1], 3) if losses else None,
            "seconds": round(warm_s, 1),
        },
        "grpo": {"steps": args.steps, "learning_rate": args.learning_rate, **grpo},
        "policy": {"device": device.type, "dtype": dtype},
        "curves": curves,
        "train_seconds": round(train_s, 1),
    }
    write(summary, args.out / "summary.json")


if __name__ == "__main__":
    main()
