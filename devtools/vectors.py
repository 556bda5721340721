"""Checking a stack's answers against the reference vectors (topology test, image test)."""

from __future__ import annotations

from typing import Any

import pytest


def expected_rewards(vectors: list[dict[str, Any]]) -> list[Any]:
    """Per vector: its reward, or the status it must get instead."""
    return [v["expect"].get("reward", v["expect"].get("status")) for v in vectors]


def check(
    results: list[dict[str, Any]], samples: list[dict[str, Any]], expected: list[Any]
) -> None:
    """Every sample answered once, in order, with its expected reward or status."""
    assert [r["id"] for r in results] == [s["id"] for s in samples]  # none lost, none duplicated
    for result, want in zip(results, expected, strict=True):
        if isinstance(want, str):
            assert result["status"] == want, result
        else:
            assert result["status"] == "ok", result
            assert result["reward"] == pytest.approx(want, abs=1e-5)
