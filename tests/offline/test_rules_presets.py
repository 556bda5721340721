"""``raas filter rules``: V-Triune's rule filters beyond the first ones (English only, labels
math-verify reads, counting balanced per category, complex grounding labels, overlong queries,
multiple choice dropped for every reasoning task, boxes counted per category, 1 : 2 single to
multi boxes), each in a table of kept and removed rows, then end to end with per-source counts."""

from __future__ import annotations

import copy
import json
import shlex
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reward_service.cli import main
from reward_service.offline.rules import PRESETS, Rules, english, judge_row, math_verifiable
from tests.offline.data import VTRIUNE_SCHEMA, vtriune_rows
from tests.offline.test_curation import box, write_rows

RAAS, VTRIUNE = PRESETS["raas"], PRESETS["v-triune"]


def row(verifier: str, answer: Any, prompt: str = "How many?", source: str = "s") -> dict[str, Any]:
    return {"data_source": source, "verifier": verifier, "ground_truth": answer, "prompt": prompt}


def ground(*labels: str) -> dict[str, Any]:
    return row(
        "detection",
        [{**box(i * 60, 0, 50, 50), "label": label} for i, label in enumerate(labels)],
        source="d3",
    )


LONG = "Describe the chart. " * 30  # 600 characters
CHINESE = "图中有几个立方体？"
RULE_TABLE = [
    # (row, rules, reason or None)
    (row("counting", "3", "How many cubes are there?"), VTRIUNE, None),
    (row("counting", "3", CHINESE), VTRIUNE, "not_english"),
    (row("counting", "3", CHINESE), RAAS, None),
    (row("counting", "3", "How many cubes are next to the café?"), VTRIUNE, None),  # 1 of 28
    (row("counting", "3", "Combien de cubes à côté du cône ?"), VTRIUNE, "not_english"),
    (row("ocr", "Ελλάδα", "What does the sign say?"), VTRIUNE, "not_english"),
    (row("math", "4", CHINESE), VTRIUNE, None),  # English-only is counting's and OCR's rule
    (row("ocr", "42", "Read the price."), VTRIUNE, None),
    (row("ocr", "stop", "Read the sign."), VTRIUNE, "not_math_verifiable"),
    (row("ocr", "MAIN ST", "Read the sign."), VTRIUNE, "not_math_verifiable"),
    (row("ocr", "stop", "Read the sign."), RAAS, None),
    (row("ocr", "12:30", "Read the clock."), VTRIUNE, None),
    (row("ocr", "9" * 1001, "Read it."), VTRIUNE, "not_math_verifiable"),  # not parsed: bound
    (row("math", "4", LONG), replace(RAAS, max_query_chars=500), "query_too_long"),
    (row("math", "4", LONG[:500]), replace(RAAS, max_query_chars=500), None),
    (row("math", "4", LONG), RAAS, None),
    (row("choice", "B", "Which?\nA. 1\nB. 2"), VTRIUNE, "choice_or_true_false"),
    (row("choice", "B", "Which?\nA. 1\nB. 2"), RAAS, None),
    (row("math", "yes", "Is it?"), VTRIUNE, "choice_or_true_false"),
    (row("counting", "(3)", "How many?"), VTRIUNE, None),  # symbols: reasoning tasks only
    (row("counting", "(3)", "How many?"), RAAS, "answer_symbols"),
    (ground("dog"), replace(VTRIUNE, task_map=(("d3*", "grounding"),)), None),
    (
        ground("man in a red hat"),
        replace(VTRIUNE, task_map=(("d3*", "grounding"),)),
        "complex_label",
    ),
    (
        ground("dog not led by a rope"),
        replace(VTRIUNE, task_map=(("d3", "grounding"),)),
        "complex_label",
    ),
    (ground("dog not led by a rope"), VTRIUNE, None),  # task detection: no label rule
    (ground(*["car"] * 6, *["bus"] * 6), VTRIUNE, None),  # 12 boxes, 6 per label
    (ground(*["car"] * 6, *["bus"] * 6), RAAS, "too_many_boxes"),
    (ground(*["car"] * 11), VTRIUNE, "too_many_boxes"),
    (ground(*["car"] * 11), replace(VTRIUNE, task_map=(("d3", "grounding"),)), None),
    (
        row("detection", [box(0, 0, 800, 800)], source="d3"),
        replace(VTRIUNE, task_map=(("d3", "grounding"),)),
        "box_too_big",
    ),
]


@pytest.mark.parametrize(("sample", "rules", "reason"), RULE_TABLE)
def test_each_rule(sample: dict[str, Any], rules: Rules, reason: str | None) -> None:
    assert judge_row(sample, rules).reason == reason


