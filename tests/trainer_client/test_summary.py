"""The summary reaches the trainer: ``RewardClient`` merges the pieces' summaries exactly."""

from __future__ import annotations

import json
import random
from typing import Any

import httpx
import pytest

from devtools.live import LiveServer
from trainer_client import RewardClient
from trainer_client.summary import merge, scalars

GT = [{"bbox_2d": [100, 100, 300, 300], "label": "cat"}]


def mixed_batch(count: int, seed: int = 0) -> list[dict[str, Any]]:
    """Math with and without a format checker and with reflection, detection with boxes of
    varying quality (some unreadable), a failing sample now and then."""
    rng = random.Random(seed)
    batch: list[dict[str, Any]] = []
    for i in range(count):
        kind = rng.choice(["math", "math_fmt", "det", "bad"])
        if kind.startswith("math"):
            wait = rng.choice(["Wait, let me verify. ", "awaiting ", "not yet ", "", ""])
            sample = {
                "data_source": "math",
                "verifier": "math",
                "ground_truth": "4",
                "response": f"{wait}\\boxed{{{rng.choice([4, 5])}}}",
            }
            if kind == "math_fmt":
                sample |= {"format": "think_answer", "weights": {"accuracy": 1, "format": 0.1}}
        elif kind == "det":
            x2 = rng.choice([300, 250, 200])
            item = [{"bbox_2d": [100, 100, x2, 300], "label": "cat"}]
            answer = f"<answer>{json.dumps(item)}</answer>" if rng.random() < 0.8 else "no idea"
            sample = {
                "data_source": "det",
                "verifier": "detection",
                "ground_truth": GT,
                "response": answer,
                "params": {"monitor_map": True},
            }
        else:
            sample = {
                "data_source": "math",
                "verifier": "math",
                "ground_truth": {"x": 1},
                "response": "\\boxed{1}",
            }
        truncated = rng.choice([{}, {"truncated": True}, {"truncated": False}])
        batch.append({**sample, **truncated, "id": i})
    return batch


MEANS = (
    "reward_mean",
    "response_length_mean",
    "reflection_ratio",
    "reflection_ratio_correct",
    "reflection_ratio_incorrect",
    "correct_ratio_reflecting",
    "correct_ratio_not_reflecting",
    "response_length_correct_mean",
    "response_length_incorrect_mean",
    "truncated_ratio",
)


@pytest.mark.parametrize("reflection", ["raas", "vtriune"])
def test_pieces_merge_to_the_summary_of_one_request(server: LiveServer, reflection: str) -> None:
    batch = mixed_batch(300)
    body = {"samples": batch, "step": 2, "total_steps": 10, "reflection": reflection}
    whole = httpx.post(f"{server.url}/reward", json=body).json()["summary"]["by_source"]
    with RewardClient(server.url, max_batch=37, reflection=reflection) as client:  # 9 pieces
        scored = client.score_sync(batch, step=2, total_steps=10)
    assert set(scored.summary) == set(whole) == {"math", "det"}
    for source, expected in whole.items():
        got = scored.summary[source]
        assert got["count"] == expected["count"]
        assert got["status_counts"] == expected["status_counts"]
        assert got["n"] == expected["n"]
        assert got["reflection_mode"] == expected["reflection_mode"] == reflection
        for key in MEANS:
            assert source == "det" or expected[key] is not None, key  # math has every mean
            assert got[key] == pytest.approx(expected[key]), key
        assert got["component_means"] == pytest.approx(expected["component_means"])
        if expected["perception"] is None:
            assert got["perception"] is None
        else:
            assert got["perception"] == pytest.approx(expected["perception"])
    assert scored.summary["det"]["perception"]["threshold"] == pytest.approx(0.95)  # step 2 of 10


def test_scalars_for_a_logger() -> None:
    summary = {
        "det": {
            "count": 4,
            "status_counts": {"ok": 3, "timeout": 1},
            "reward_mean": 0.5,
            "component_means": {"accuracy": 0.5, "format": 1.0},
            "response_length_mean": 80.0,
            "reflection_ratio": 0.25,
            "perception": {
                "iou_mean": 0.7,
                "threshold": 0.85,
                "parsed_ratio": 1.0,
                "map_mean": None,
                "precision50_mean": 0.75,
            },
            "truncated_ratio": 0.5,
            "correct_ratio_reflecting": 1.0,
            "response_length_incorrect_mean": 120.0,
        },
        "math": {"count": 2, "status_counts": {"ok": 2}, "reward_mean": 1.0},
    }
    assert scalars(summary, "raas/") == {
        "raas/reward/det": 0.5,
        "raas/accuracy/det": 0.5,
        "raas/format/det": 1.0,
        "raas/response_length/det": 80.0,
        "raas/reflection_ratio/det": 0.25,
        "raas/iou/det": 0.7,
        "raas/threshold/det": 0.85,
        "raas/parsed/det": 1.0,
        "raas/precision50/det": 0.75,
        "raas/truncated_ratio/det": 0.5,
        "raas/correct_ratio_reflecting/det": 1.0,
        "raas/response_length_incorrect/det": 120.0,
        "raas/unscored/det": 0.25,
        "raas/reward/math": 1.0,
        "raas/unscored/math": 0.0,
    }


def test_an_answer_without_counts_is_weighted_by_sample_count() -> None:
    old = [
        {
            "s": {
                "count": 1,
                "status_counts": {"ok": 1},
                "reward_mean": 1.0,
                "response_length_mean": 10.0,
            }
        },
        {
            "s": {
                "count": 3,
                "status_counts": {"ok": 3},
                "reward_mean": 0.0,
                "response_length_mean": 2.0,
            }
        },
    ]
    merged = merge(old)["s"]
    assert merged["count"] == 4
    assert merged["reward_mean"] == 0.25
    assert merged["response_length_mean"] == 4.0
    assert merged["perception"] is None
