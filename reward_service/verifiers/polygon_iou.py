"""Polygon IoU for quadrilaterals, rotated boxes and general polygons, with shapely.

Response: the final answer (``_text.locate``: the ``<answer>`` block after the thinking, else the
text after the last ``</think>``, else all of it, none when the thinking is unclosed; its
``\\boxed{}`` if any), with ``(``/``)`` read
as ``[``/``]``; the whole of it is parsed as JSON, else the span from its first ``[`` to its
last ``]``. Shapes (at most 1,000 vertices):

- ``[[x, y], [x, y], [x, y], ...]`` — a polygon of ≥ 3 vertices in order, either orientation;
- ``[x1, y1, x2, y2, ..., xn, yn]`` — an even count ≥ 6 of numbers (8: a quadrilateral);
- ``[cx, cy, w, h, angle]`` — a rotated box, w, h ≥ 0, angle in degrees; its corners are
  (cx + u·cos θ − v·sin θ, cy + u·sin θ + v·cos θ) for u = ±w/2, v = ±h/2 (with y pointing
  down, a positive angle turns clockwise on screen, as in OpenCV);
- ``[x1, y1, x2, y2]`` — an axis-aligned box, x1 ≤ x2, y1 ≤ y2.

A self-intersecting prediction is repaired (shapely ``make_valid``, method "structure": a
bow-tie becomes its two triangles); no shape, non-finite coordinates, or zero area after repair
→ 0 with a ``reason``.
Ground truth: one of the same shapes as a JSON value or a string; it must be a valid polygon of
positive area, else ``invalid_input``.
Params: ``threshold`` τ (default none): IoU below τ scores 0.
Formula: IoU = area(P ∩ G) / (area(P) + area(G) − area(P ∩ G)).
Range: [0, 1].
Reward hacking: a polygon covering the image scores area(G)/area(image); a self-intersecting
outline is scored by its repaired area, so winding tricks gain nothing. Several different boxed
answers are a hedge and score 0.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any

import numpy as np
import shapely
from pydantic import Field
from shapely.errors import GEOSException

from reward_service.contract.errors import InvalidInputError
from reward_service.contract.registry import Context, Params, Score, verifier
from reward_service.verifiers._boxes import (
    Array,
    as_box,
    finite_floats,
    rescaled,
)
from reward_service.verifiers._text import final_answer, missing

MAX_VERTICES = 1000
_PARENS = str.maketrans("()", "[]")


class PolygonIouParams(Params):
    threshold: Annotated[float, Field(ge=0.0, le=1.0)] | None = None


def vertices(value: Any) -> Array | None:
    """The (n, 2) vertices of ``value`` in one of the documented shapes, else ``None``."""
    if not isinstance(value, list) or not 3 <= len(value) <= 2 * MAX_VERTICES:
        return None
    if all(isinstance(point, list) and len(point) == 2 for point in value):
        flat = finite_floats([c for point in value for c in point])
        too_many = len(value) > MAX_VERTICES
        return None if flat is None or too_many else np.array(flat).reshape(-1, 2)
    flat = finite_floats(value)
    if flat is None:
        return None
    if len(flat) == 4:
        box = as_box(flat)
        return None if box is None else np.array(box)[[0, 1, 2, 1, 2, 3, 0, 3]].reshape(4, 2)
    if len(flat) == 5:
        return _rotated_box(*flat)
    return np.array(flat).reshape(-1, 2) if len(flat) % 2 == 0 and len(flat) >= 6 else None


def _rotated_box(cx: float, cy: float, w: float, h: float, angle: float) -> Array | None:
    if w < 0 or h < 0:
        return None
    cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    u, v = np.array([-w, w, w, -w]) / 2, np.array([-h, -h, h, h]) / 2
    with np.errstate(over="ignore", invalid="ignore"):
        corners = np.stack([cx + u * cos - v * sin, cy + u * sin + v * cos], axis=1)
    return corners if np.isfinite(corners).all() else None


def find_vertices(text: str) -> Array | None:
    region = (final_answer(text) or "").translate(_PARENS).strip()
    start, end = region.find("["), region.rfind("]")
    for candidate in (region, region[start : end + 1] if 0 <= start < end else ""):
        try:
            shape = vertices(json.loads(candidate))
        except (ValueError, RecursionError):
            continue
        if shape is not None:
            return shape
    return None


def _polygons(*shapes: Array) -> list[Any]:
    """Polygons of the shapes, all scaled by one exact power of two so no area overflows."""
    return [shapely.Polygon(shape) for shape in rescaled(*shapes)]


def prepare(ground_truth: Any, params: PolygonIouParams) -> Array:
    shape = find_vertices(ground_truth) if isinstance(ground_truth, str) else vertices(ground_truth)
    if shape is None:
        raise InvalidInputError(f"ground truth is not a polygon or box: {ground_truth!r:.200}")
    (polygon,) = _polygons(shape)
    with np.errstate(all="ignore"):
        valid = bool(polygon.is_valid) and float(polygon.area) > 0
    if not valid:
        raise InvalidInputError("ground-truth polygon is self-intersecting or has zero area")
    return shape


@verifier("polygon_iou", params=PolygonIouParams, prepare=prepare)
def polygon_iou(
    response: str, ground_truth: Any, params: PolygonIouParams, context: Context
) -> Score:
    """IoU of a predicted polygon, quadrilateral or rotated box with the GT shape (shapely)."""
    shape = find_vertices(response)
    if shape is None:
        return Score(
            0.0, {"reason": missing(response, "polygon, quadrilateral or box"), "parsed": False}
        )
    pred, gt = _polygons(shape, ground_truth)
    # GEOS may raise floating-point flags on subnormal coordinates; the results are checked
    with np.errstate(all="ignore"):
        repaired = not pred.is_valid
        try:
            if repaired:
                pred = shapely.make_valid(pred, method="structure", keep_collapsed=False)
            area = float(pred.area)
            inter = float(pred.intersection(gt).area) if area > 0 else 0.0
        except GEOSException as exc:  # not expected for valid inputs; a reason beats a crash
            return Score(0.0, {"reason": f"geometry error: {exc}", "parsed": True})
    if not area > 0:
        return Score(0.0, {"reason": "zero-area polygon", "repaired": repaired, "parsed": True})
    iou = inter / (area + float(gt.area) - inter)
    if not math.isfinite(iou):
        reason = "geometry error: non-finite area"
        return Score(0.0, {"reason": reason, "repaired": repaired, "parsed": True})
    iou = min(max(iou, 0.0), 1.0)
    passed = params.threshold is None or iou >= params.threshold
    return Score(iou if passed else 0.0, {"iou": iou, "repaired": repaired, "parsed": True})
