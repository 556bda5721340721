from __future__ import annotations

import random
from typing import Any

import pytest

from reward_service.contract.monitoring import reflections, reflects
from reward_service.contract.schemas import Reflection
from reward_service.routing.summary import SourceSummaries, correct, perception
from trainer_client.summary import merge

Row = tuple[str, int, bool | None, int | None, dict[str, Any]]


def by_source(
    rows: list[Row], truncated: list[bool | None] | None = None, mode: Reflection = "raas"
) -> dict[str, dict[str, Any]]:
    """The summary of ``rows`` (source, length, reflecting, tokens, result) and their
    ``truncated`` flags, as the router adds them."""
    summaries = SourceSummaries()
    flags = truncated or [None] * len(rows)
    for (source, length, reflecting, tokens, result), cut in zip(rows, flags, strict=True):
        summaries.columns(source, mode).add(result, length, reflecting, tokens, cut)
    return summaries.render()


def ok(reward: float, accuracy: float, fmt: float | None = None, **details: Any) -> dict[str, Any]:
    components = {"accuracy": accuracy} | ({} if fmt is None else {"format": fmt})
    return {"status": "ok", "reward": reward, "components": components, "details": details}


def failed(status: str) -> dict[str, Any]:
    return {"status": status, "reward": None, "components": {}, "details": {}}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Wait, that is wrong.", True),  # the classic aha token, any case
        ("let me re-check the sum", True),
        ("I will verify this", True),
        ("we double-check", True),
        ("awaiting results", False),  # a word boundary: 'wait' inside 'awaiting' is not reflection
        ("the answer is 4", False),
        ("", False),
    ],
)
def test_reflection_words(text: str, expected: bool) -> None:
    assert reflects(text) is expected


def row(
    source: str,
    response: str,
    result: dict[str, Any],
    tokens: int | None = None,
    mode: Reflection = "raas",
) -> Row:
    return source, len(response), reflections(response)[mode == "vtriune"], tokens, result


def test_source_level_summary() -> None:
    rows = [
        row("math", "wait, 4", ok(1.0, 1.0, 0.5)),
        row("math", "5", ok(0.0, 0.0, 1.0)),
        row("math", "re-check: 6", ok(0.0, 0.0, 0.0)),
        row("math", "x" * 7, failed("timeout")),
        row("det", "ab", ok(0.75, 0.6)),
    ]
    summary = by_source(rows)
    math = summary["math"]
    assert math["count"] == 4
    assert math["status_counts"] == {"ok": 3, "timeout": 1}
    assert math["reward_mean"] == pytest.approx(1 / 3)
    assert math["component_means"] == {"accuracy": pytest.approx(1 / 3), "format": 0.5}
    assert math["response_length_mean"] == (7 + 1 + 11 + 7) / 4
    assert math["reflection_ratio"] == 0.5
    assert math["reflection_ratio_correct"] == 1.0
    assert math["reflection_ratio_incorrect"] == 0.5
    det = summary["det"]
    assert det["reflection_ratio_correct"] == 0.0  # accuracy 0.6 counts as correct (≥ 0.5)
    assert det["reflection_ratio_incorrect"] is None


def test_source_with_no_ok_sample_has_no_means() -> None:
    summary = by_source([row("s", "r", failed("error"))])["s"]
    assert summary["reward_mean"] is None
    assert summary["component_means"] == {}
    assert summary["reflection_ratio_correct"] is None


def test_responses_not_examined_are_left_out_of_the_reflection_ratios() -> None:
    rows = [
        ("s", 10**8, None, None, failed("invalid_input")),  # over the size limit: never scanned
        row("s", "wait", ok(1.0, 1.0)),
        row("s", "no", ok(0.0, 0.0)),
    ]
    summary = by_source(rows)["s"]
    assert summary["count"] == 3
    assert summary["reflection_ratio"] == 0.5
    assert summary["reflection_ratio_correct"] == 1.0
    unscanned = by_source([("s", 10**8, None, None, failed("invalid_input"))])["s"]
    assert unscanned["reflection_ratio"] is None
    assert unscanned["n"] == {}


