"""``raas filter difficulty --preset``: raas's band (0,1) and V-Triune's second curation stage
(reasoning: 0 ≤ pass@8 < 1; detection and grounding: summed IoU reward over 16 rollouts in
[2, 10])."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from reward_service.cli import main
from reward_service.offline.difficulty import Band, Policy, decide
from reward_service.offline.groups import Group
from tests.offline.test_curation import scored_rollouts, write_rows

VTRIUNE = Policy(Band.parse("[0,1)"), perception_band=Band.parse("[2,10]"))
RAAS = Policy(Band.parse("(0,1)"))


def group(verifier: str, accuracies: list[float]) -> Group:
    found = Group("src")
    for accuracy in accuracies:
        found.add(
            {
                "raas_status": "ok",
                "raas_reward": accuracy,
                "raas_verifier": verifier,
                "raas_components": {"accuracy": accuracy},
            }
        )
    return found


@pytest.mark.parametrize(
    ("verifier", "accuracies", "vtriune", "raas"),
    [
        ("math", [0.0] * 8, None, "too_hard"),  # never solved: V-Triune keeps it
        ("math", [1.0] * 3 + [0.0] * 5, None, None),
        ("math", [1.0] * 8, "too_easy", "too_easy"),
        ("detection", [0.125] * 16, None, "too_hard"),  # sum 2.0 exactly: the lower end is in
        ("detection", [0.12] * 16, "iou_sum_low", "too_hard"),  # sum 1.92
        ("detection", [0.0] * 16, "iou_sum_low", "too_hard"),
        ("detection", [0.625] * 16, None, "too_easy"),  # sum 10.0: the upper end is in
        ("detection", [0.7] * 16, "iou_sum_high", "too_easy"),  # sum 11.2
        ("detection", [1.0] * 16, "iou_sum_high", "too_easy"),
        ("iou", [0.5] * 8 + [0.0] * 8, None, None),  # grounding, sum 4
        ("giou", [0.9] * 12 + [0.0] * 4, "iou_sum_high", None),  # sum 10.8
    ],
)
def test_each_preset_decides_as_its_paper_says(
    verifier: str, accuracies: list[float], vtriune: str | None, raas: str | None
) -> None:
    found = group(verifier, accuracies)
    assert decide(found, VTRIUNE) == vtriune
    assert decide(found, RAAS) == raas


def test_a_prompt_with_no_ok_rollout_is_unscored_under_both() -> None:
    found = Group("src")
    found.add({"raas_status": "timeout", "raas_reward": None})
    assert decide(found, VTRIUNE) == decide(found, RAAS) == "unscored"


def detection_rollouts(
    prompt: str, accuracies: list[float], tau: float = 0.5
) -> list[dict[str, Any]]:
    return [
        {
            "data_source": "v3det",
            "prompt": prompt,
            "response": f"r{i}",
            "raas_verifier": "detection",
            "raas_reward": a,
            "raas_status": "ok",
            "raas_error": None,
            "raas_components": {"accuracy": a},
            "raas_details": {"threshold": tau},
        }
        for i, a in enumerate(accuracies)
    ]


def mixed_rollouts() -> list[dict[str, Any]]:
    return [
        *scored_rollouts(),  # toy: p0 never, p3 three of 8, p8 always, broken unscored
        *detection_rollouts("d_low", [0.1] * 16),  # sum 1.6
        *detection_rollouts("d_mid", [0.5] * 16),  # sum 8
        *detection_rollouts("d_high", [0.9] * 16),  # sum 14.4
    ]


def run(tmp_path: Path, *extra: str) -> tuple[list[str], dict[str, dict[str, Any]]]:
    source = write_rows(tmp_path / "scored.jsonl", mixed_rollouts())
    out, report = tmp_path / "kept.jsonl", tmp_path / "report"
    main(["filter", "difficulty", str(source), "--out", str(out), "--report", str(report), *extra])
    kept = [json.loads(line)["prompt"] for line in out.read_text().splitlines()]
    table = json.loads((report / "filter.json").read_text())["by_source"]
    return kept, {entry["data_source"]: entry for entry in table}


def test_v_triune_preset_end_to_end(tmp_path: Path) -> None:
    kept, table = run(tmp_path, "--preset", "v-triune")
    assert kept == ["p0", "p3", "d_mid"]
    toy, v3det = table["toy"], table["v3det"]
    assert (toy["too_hard"], toy["too_easy"], toy["unscored"], toy["kept"]) == (0, 1, 1, 2)
    assert (v3det["iou_sum_low"], v3det["iou_sum_high"], v3det["kept"]) == (1, 1, 1)


def test_raas_preset_is_the_default_and_drops_never_solved(tmp_path: Path) -> None:
    kept, table = run(tmp_path)
    assert kept == ["p3"]  # a detection prompt passes (accuracy ≥ 0.5) all or none here
    assert table["toy"]["too_hard"] == 1
    assert table["v3det"]["iou_sum_low"] == 0


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--band", "(0,1)"], ["p3", "d_mid"]),  # V-Triune's IoU rule, raas's band
        (["--perception-band", "none"], ["p0", "p3", "d_low"]),
        (["--perception-band", "[1,15]"], ["p0", "p3", "d_low", "d_mid", "d_high"]),
    ],
)
def test_options_replace_the_presets_bands(
    tmp_path: Path, extra: list[str], expected: list[str]
) -> None:
    kept, _ = run(tmp_path, "--preset", "v-triune", *extra)
    assert kept == expected


def test_a_perception_prompt_without_16_rollouts_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = write_rows(tmp_path / "scored.jsonl", detection_rollouts("d", [0.5] * 8))
    with caplog.at_level(logging.WARNING, "raas.offline"):
        main(
            [
                "filter",
                "difficulty",
                str(source),
                "--out",
                str(tmp_path / "k.jsonl"),
                "--preset",
                "v-triune",
            ]
        )
    assert "1 perception prompts have other than 16 ok rollouts" in caplog.text


def test_rollouts_scored_at_another_iou_threshold_are_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows = detection_rollouts("d", [0.5] * 16, tau=0.85) + detection_rollouts("e", [0.5] * 16)
    source = write_rows(tmp_path / "scored.jsonl", rows)
    with caplog.at_level(logging.WARNING, "raas.offline"):
        main(
            [
                "filter",
                "difficulty",
                str(source),
                "--out",
                str(tmp_path / "k.jsonl"),
                "--preset",
                "v-triune",
            ]
        )
    assert "16 perception rollouts were scored at an IoU threshold other than 0.5" in caplog.text
    assert "ok rollouts" not in caplog.text


def det_rollout(prompt: str, right: bool) -> dict[str, Any]:
    shown = [100, 100, 300, 300] if right else [600, 600, 700, 700]
    return {
        "data_source": "v3det",
        "prompt": prompt,
        "verifier": "detection",
        "ground_truth": [{"bbox_2d": [100, 100, 300, 300], "label": "dog"}],
        "params": {"iou_threshold": 0.5},
        "response": f'<answer>[{{"bbox_2d": {shown}, "label": "dog"}}]</answer>',
    }


def test_scored_by_raas_then_filtered_as_v_triune(tmp_path: Path) -> None:
    """``raas score`` (the in-process pool) then ``raas filter difficulty --preset v-triune``:
    right boxes score 1 and wrong ones 0 at τ = 0.5, so a prompt's IoU sum is its right count."""
    rows = [
        det_rollout(p, i < right)
        for p, right in (("hard", 1), ("mid", 6), ("easy", 16))
        for i in range(16)
    ]
    rows += [
        {
            "data_source": "math",
            "prompt": "never",
            "verifier": "math",
            "ground_truth": "4",
            "response": "\\boxed{5}",
        }
        for _ in range(8)
    ]
    source, scored = write_rows(tmp_path / "in.jsonl", rows), tmp_path / "scored.jsonl"
    main(["score", str(source), "--out", str(scored), "--workers", "1", "--no-progress"])
    out, report = tmp_path / "kept.jsonl", tmp_path / "report"
    main(
        [
            "filter",
            "difficulty",
            str(scored),
            "--out",
            str(out),
            "--preset",
            "v-triune",
            "--report",
            str(report),
        ]
    )
    kept = [
        (r["prompt"], r["raas_pass_rate"]) for r in map(json.loads, out.read_text().splitlines())
    ]
    assert kept == [("mid", 6 / 16), ("never", 0.0)]
    table = {
        e["data_source"]: e for e in json.loads((report / "filter.json").read_text())["by_source"]
    }
    assert (table["v3det"]["iou_sum_low"], table["v3det"]["iou_sum_high"]) == (1, 1)


@pytest.mark.parametrize("option", ["--band", "--perception-band"])
def test_a_band_written_wrong_says_how_to_write_it(tmp_path: Path, option: str) -> None:
    source = write_rows(tmp_path / "scored.jsonl", mixed_rollouts())
    with pytest.raises(SystemExit, match=r"write it as \(0,1\)"):
        main(
            [
                "filter",
                "difficulty",
                str(source),
                "--out",
                str(tmp_path / "k.jsonl"),
                option,
                "0..1",
            ]
        )
