"""Detection with mAP on (10 GT × 10 predicted boxes): in-process loop vs through the service.

Each sample has 10 ground-truth boxes over 3 labels and 10 predictions jittered from them (some
relabelled, some shifted past the threshold), scored with every term on: label-first,
iou-first, mAP, mAP50, mAP75, and the dynamic IoU threshold.

    python bench/bench_detection.py [--samples 1024] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any

from _harness import ROOT, compare, machine, write

from reward_service.contract.registry import Context
from reward_service.settings import Settings

LABELS = ("car", "person", "dog")
PARAMS = {"label_first": 1.0, "iou_first": 1.0, "map": 1.0, "map50": 1.0, "map75": 1.0}


def boxes(rng: random.Random, n: int) -> list[dict[str, Any]]:
    out = []
    for _ in range(n):
        x, y = rng.randint(0, 800), rng.randint(0, 800)
        w, h = rng.randint(30, 190), rng.randint(30, 190)
        out.append({"bbox_2d": [x, y, x + w, y + h], "label": rng.choice(LABELS)})
    return out


def jitter(rng: random.Random, gt: list[dict[str, Any]]) -> list[dict[str, Any]]:
    pred = []
    for box in gt:
        x1, y1, x2, y2 = box["bbox_2d"]
        d = rng.randint(-12, 12)
        label = box["label"] if rng.random() > 0.15 else rng.choice(LABELS)
        pred.append({"bbox_2d": [x1 + d, y1 + d, x2 + d, y2 - d], "label": label})
    rng.shuffle(pred)
    return pred


def samples(n: int, seed: int = 0) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        gt = boxes(rng, 10)
        answer = json.dumps(jitter(rng, gt))
        out.append(
            {
                "id": i,
                "data_source": "bench_det",
                "verifier": "detection",
                "params": PARAMS,
                "ground_truth": gt,
                "format": "detection_answer",
                "response": f"<think>\nlooking\n</think>\n<answer>\n{answer}\n</answer>",
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench/results/detection_service_vs_loop.json"
    )
    args = parser.parse_args()
    batch = samples(args.samples)
    workers = Settings().pool_workers
    context = Context(step=30, total_steps=100)
    result = compare(batch, args.rounds, workers, context, step=30, total_steps=100)
    assert result.loop_accuracy == result.service_accuracy, "service and loop disagree"
    loop, service, service_accuracy = result.loop, result.service, result.service_accuracy
    write(
        {
            "benchmark": "detection 10 GT x 10 pred, all terms incl. mAP: service vs loop",
            "samples": len(batch),
            "rounds": args.rounds,
            "cores_in_use": workers,
            "loop_samples_per_s": round(loop, 1),
            "service_samples_per_s": round(service, 1),
            "ratio_service_over_loop_x_cores": round(service / (loop * workers), 3),
            "loop_ms_per_sample": round(1000 / loop, 3),
            "mean_accuracy": round(sum(service_accuracy) / len(service_accuracy), 4),
            "machine": machine(),
        },
        args.out,
    )


if __name__ == "__main__":
    main()