@pytest.mark.parametrize(
    ("text", "share", "expected"),
    [
        ("How many cubes?", 0.95, True),
        ("12 + 3 = ?", 0.95, True),
        ("", 0.95, True),
        ("立方体 cube", 0.95, False),
        ("naïve café crème brûlée", 0.95, False),
        ("naïve café crème brûlée", 0.75, True),
    ],
)
def test_english(text: str, share: float, expected: bool) -> None:
    assert english(text, share) is expected


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("42", True),
        ("3.5", True),
        ("$x$", True),
        ("1,234", True),
        ("\\boxed{7}", True),
        ("stop", False),
        ("Coca-Cola", False),
        ("n/a", False),
        ("#", False),
    ],
)
def test_a_label_math_verify_parses(label: str, expected: bool) -> None:
    assert math_verifiable(label) is expected


def counting_rows() -> list[dict[str, Any]]:
    """clevr: answers 3 (×5), 4 (×2), 5 (×3); ocr_src: one English, one Greek, one word."""
    rows = [
        row("counting", str(n), f"How many things? ({i})", "clevr")
        for i, n in enumerate([3, 3, 4, 5, 3, 5, 3, 4, 5, 3])
    ]
    rows += [
        row("ocr", "42", "Read it.", "ocr_src"),
        row("ocr", "Ελλάδα", "Read it.", "ocr_src"),
        row("ocr", "stop", "Read it.", "ocr_src"),
    ]
    return rows


def test_counting_is_balanced_per_category_end_to_end(tmp_path: Path) -> None:
    source = write_rows(tmp_path / "in.jsonl", counting_rows())
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
            "--preset",
            "v-triune",
        ]
    )
    kept = [json.loads(line) for line in out.read_text().splitlines()]
    answers = sorted(r["ground_truth"] for r in kept if r["data_source"] == "clevr")
    assert answers == ["3", "3", "4", "4", "5", "5"]  # each answer as often as 4, the rarest
    assert [r["ground_truth"] for r in kept if r["data_source"] == "ocr_src"] == ["42"]
    table = {
        e["data_source"]: e for e in json.loads((report / "filter.json").read_text())["by_source"]
    }
    assert (table["clevr"]["category_balance"], table["clevr"]["kept"]) == (4, 6)
    ocr = table["ocr_src"]
    assert (ocr["not_english"], ocr["not_math_verifiable"], ocr["kept"]) == (1, 1, 1)
    assert "| category_balance |" in (report / "report.md").read_text()


