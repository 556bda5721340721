"""GRPO on a mixed toy dataset routed by ``data_source`` alone, with raas's per-source curves.

Two tasks in one file and no verifier in any row: ``add``/``sub`` (one-digit arithmetic,
``\\boxed{12}``) and ``grounding`` (``box 3,7=`` → ``\\boxed{[30,70,70,110]}``). The server's
routes (``RAAS_ROUTES``) score arithmetic with ``math`` and grounding with ``iou`` under a
dynamic threshold that rises with training progress (τ 0.5 → 0.6 → 0.75 at 30 % and 60 % of the
run; a box one cell off has IoU 0.6). The tiny model (``devtools.toy``) is warm-started on
noisy answers, some prefixed with ``wait,`` (a reflection word), then trained by ``raas-train``.
Per step and source the trainer logs raas's summary — reward, accuracy, IoU, the threshold in
effect, reflection ratio, unscored fraction, and V-Triune's monitoring: the truncation rate
(raas-train sends each rollout's ``truncated``), the share correct among reflecting responses,
response lengths of correct and incorrect answers, precision and recall at IoU 0.5/0.75/0.95/0.99
— and this script plots them from ``metrics.jsonl``.

    python bench/toy_mixed.py [--steps 200]

Writes ``bench/results/toy_mixed/``: ``metrics.jsonl``, ``routes.json``, ``curves.png`` and
``summary.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from _harness import ROOT, machine, window_mean, write

from devtools.live import LiveServer
from devtools.toy import arithmetic_rows, grounding_rows, save_toy
from trainer_client.grpo import GRPOConfig, GRPOTrainer
from trainer_client.grpo.metrics import moving_average, read_log, series

WARM_STEPS, NOISE, REFLECT, HIDDEN = 600, 0.5, 0.3, 128
SCHEDULE = [[0.3, 0.5], [0.6, 0.6], [1.0, 0.75]]
ROUTES = [
    {"data_source": "add", "verifier": "math"},
    {"data_source": "sub", "verifier": "math"},
    {
        "data_source": "grounding",
        "verifier": "iou",
        "params": {"threshold": "dynamic", "dynamic_schedule": SCHEDULE},
    },
]
SOURCES = ("add", "sub", "grounding")


def dataset() -> list[dict[str, Any]]:
    """Arithmetic and grounding rows, every ``verifier`` dropped: the routes decide."""
    rows = [*arithmetic_rows(), *grounding_rows()]
    return [{k: v for k, v in row.items() if k != "verifier"} for row in rows]


TAGS = ("50", "75", "95", "99")
# (title, [(metric, style)], y limit): one panel each; a metric is drawn for every source it has
PANELS = [
    ("mean reward", [("reward", "-")], (0, 1.02)),
    ("IoU threshold (solid) / mean IoU (dashed)", [("threshold", "-"), ("iou", "--")], (0, 1.02)),
    (
        "reflection ratio (solid) / correct among reflecting (dashed)",
        [("reflection_ratio", "-"), ("correct_ratio_reflecting", "--")],
        (0, 1.02),
    ),
    ("truncation rate (cut at max_new_tokens)", [("truncated_ratio", "-")], (0, 1.02)),
    (
        "response chars: correct (solid) / incorrect (dashed)",
        [("response_length_correct", "-"), ("response_length_incorrect", "--")],
        None,
    ),
    ("grounding: precision = recall at IoU τ'", [(f"precision{t}", "-") for t in TAGS], (0, 1.02)),
]


def plot(records: list[dict[str, Any]], path: Path, smooth: int = 10) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, grid = plt.subplots(2, 3, figsize=(15, 7.2))
    for axis, (title, metrics, ylim) in zip(grid.flat, PANELS, strict=True):
        for metric, style in metrics:
            for source in SOURCES:
                steps, values = series(records, f"{metric}/{source}")
                if not steps:
                    continue
                if metric != "threshold":
                    values = moving_average(values, smooth)
                axis.plot(steps, values, style, label=f"{metric}/{source}")
        axis.set(xlabel="GRPO step", title=title)
        if ylim is not None:
            axis.set_ylim(*ylim)
        axis.title.set_fontsize(9)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=6, loc="best")
    figure.suptitle(f"raas-train on a mixed toy task, routed by data_source ({smooth}-step mean)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


CURVES = (
    "reward",
    "reflection_ratio",
    "correct_ratio_reflecting",
    "truncated_ratio",
    "response_length_correct",
    "response_length_incorrect",
    "iou",
    "threshold",
    *(f"precision{t}" for t in TAGS),
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/toy_mixed")
    parser.add_argument("--plot-only", action="store_true", help="redraw from the saved log")
    args = parser.parse_args()
    if args.plot_only:
        plot(read_log(args.out / "metrics.jsonl"), args.out / "curves.png")
        return
    work = Path(tempfile.mkdtemp(prefix="raas-mixed-"))
    server = LiveServer.start(RAAS_POOL_WORKERS="1", RAAS_ROUTES=json.dumps(ROUTES))
    try:
        start = time.perf_counter()
        rows = dataset()
        save_toy(
            work / "model",
            warm_steps=WARM_STEPS,
            noise=NOISE,
            hidden=HIDDEN,
            rows=rows,
            reflect=REFLECT,
        )
        warm_s = time.perf_counter() - start
        (work / "data.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
        config = GRPOConfig(
            model=str(work / "model"),
            data=str(work / "data.jsonl"),
            reward_url=server.url,
            output_dir=str(work / "run"),
            steps=args.steps,
            prompts_per_step=16,
            group_size=8,
            max_new_tokens=24,
            learning_rate=1e-3,
            torch_threads=1,
            save_model=False,
        )
        start = time.perf_counter()
        GRPOTrainer(config).train()
        train_s = time.perf_counter() - start
    finally:
        server.stop()
    args.out.mkdir(parents=True, exist_ok=True)
    shutil.copy(work / "run" / "metrics.jsonl", args.out / "metrics.jsonl")
    shutil.rmtree(work, ignore_errors=True)
    (args.out / "routes.json").write_text(json.dumps({"routes": ROUTES}, indent=2) + "\n")
    records = read_log(args.out / "metrics.jsonl")
    plot(records, args.out / "curves.png")
    curves = {
        f"{name}/{source}": {
            "first_20": window_mean(records, f"{name}/{source}", True),
            "last_20": window_mean(records, f"{name}/{source}", False),
        }
        for source in SOURCES
        for name in CURVES
        if any(f"{name}/{source}" in r for r in records)
    }
    summary = {
        "benchmark": "mixed toy task: GRPO with raas rewards routed by data_source, on CPU",
        "machine": machine(),
        "routes": ROUTES,
        "warm_start": {
            "steps": WARM_STEPS,
            "answer_noise": NOISE,
            "reflect": REFLECT,
            "seconds": round(warm_s, 1),
        },
        "grpo": {
            "steps": args.steps,
            "prompts_per_step": 16,
            "group_size": 8,
            "learning_rate": 1e-3,
        },
        "curves": curves,
        "train_seconds": round(train_s, 1),
    }
    write(summary, args.out / "summary.json")


if __name__ == "__main__":
    main()