def test_perception_block_and_counts() -> None:
    rows = [
        row("det", "a", ok(0.8, 0.8, parsed=True, iou=0.9, threshold=0.85, map=0.5, map50=1.0)),
        row("det", "b", ok(0.0, 0.0, parsed=False, threshold=0.85)),
        row("det", "c", ok(0.4, 0.4, parsed=True, iou=0.3, threshold=0.95)),
        row("det", "d", failed("timeout")),
        row("math", "e", ok(1.0, 1.0, gold="4")),
    ]
    summary = by_source(rows)
    det = summary["det"]["perception"]
    assert det["parsed_ratio"] == pytest.approx(2 / 3)  # over the ok samples
    assert det["iou_mean"] == pytest.approx(0.6)
    assert det["threshold"] == pytest.approx((0.85 + 0.85 + 0.95) / 3)
    assert (det["map_mean"], det["map50_mean"]) == (0.5, 1.0)
    assert summary["det"]["n"] == {
        "reward": 3,
        "accuracy": 3,
        "reflection": 4,
        "reflection_correct": 1,
        "reflection_incorrect": 2,
        "correct_not_reflecting": 3,
        "length_correct": 1,
        "length_incorrect": 2,
        "parsed": 3,
        "iou": 2,
        "threshold": 3,
        "map": 1,
        "map50": 1,
    }
    assert summary["math"]["perception"] is None


@pytest.mark.parametrize(
    "details",
    [{"iou": "0.5"}, {"iou": float("nan")}, {"iou": True}, {"parsed": 1}, {"threshold": None}],
)
def test_only_real_values_are_monitored(details: dict[str, Any]) -> None:
    assert by_source([row("s", "r", ok(1.0, 1.0, **details))])["s"]["perception"] is None


@pytest.mark.parametrize(
    ("details", "columns"),
    [
        ([], {}),
        ([{"gold": "4"}], {}),
        ([{"iou": 0.5}, {"iou": 1}, {"iou": True}, {"iou": "0.5"}], {"iou": [0.5, 1.0]}),
        ([{"iou": float("inf")}, {"iou": float("-inf")}, {"iou": float("nan")}], {}),
        ([{"parsed": True}, {"parsed": 1}, {"parsed": False}], {"parsed": [1.0, 0.0]}),
        # a column per name in PERCEPTION's order, `parsed` last, each in the samples' order
        (
            [{"parsed": True, "recall50": 0.25, "iou": 0.5}, {"iou": 0.75, "map": 0}],
            {"iou": [0.5, 0.75], "map": [0.0], "recall50": [0.25], "parsed": [1.0]},
        ),
    ],
)
def test_perception_columns(details: list[dict[str, Any]], columns: dict[str, Any]) -> None:
    found = perception(details)
    assert found == columns
    assert list(found) == list(columns)
    assert all(type(v) is float for column in found.values() for v in column)


def test_tokens_mean_over_the_counted_responses() -> None:
    rows = [
        row("s", "abc", ok(1.0, 1.0), tokens=3),
        row("s", "abcdefg", ok(1.0, 1.0), tokens=5),
        row("s", "x" * 9, failed("error")),
    ]
    summary = by_source(rows)["s"]
    assert summary["response_tokens_mean"] == 4.0
    assert summary["n"]["response_tokens"] == 2
    assert summary["response_length_mean"] == (3 + 7 + 9) / 3


@pytest.mark.parametrize(
    ("text", "plain", "vtriune"),
    [
        ("Wait, that is wrong.", True, True),
        ("awaiting results", False, True),  # V-Triune matches substrings
        ("not there yet", False, True),  # "yet" is on V-Triune's list only
        ("let me double-check", True, False),  # "double-check" is on raas's list only
        ("verifying the sum", False, True),
        ("a reevaluation", True, True),
        ("RE-CHECK", True, True),  # case folded in both
        ("the answer is 4", False, False),
        ("", False, False),
    ],
)
def test_reflection_modes(text: str, plain: bool, vtriune: bool) -> None:
    assert reflections(text) == (plain, vtriune)
    assert reflects(text) is plain


@pytest.mark.parametrize(
    ("accuracy", "mode", "expected"),
    [
        (1.0, "raas", True),
        (0.5, "raas", True),
        (0.49, "raas", False),
        (0.0, "raas", False),
        (1.0, "vtriune", True),
        (0.99, "vtriune", False),
        (0.5, "vtriune", False),
    ],
)
def test_correct_by_mode(accuracy: float, mode: Reflection, expected: bool) -> None:
    assert correct(accuracy, mode) is expected