def test_a_category_column_and_cap(tmp_path: Path) -> None:
    rows = [
        {**row("counting", "2", f"q{i}", "clevr"), "shape": s} for i, s in enumerate("ccccsssy")
    ]
    source = write_rows(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    main(
        [
            "filter",
            "rules",
            str(source),
            "--out",
            str(out),
            "--balance",
            "counting",
            "--category-column",
            "shape",
            "--category-cap",
            "2",
        ]
    )
    shapes = sorted(json.loads(line)["shape"] for line in out.read_text().splitlines())
    assert shapes == ["c", "c", "s", "s", "y"]


def test_v_triune_rows_with_a_task_map_from_parquet(tmp_path: Path) -> None:
    """V-Triune scores OCR with mathverify: ``--task`` says which sources are OCR."""
    rows = [{**r, "response": None} for r in vtriune_rows()[:3]]
    ocr = copy.deepcopy(rows[0])
    ocr["data_source"], ocr["reward_model"]["ground_truth"] = "est_vqa_ocr", "EXIT"
    rows.append(ocr)
    source, out = tmp_path / "in.parquet", tmp_path / "out.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=VTRIUNE_SCHEMA), source)
    main(
        [
            "filter",
            "rules",
            str(source),
            "--out",
            str(out),
            "--preset",
            "v-triune",
            "--task",
            "*ocr*=ocr",
            "--report",
            str(tmp_path / "r"),
        ]
    )
    kept = pq.read_table(out).to_pylist()
    assert [r["data_source"] for r in kept] == ["mm_math", "mm_math"]
    totals = json.loads((tmp_path / "r" / "filter.json").read_text())["total"]
    assert (totals["not_math_verifiable"], totals["box_ratio"], totals["kept"]) == (1, 1, 2)
    # v3det's one item has a single box, and no multi-box item keeps it company at 1 : 2


def test_single_to_multi_box_is_one_to_two_in_v_triune(tmp_path: Path) -> None:
    det = [ground(f"a{i}") for i in range(6)] + [ground("a", "b") for _ in range(6)]
    source = write_rows(tmp_path / "in.jsonl", det)
    out = tmp_path / "out.jsonl"
    main(["filter", "rules", str(source), "--out", str(out), "--preset", "v-triune"])
    kept = [len(json.loads(line)["ground_truth"]) for line in out.read_text().splitlines()]
    assert (kept.count(1), kept.count(2)) == (3, 6)


def test_grounding_items_are_not_in_the_box_ratio(tmp_path: Path) -> None:
    items = [ground(f"a{i}") for i in range(6)] + [ground("a", "b")]
    source, out = write_rows(tmp_path / "in.jsonl", items), tmp_path / "out.jsonl"
    main(
        [
            "filter",
            "rules",
            str(source),
            "--out",
            str(out),
            "--preset",
            "v-triune",
            "--task",
            "d3=grounding",
        ]
    )
    assert len(out.read_text().splitlines()) == 7


def test_a_bad_task_map_says_how_to_write_it(tmp_path: Path) -> None:
    source = write_rows(tmp_path / "in.jsonl", counting_rows())
    with pytest.raises(SystemExit, match="GLOB=TASK"):
        main(["filter", "rules", str(source), "--out", str(tmp_path / "o.jsonl"), "--task", "ocr"])


def test_overlong_queries_by_tokens_as_verl_counts_them(tmp_path: Path) -> None:
    """A word-level tokenizer (devtools.tiny) saved and loaded by ``from_pretrained``: the chat
    template wraps a message as ``<s> user : … </s>`` (4 tokens besides the words)."""
    from devtools.tiny import build_tokenizer

    build_tokenizer().save_pretrained(tmp_path / "tok")
    rows = [row("math", "4", " ".join(["the"] * n), f"n{n}") for n in (5, 6, 7)]
    rows.append(
        {
            **row("math", "4", source="chat"),
            "prompt": [{"role": "user", "content": "the the the the the the"}],
        }
    )
    source, out = write_rows(tmp_path / "in.jsonl", rows), tmp_path / "out.jsonl"
    main(
        [
            "filter",
            "rules",
            str(source),
            "--out",
            str(out),
            "--max-query-tokens",
            "10",
            "--tokenizer",
            str(tmp_path / "tok"),
            "--report",
            str(tmp_path / "r"),
        ]
    )
    kept = [json.loads(line)["data_source"] for line in out.read_text().splitlines()]
    assert kept == ["n5", "n6", "chat"]
    table = json.loads((tmp_path / "r" / "filter.json").read_text())["by_source"]
    assert {e["data_source"]: e["query_too_long"] for e in table} == {
        "chat": 0,
        "n5": 0,
        "n6": 0,
        "n7": 1,
    }


def test_a_token_bound_needs_its_tokenizer(tmp_path: Path) -> None:
    source = write_rows(tmp_path / "in.jsonl", counting_rows())
    with pytest.raises(SystemExit, match="go together"):
        main(
            [
                "filter",
                "rules",
                str(source),
                "--out",
                str(tmp_path / "o.jsonl"),
                "--max-query-tokens",
                "8",
            ]
        )


def readme_curation_commands() -> list[list[str]]:
    """The ``raas filter``/``raas report`` lines of the README's offline block, as argv."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = readme.split("## Offline scoring and curation")[1].split("```bash")[1].split("```")[0]
    lines = block.replace("\\\n", " ").splitlines()
    return [
        shlex.split(line.split("  #")[0])[1:]
        for line in lines
        if line.startswith(("raas filter", "raas report"))
    ]


def test_the_readme_curation_commands_parse() -> None:
    """Each documented command names options raas has, with values they take."""
    from reward_service.cli import _parser

    commands = readme_curation_commands()
    assert any("v-triune" in argv for argv in commands)
    for argv in commands:
        args = _parser().parse_args(argv)
        if args.command == "filter" and args.mode == "rules":
            assert Rules.from_args(args).task_map or args.preset == "raas"


OCR_LABELS = [
    "42",
    "3.5",
    "1,234",
    "12:30",
    "$x$",
    "\\boxed{7}",
    "x^2",
    "50%",
    "-7",
    "1/2",
    "2024",
    "stop",
    "EXIT",
    "MAIN ST",
    "Coca-Cola",
    "n/a",
    "#",
    "A",
    "pi",
    "route 66",
    "7 up",
    "V",
    "\\frac{1}{2}",
    "(1, 2)",
    "e",
    "10 km",
    "$5.99",
    "ABC123",
    "½",
    "x = 3",
]


@pytest.mark.parametrize("label", OCR_LABELS)
def test_a_label_passes_exactly_when_v_triunes_gold_parse_reads_it(label: str) -> None:
    """V-Triune's ``MathVerifyVerifier.verify_accuracy`` (reward_server/verify.py): ``gold_parsed
    = math_verify.parse(solution.lower(), extraction_mode="first_match")``, and a gold with
    ``len(gold_parsed) == 0`` scores 0 whatever the answer — the label the OCR rule drops."""
    import math_verify

    gold = math_verify.parse(label.lower(), extraction_mode="first_match")
    assert math_verifiable(label) is (len(gold) != 0)
