"""The ``polygon_iou`` verifier: polygons, quadrilaterals and rotated boxes (shapely)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from reward_service.contract.errors import InvalidInputError
from reward_service.contract.registry import VERIFIERS, Context
from reward_service.verifiers.polygon_iou import (
    PolygonIouParams,
    polygon_iou,
    prepare,
    vertices,
)

SQUARE = [[0, 0], [10, 0], [10, 10], [0, 10]]


def run(response: str, ground_truth: Any = SQUARE, **params: Any) -> Any:
    p = PolygonIouParams(**params)
    return polygon_iou(response, prepare(ground_truth, p), p, Context())


def test_registered() -> None:
    assert VERIFIERS.get("polygon_iou").fn is polygon_iou


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("[[0,0],[10,0],[10,10],[0,10]]", 1.0),  # the same polygon
        ("[[0,10],[10,10],[10,0],[0,0]]", 1.0),  # clockwise instead: orientation is free
        ("[0,0, 10,0, 10,10, 0,10]", 1.0),  # 8 numbers: a quadrilateral
        ("[0, 0, 10, 10]", 1.0),  # 4 numbers: an axis-aligned box
        ("[5, 5, 10, 10, 0]", 1.0),  # rotated box, angle 0
        ("[5, 5, 10, 10, 90]", 1.0),  # a square turned 90° is itself
        ("[5, 5, 10, 10, 45]", 1 / math.sqrt(2)),  # a square and its 45° turn: IoU 1/√2
        ("[5, 10, 20, 10, 90]", 0.5),  # 20×10 turned upright: x 0..10, y 0..20
        ("[5, 10, 20, 10, 0]", 50 / 250),  # unturned: x −5..15, y 5..15
        ("[[0,0],[10,0],[10,5],[0,5]]", 0.5),  # the lower half
        ("[[0,0],[10,0],[0,10]]", 0.5),  # a triangle: half the square
        ("[0,0, 10,0, 0,10]", 0.5),  # the same triangle as 6 numbers
        ("((0,0),(10,0),(10,10),(0,10))", 1.0),  # tuples read as lists
        ("The region is [[0,0],[10,0],[10,10],[0,10]].", 1.0),  # prose around the array
        ("<think>[[0,0],[1,0],[1,1]]</think>\\boxed{[[0,0],[10,0],[10,5],[0,5]]}", 0.5),  # boxed
        ("[[20,20],[30,20],[30,30]]", 0.0),  # disjoint
        ("[[0,0],[5,5],[10,10]]", 0.0),  # collinear: zero area
        ("[[0,0],[10,0],[NaN,10]]", 0.0),  # NaN (json.loads accepts the literal)
        ("[[0,0],[10,0],[1e999,10]]", 0.0),  # overflows to inf
        ('[[0,0],[10,0],[10,"10"]]', 0.0),  # a string coordinate
        ("[[0,0],[10,0]]", 0.0),  # two points
        ("[0,0,10,0,10,10,0]", 0.0),  # 7 numbers
        ("[5, 5, -10, 10, 0]", 0.0),  # negative width
        ("[10, 10, 0, 0]", 0.0),  # a reversed box
        ("[" * 50_000 + "]" * 50_000, 0.0),  # deeply nested
        ("no polygon", 0.0),
    ],
)
def test_scores(response: str, expected: float) -> None:
    assert run(response).accuracy == pytest.approx(expected, abs=1e-9)


def test_rotation_direction() -> None:
    # corner (cx + u·cos θ − v·sin θ, cy + u·sin θ + v·cos θ): +90° takes +x to +y
    corners = vertices([0, 0, 2, 2, 90])
    assert corners is not None
    assert corners.ravel().tolist() == pytest.approx([1, -1, 1, 1, -1, 1, -1, -1])


def test_bow_tie_is_repaired() -> None:
    # a self-intersecting outline becomes its two triangles (area 50), not area 0 or a crash
    result = run("[[0,0],[10,10],[10,0],[0,10]]")
    assert result.accuracy == pytest.approx(0.5)
    assert result.details["repaired"] is True


def test_vertex_cap() -> None:
    # 1,000 vertices are read; 1,001 are refused
    circle = [
        [5 + 5 * math.cos(2 * math.pi * k / n), 5 + 5 * math.sin(2 * math.pi * k / n)]
        for n in (1000,)
        for k in range(n)
    ]
    assert run(str(circle)).accuracy == pytest.approx(math.pi * 25 / 100, rel=1e-4)
    assert run(str([*circle, [5, 0]])).accuracy == 0.0


def test_huge_coordinates_do_not_overflow() -> None:
    # areas near 1e616 would be inf in float64; exact power-of-two scaling keeps IoU right
    big = [[0, 0], [1e308, 0], [1e308, 1e308], [0, 1e308]]
    assert run("[[0,0],[1e308,0],[1e308,5e307],[0,5e307]]", big).accuracy == pytest.approx(0.5)


def test_subnormal_repair_warns_nothing() -> None:
    # found by fuzzing: after scaling, these vertices mix 1 with subnormals, and GEOS's repair
    # set a floating-point flag that numpy reported as a RuntimeWarning (an error under pytest)
    big = 1.7976931348623157e308
    pred = [[2.0, 0.0], [big, -1.0], [-7, -1e308], [1.0, -3], [big, 2.0], [2.2e-308, -1e308]]
    result = run(json.dumps(pred), [[-1.0, -1.0], [-308527.2, -7], [-6, 5e-324]])
    assert result.accuracy == 0.0
    assert result.details["repaired"] is True


@pytest.mark.parametrize(("threshold", "expected"), [(0.5, 0.5), (0.51, 0.0)])
def test_threshold(threshold: float, expected: float) -> None:
    assert run("[[0,0],[10,0],[10,5],[0,5]]", threshold=threshold).accuracy == expected


@pytest.mark.parametrize(
    ("ground_truth", "expected"),
    [
        ("[[0,0],[10,0],[10,10],[0,10]]", 1.0),  # a string
        ([0, 0, 10, 0, 10, 10, 0, 10], 1.0),  # 8 numbers
        ([5, 5, 10, 10, 0], 1.0),  # a rotated box
        ([0, 0, 10, 10], 1.0),  # an axis-aligned box
    ],
)
def test_ground_truth_forms(ground_truth: Any, expected: float) -> None:
    assert run("[0, 0, 10, 10]", ground_truth).accuracy == pytest.approx(expected)


@pytest.mark.parametrize(
    "ground_truth",
    [
        [[0, 0], [10, 10], [10, 0], [0, 10]],  # self-intersecting: not repaired for GT
        [[0, 0], [5, 5], [10, 10]],  # zero area
        [0, 0, 0, 10],  # a zero-width box
        [[0, 0], [10, 0]],  # too few points
        "no polygon",
        None,
        {"polygon": SQUARE},
    ],
)
def test_bad_ground_truth(ground_truth: Any) -> None:
    with pytest.raises(InvalidInputError):
        prepare(ground_truth, PolygonIouParams())
