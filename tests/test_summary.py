from __future__ import annotations

from typing import Any

import pytest

from reward_service.summary import by_source, reflects


def ok(reward: float, accuracy: float, fmt: float | None = None) -> dict[str, Any]:
    components = {"accuracy": accuracy} | ({} if fmt is None else {"format": fmt})
    return {"status": "ok", "reward": reward, "components": components}


def failed(status: str) -> dict[str, Any]:
    return {"status": status, "reward": None, "components": {}}


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


def row(source: str, response: str, result: dict[str, Any]) -> tuple[Any, ...]:
    return source, len(response), reflects(response), result


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
        ("s", 10**8, None, failed("invalid_input")),  # over the size limit: never scanned
        row("s", "wait", ok(1.0, 1.0)),
        row("s", "no", ok(0.0, 0.0)),
    ]
    summary = by_source(rows)["s"]
    assert summary["count"] == 3
    assert summary["reflection_ratio"] == 0.5
    assert summary["reflection_ratio_correct"] == 1.0
    assert by_source([("s", 10**8, None, failed("invalid_input"))])["s"]["reflection_ratio"] is None