# (response, accuracy, tokens, truncated): the rows of the next test's source
LENGTHS = [
    ("Wait. 4", 1.0, 3, False),
    ("verifying... 4", 0.6, 5, None),  # correct for raas, not for V-Triune
    ("4", 0.0, 1, True),
    ("yet 5", 0.0, 2, True),
]


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (
            "raas",
            {
                "response_length_correct_mean": (7 + 14) / 2,
                "response_length_incorrect_mean": 3.0,
                "response_tokens_correct_mean": 4.0,
                "response_tokens_incorrect_mean": 1.5,
                "truncated_ratio": 2 / 3,
                "reflection_ratio": 0.25,
                "reflection_ratio_correct": 0.5,
                "reflection_ratio_incorrect": 0.0,
                "correct_ratio_reflecting": 1.0,
                "correct_ratio_not_reflecting": 1 / 3,
            },
        ),
        (
            "vtriune",
            {
                "response_length_correct_mean": 7.0,
                "response_length_incorrect_mean": (14 + 1 + 5) / 3,
                "response_tokens_correct_mean": 3.0,
                "response_tokens_incorrect_mean": 8 / 3,
                "truncated_ratio": 2 / 3,
                "reflection_ratio": 0.75,
                "reflection_ratio_correct": 1.0,
                "reflection_ratio_incorrect": 2 / 3,
                "correct_ratio_reflecting": 1 / 3,
                "correct_ratio_not_reflecting": 0.0,
            },
        ),
    ],
)
def test_lengths_truncation_and_reflection_by_mode(
    mode: Reflection, expected: dict[str, float]
) -> None:
    rows = [row("s", text, ok(acc, acc), tokens, mode) for text, acc, tokens, _ in LENGTHS]
    summary = by_source(rows, [cut for *_, cut in LENGTHS], mode)["s"]
    assert summary["reflection_mode"] == mode
    assert {key: summary[key] for key in expected} == pytest.approx(expected)
    assert summary["n"]["truncated"] == 3  # one sample did not say


def test_truncation_counts_every_status_and_lengths_only_ok() -> None:
    rows = [row("s", "abc", failed("timeout")), row("s", "abcdef", ok(1.0, 1.0))]
    summary = by_source(rows, [True, False])["s"]
    assert summary["truncated_ratio"] == 0.5
    assert summary["response_length_correct_mean"] == 6.0
    assert summary["response_length_incorrect_mean"] is None
    assert by_source(rows)["s"]["truncated_ratio"] is None  # nobody said


REPORT = {
    f"{k}{t}": v
    for t, v in (("50", 0.8), ("75", 0.5), ("95", 0.0), ("99", 0.0))
    for k in ("iou", "precision", "recall")
}


def test_iou_report_in_the_perception_block() -> None:
    zeros = dict.fromkeys(REPORT, 0.0)
    rows = [
        row("det", "a", ok(0.8, 0.8, parsed=True, **REPORT)),
        row("det", "b", ok(0.0, 0.0, parsed=False, **zeros)),
    ]
    summary = by_source(rows)["det"]
    block = summary["perception"]
    assert block["iou50_mean"] == block["precision50_mean"] == block["recall50_mean"] == 0.4
    assert block["recall75_mean"] == 0.25
    assert block["iou99_mean"] == 0.0
    assert summary["n"]["precision95"] == 2


def random_rows(count: int, seed: int) -> list[tuple[Row, bool | None]]:
    """Rows of two sources with every value the summary means: accuracies on and off the
    bars, reflection seen or not, tokens counted or not, perception details, failures."""
    rng = random.Random(seed)
    rows: list[tuple[Row, bool | None]] = []
    for _ in range(count):
        source = rng.choice(["math", "det"])
        accuracy = rng.choice([0.0, 0.3, 0.5, 0.9, 1.0])
        details = (
            {key: rng.random() for key in REPORT} | {"parsed": rng.random() < 0.8, "iou": 0.5}
            if source == "det"
            else {}
        )
        result = ok(accuracy, accuracy, **details) if rng.random() < 0.9 else failed("timeout")
        reflecting = rng.choice([True, False, None])
        tokens = rng.choice([None, rng.randint(1, 500)])
        row_ = (source, rng.randint(1, 4000), reflecting, tokens, result)
        rows.append((row_, rng.choice([True, False, None])))
    return rows


@pytest.mark.parametrize("mode", ["raas", "vtriune"])
@pytest.mark.parametrize("piece", [1, 7, 64, 500])
def test_a_batch_in_pieces_merges_to_the_whole(piece: int, mode: Reflection) -> None:
    rows = random_rows(500, seed=piece)

    def summary(part: list[tuple[Row, bool | None]]) -> dict[str, dict[str, Any]]:
        return by_source([r for r, _ in part], [cut for _, cut in part], mode)

    whole = summary(rows)
    merged = merge(summary(rows[i : i + piece]) for i in range(0, len(rows), piece))
    for source, expected in whole.items():
        got = merged[source]
        assert got["n"] == expected["n"]
        assert got["reflection_mode"] == mode
        for key, value in expected.items():
            if key.endswith(("_mean", "_ratio", "_reflecting")) or key.startswith("reflection_"):
                assert got[key] == pytest.approx(value), key
        assert got["perception"] == pytest.approx(expected["perception"])
        assert got["component_means"] == pytest.approx(expected["component_means"])
