"""Datasets for the offline tests: short mixed rollouts, and V-Triune's Parquet layout."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

THINK = "<think>\nok\n</think>\n<answer>\n{}\n</answer>"


def _math(rng: random.Random, right: bool) -> dict[str, Any]:
    a, b = rng.randint(1, 50), rng.randint(1, 50)
    answer = a + b if right else a + b + 1
    return {
        "data_source": "math_src",
        "verifier": "math",
        "ground_truth": str(a + b),
        "response": THINK.format(f"\\boxed{{{answer}}}"),
        "format": "think_answer",
        "weights": {"accuracy": 1.0, "format": 0.1},
    }


def _choice(rng: random.Random, right: bool) -> dict[str, Any]:
    letter = rng.choice("ABCD")
    said = letter if right else "ABCD"[("ABCD".index(letter) + 1) % 4]
    return {
        "data_source": "choice_src",
        "verifier": "choice",
        "ground_truth": letter,
        "response": f"The answer is ({said})",
    }


def _detection(rng: random.Random, right: bool) -> dict[str, Any]:
    x, y = rng.randint(0, 500), rng.randint(0, 500)
    box = [x, y, x + 100, y + 80]
    shown = box if right else [v + 60 for v in box]
    return {
        "data_source": "det_src",
        "verifier": "detection",
        "ground_truth": [{"bbox_2d": box, "label": "car"}],
        "response": f'<answer>[{{"bbox_2d": {shown}, "label": "car"}}]</answer>',
        "params": json.dumps({"iou_threshold": 0.5}),
    }


def mixed_rows(n: int, seed: int = 0) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    makers = (_math, _choice, _detection)
    return [makers[i % 3](rng, rng.random() < 0.5) for i in range(n)]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def write_parquet(path: Path, rows: list[dict[str, Any]], row_group_size: int = 1000) -> Path:
    """Columns as pyarrow infers them; detection's ground truth as its ``<answer>`` text, so
    that the column is text for every task."""
    table = [{**row, "ground_truth": _text(row["ground_truth"])} for row in rows]
    pq.write_table(pa.Table.from_pylist(table), path, row_group_size=row_group_size)
    return path


def _text(ground_truth: Any) -> str:
    return (
        ground_truth
        if isinstance(ground_truth, str)
        else f"<answer>{json.dumps(ground_truth)}</answer>"
    )


VTRIUNE_SCHEMA = pa.schema(
    [
        ("data_source", pa.string()),
        ("prompt", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
        ("images", pa.list_(pa.struct([("bytes", pa.binary()), ("path", pa.string())]))),
        ("ability", pa.string()),
        (
            "reward_model",
            pa.struct(
                [
                    ("ground_truth", pa.string()),
                    ("style", pa.string()),
                    ("accuracy_ratio", pa.float64()),
                    ("format_ratio", pa.float64()),
                    ("verifier", pa.string()),
                    (
                        "verifier_parm",
                        pa.struct(
                            [
                                ("det_verifier_normalized", pa.bool_()),
                                (
                                    "det_reward_ratio",
                                    pa.struct(
                                        [
                                            ("iou_max_label_first", pa.float64()),
                                            ("iou_max_iou_first", pa.float64()),
                                            ("iou_completeness", pa.float64()),
                                            ("map", pa.float64()),
                                            ("map50", pa.float64()),
                                            ("map75", pa.float64()),
                                        ]
                                    ),
                                ),
                            ]
                        ),
                    ),
                ]
            ),
        ),
        ("extra_info", pa.struct([("index", pa.int64()), ("image_path", pa.string())])),
        ("response", pa.string()),
    ]
)

MATH_RIGHT = "<think>\nhalf of it\n</think>\n<answer>\n\\boxed{\\frac{1}{2}}\n</answer>"
DET_GT = '<answer>[{"bbox_2d": [100, 100, 300, 300], "label": "dog"}]</answer>'
DET_RIGHT = (
    '<think>\nthere\n</think>\n<answer>\n[{"bbox_2d": [100, 100, 300, 300], "label": "dog"}]\n'
    "</answer>"
)


def vtriune_rows() -> list[dict[str, Any]]:
    """Orsta-style rows: a math item, a detection item, and a math item with bad ratios."""
    image = [{"bytes": b"\x89PNG fake", "path": "a.png"}]
    ratios = {
        "iou_max_label_first": 1.0,
        "iou_max_iou_first": 0.0,
        "iou_completeness": 0.3,
        "map": 0.0,
        "map50": 0.0,
        "map75": 0.0,
    }

    def row(source: str, verifier: str, gt: str, response: str, **model: Any) -> dict[str, Any]:
        return {
            "data_source": source,
            "ability": "math",
            "prompt": [{"role": "user", "content": "<image>What is it?"}],
            "images": image,
            "reward_model": {
                "ground_truth": gt,
                "style": "rule",
                "accuracy_ratio": 1.0,
                "format_ratio": 0.1,
                "verifier": verifier,
                **model,
            },
            "extra_info": {"index": 0, "image_path": "a.png"},
            "response": response,
        }

    det_parm = {"det_verifier_normalized": False, "det_reward_ratio": ratios}
    return [
        row("mm_math", "mathverify", "$\\frac{1}{2}$", MATH_RIGHT),
        row("mm_math", "mathverify", "$\\frac{1}{2}$", "\\boxed{0.5} no tags"),
        row("v3det", "detection", DET_GT, DET_RIGHT, verifier_parm=det_parm),
        row("mm_math", "mathverify", "$2$", MATH_RIGHT, accuracy_ratio=0.0, format_ratio=0.0),
        row("mm_math", "no_such_verifier", "$2$", MATH_RIGHT),
    ]


def write_vtriune(path: Path) -> Path:
    pq.write_table(pa.Table.from_pylist(vtriune_rows(), schema=VTRIUNE_SCHEMA), path)
    return path
