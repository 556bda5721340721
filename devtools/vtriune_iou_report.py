"""Record V-Triune's detection monitoring (``report_iou_<τ>_label_match_{pure,precision,recall}``)
on generated answers, for ``tests/verifiers/test_detection.py`` to compare raas's details with.

CI has no copy of V-Triune, so its outputs are kept in ``tests/verifiers/vtriune_iou_report.json``;
this script regenerates them from a checkout of MiniMax-AI/One-RL-to-See-Them-All (its
``reward_server/`` needs numpy, math-verify and latex2sympy2_extended, as raas's environment has)::

    python -m devtools.vtriune_iou_report /path/to/One-RL-to-See-Them-All

The cases are seeded: GT lists of 1–5 boxes under two labels; answers that copy GT boxes with
jitter (so the IoUs straddle 0.5, 0.75, 0.95 and 0.99), add strays, swap labels, or hold no box.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "verifiers" / "vtriune_iou_report.json"
TAGS = ("50", "75", "95", "99")
CASES = 120


def box(rng: random.Random) -> list[int]:
    x, y = rng.randint(0, 800), rng.randint(0, 800)
    return [x, y, x + rng.randint(20, 150), y + rng.randint(20, 150)]


def jittered(rng: random.Random, gt: list[int]) -> list[int]:
    shift = rng.choice([0, 0, 1, 2, 5, 15, 40])
    x1, y1, x2, y2 = (v + rng.randint(-shift, shift) for v in gt)
    return [x1, y1, max(x2, x1 + 1), max(y2, y1 + 1)]


def case(rng: random.Random) -> tuple[str, str]:
    """(response, solution) in V-Triune's layout."""
    gt = [
        {"bbox_2d": box(rng), "label": rng.choice(["cat", "dog"])} for _ in range(rng.randint(1, 5))
    ]
    if rng.random() < 0.08:
        pred_text = "I see no object."
    else:
        pred: list[dict[str, Any]] = []
        for item in gt:
            if rng.random() < 0.85:
                label = item["label"] if rng.random() < 0.9 else rng.choice(["cat", "dog"])
                pred.append({"bbox_2d": jittered(rng, item["bbox_2d"]), "label": label})
        pred += [{"bbox_2d": box(rng), "label": "cat"} for _ in range(rng.choice([0, 0, 1, 2]))]
        rng.shuffle(pred)
        pred_text = json.dumps(pred) if pred else "[]"
    response = f"<think>\nlooking\n</think>\n<answer>\n{pred_text}\n</answer>"
    return response, f"<answer>\n{json.dumps(gt)}\n</answer>"


def main(checkout: str) -> None:
    sys.path.insert(0, str(Path(checkout) / "reward_server"))
    import verify  # V-Triune's reward_server/verify.py

    ratio = {
        "iou_max_label_first": 1.0,
        "iou_max_iou_first": 0.0,
        "iou_completeness": 0.3,
        "map": 0.0,
        "map50": 0.0,
        "map75": 0.0,
    }
    verifier = verify.DetectionVerifier(
        is_training=True, step=1, total_steps=10, det_reward_ratio=ratio
    )
    rng = random.Random(23)
    rows = []
    for _ in range(CASES):
        response, solution = case(rng)
        result = verifier.verify_accuracy(response, solution)
        report = {
            f"{kind}{tag}": float(result[f"report_iou_{tag}_label_match_{name}"])
            for tag in TAGS
            for kind, name in (("iou", "pure"), ("precision", "precision"), ("recall", "recall"))
        }
        rows.append({"response": response, "solution": solution, "report": report})
    lines = ",\n".join(json.dumps(row) for row in rows)  # a case a line: reviewable diffs
    FIXTURE.write_text(f"[\n{lines}\n]\n", encoding="utf-8")
    sys.stdout.write(f"{len(rows)} cases → {FIXTURE}\n")


if __name__ == "__main__":
    main(sys.argv[1])
