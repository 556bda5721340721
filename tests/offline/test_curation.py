"""``raas filter rules``, ``raas filter difficulty`` and ``raas report`` from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reward_service.cli import main
from reward_service.offline.difficulty import Band
from reward_service.offline.rules import answer_text
from tests.offline.data import VTRIUNE_SCHEMA, vtriune_rows


def box(x: int, y: int, w: int, h: int) -> dict[str, Any]:
    return {"bbox_2d": [x, y, x + w, y + h], "label": "car"}


def det(source: str, boxes: list[dict[str, Any]]) -> dict[str, Any]:
    return {"data_source": source, "verifier": "detection", "ground_truth": boxes}


def math(answer: str, prompt: str = "Compute it.") -> dict[str, Any]:
    return {"data_source": "math", "verifier": "math", "ground_truth": answer, "prompt": prompt}


RULE_ROWS = [
    math("42"),
    math("\\boxed{B}"),
    math("yes"),
    math("7", "Pick one:\nA. 7\nB. 8"),
    math("(1, 2)"),
    math("x = 3"),
    math("\\frac{1}{2} + \\sqrt{3} + \\pi^2 + 1"),
    math(""),
    {"data_source": "chat", "verifier": "rm", "ground_truth": None},
    det("coco", [box(0, 0, 100, 100)] * 1),
    det("coco", [box(i * 10, 0, 5, 5) for i in range(11)]),
    det("coco", [box(0, 0, 800, 800)]),
    det("coco", "<answer>no boxes here</answer>"),
    *[det("v3det", [box(i, 0, 50, 50)]) for i in range(6)],
    *[det("v3det", [box(i, 0, 50, 50), box(i, 100, 50, 50)]) for i in range(2)],
]
EXPECTED = {  # per source: what each rule removed
    "math": {
        "choice_or_true_false": 3,
        "answer_symbols": 2,
        "answer_too_long": 1,
        "unverifiable": 1,
        "kept": 1,
    },
    "chat": {"unverifiable": 1, "kept": 0},
    "coco": {"too_many_boxes": 1, "box_too_big": 1, "unverifiable": 1, "box_ratio": 1, "kept": 0},
    "v3det": {"box_ratio": 4, "kept": 4},
}


def write_rows(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_rule_filters_remove_what_v_triune_removes(tmp_path: Path) -> None:
    source = write_rows(tmp_path / "in.jsonl", RULE_ROWS)
    out, report = tmp_path / "out.jsonl", tmp_path / "report"
    main(
        [
            "filter",
            "rules",
            str(source),
            "--out",
            str(out),
            "--report",
            str(report),
            "--single-box-share",
            "0.5",
        ]
    )
    numbers = json.loads((report / "filter.json").read_text())
    for entry in numbers["by_source"]:
        removed = {k: v for k, v in entry.items() if isinstance(v, int) and v and k != "rows"}
        assert removed == {k: v for k, v in EXPECTED[entry["data_source"]].items() if v}
    kept = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["ground_truth"] for row in kept if row["verifier"] == "math"] == ["42"]
    assert sum(len(row["ground_truth"]) == 1 for row in kept if row["data_source"] == "v3det") == 2
    assert (report / "removed.png").stat().st_size > 1000
    assert "| **all** |" in (report / "report.md").read_text()


def test_rule_filters_read_v_triune_parquet_and_keep_its_columns(tmp_path: Path) -> None:
    rows = [{**row, "response": None} for row in vtriune_rows()]
    rows[2]["reward_model"]["ground_truth"] = (
        '<answer>[{"bbox_2d": [0, 0, 900, 900], "label": "x"}]</answer>'
    )
    source = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=VTRIUNE_SCHEMA), source)
    out = tmp_path / "out.parquet"
    main(["filter", "rules", str(source), "--out", str(out)])
    assert pq.read_schema(out) == VTRIUNE_SCHEMA
    kept = pq.read_table(out).to_pylist()
    assert [r["reward_model"]["verifier"] for r in kept] == ["mathverify"] * 3  # not 2, 4


@pytest.mark.parametrize(
    ("text", "inside", "outside"),
    [
        ("(0,1)", [0.125, 0.875], [0.0, 1.0]),
        ("[0.25,0.75]", [0.25, 0.5, 0.75], [0.125, 0.875]),
        ("(0,1]", [1.0, 0.5], [0.0]),
    ],
)
def test_band(text: str, inside: list[float], outside: list[float]) -> None:
    band = Band.parse(text)
    assert all(band.verdict(v) is None for v in inside)
    assert all(band.verdict(v) is not None for v in outside)


def test_answer_text_unwraps_what_holds_the_answer() -> None:
    assert answer_text("<answer>\\boxed{12}</answer>") == "12"
    assert answer_text("$\\frac{1}{2}$") == "\\frac{1}{2}"


def scored_rollouts(k: int = 8) -> list[dict[str, Any]]:
    """Prompts solved by 0, 3 and 8 of k rollouts; one whose rollouts all failed to score."""
    rows = []
    for prompt, passes in (("p0", 0), ("p3", 3), ("p8", 8), ("broken", None)):
        for i in range(k):
            ok = passes is not None
            right = ok and i < (passes or 0)
            rows.append(
                {
                    "data_source": "toy",
                    "prompt": prompt,
                    "response": f"r{i}",
                    "raas_row": len(rows),
                    "raas_verifier": "math",
                    "raas_reward": (1.0 if right else 0.0) if ok else None,
                    "raas_status": "ok" if ok else "timeout",
                    "raas_error": None if ok else "late",
                    "raas_components": {"accuracy": 1.0 if right else 0.0} if ok else {},
                    "raas_details": {},
                }
            )
    return rows


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_difficulty_keeps_prompts_sometimes_solved(tmp_path: Path, suffix: str) -> None:
    source = write_rows(tmp_path / "scored.jsonl", scored_rollouts())
    out, report = tmp_path / f"kept{suffix}", tmp_path / "report"
    main(["filter", "difficulty", str(source), "--out", str(out), "--report", str(report)])
    kept = (
        pq.read_table(out).to_pylist()
        if suffix == ".parquet"
        else [json.loads(line) for line in out.read_text().splitlines()]
    )
    assert kept == [
        {
            "data_source": "toy",
            "prompt": "p3",
            "raas_pass_rate": 3 / 8,
            "raas_reward_mean": 3 / 8,
            "raas_rollouts": 8,
        }
    ]
    entry = json.loads((report / "filter.json").read_text())["by_source"][0]
    assert (entry["too_hard"], entry["too_easy"], entry["unscored"], entry["kept"]) == (1, 1, 1, 1)
    assert (report / "pass_rate.png").stat().st_size > 1000


def test_difficulty_can_keep_every_rollout(tmp_path: Path) -> None:
    source = write_rows(tmp_path / "scored.jsonl", scored_rollouts())
    out = tmp_path / "kept.jsonl"
    main(
        [
            "filter",
            "difficulty",
            str(source),
            "--out",
            str(out),
            "--keep",
            "rollouts",
            "--band",
            "[0,0.5]",
        ]
    )
    kept = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["prompt"] for row in kept] == ["p0"] * 8 + ["p3"] * 8
    assert kept[0]["response"] == "r0"


def test_report_of_a_scored_file(tmp_path: Path) -> None:
    source = write_rows(tmp_path / "scored.jsonl", scored_rollouts())
    folder = tmp_path / "report"
    main(["report", str(source), "--out", str(folder), "--group-by", "prompt"])
    numbers = json.loads((folder / "report.json").read_text())
    (cell,) = numbers["by_source_and_verifier"]
    assert (cell["rows"], cell["ok"], cell["timeout"]) == (32, 24, 8)
    assert cell["reward_mean"] == pytest.approx(11 / 24, abs=1e-4)
    (rates,) = numbers["pass_rates"]
    assert (rates["never solved"], rates["always solved"], rates["in between"]) == (1, 1, 1)
    for plot in ("statuses", "rewards", "length_vs_reward", "pass_rate"):
        assert (folder / f"{plot}.png").stat().st_size > 1000
    assert "![rewards](rewards.png)" in (folder / "report.md").read_text()
