"""Boxes for the perception verifiers: parsing untrusted text, validity, IoU and GIoU.

A box is ``[x1, y1, x2, y2]`` in float64. It is *valid* when all four coordinates are real
numbers (``bool`` is not one), finite, ``x1 ≤ x2`` and ``y1 ≤ y2``, and its area is finite
(``[0, 0, 1e308, 1e308]`` is not a box). IoU and GIoU are computed on coordinates scaled by a
power of two so that no area overflows; the scaling is exact, so ordinary boxes give the same
bits as the unscaled formula.

Two readers:

* :func:`parse_box_list` — V-Triune's tolerant reader of ``[{"bbox_2d": [...], "label": ...}]``
  (truncation repair, single quotes, duplicates dropped); natively it also reads Python-style
  quoting with apostrophes in a label (``_requote.requoted``), which V-Triune's quote swap breaks.
  :func:`parse_corner_boxes` reads Qwen2-VL's native grounding output. Used by ``detection``.
* :func:`find_box` / :func:`find_point` — the first ``[a, b, c, d]`` / ``[x, y]`` (brackets or
  parentheses), or Qwen2-VL's ``(x1,y1),(x2,y2)``, in the final answer (``_text.final_answer``);
  a final answer that is nothing but the numbers (``\\boxed{1,2,3,4}``, ``\\boxed{200, 200}``)
  counts too. Used by ``giou``, ``iou``, ``point_in_box``.

Qwen2-VL writes a box as its two corners, ``(x1,y1),(x2,y2)``, on a 0–1000 grid normalised to
the image, optionally inside ``<|box_start|>…<|box_end|>`` after
``<|object_ref_start|>label<|object_ref_end|>`` (kept when decoded without
``skip_special_tokens``). raas reads the numbers as they are: the ground truth must be on the same
grid (``detection``'s is; for ``iou``/``giou``/``point_in_box`` give the gold on 0–1000 too).
No param rescales them: it would need each image's size, which is what converting the gold
once needs.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from reward_service.contract.errors import InvalidInputError
from reward_service.verifiers._requote import requoted
from reward_service.verifiers._text import final_answer, missing

Array = npt.NDArray[np.float64]
Coords = tuple[float, float, float, float]

MAX_BOXES = 1000
"""More predicted boxes than this score 0; more ground-truth boxes are invalid input."""

_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"  # unambiguous: linear-time matching
_SEP = r"\s*,\s*"
_BOX = re.compile(rf"[\[(]\s*({_NUM}){_SEP}({_NUM}){_SEP}({_NUM}){_SEP}({_NUM})\s*[\])]")
_BARE_BOX = re.compile(rf"\s*({_NUM}){_SEP}({_NUM}){_SEP}({_NUM}){_SEP}({_NUM})\s*")
_POINT = re.compile(rf"[\[(]\s*({_NUM}){_SEP}({_NUM})\s*[\])]")
_BARE_POINT = re.compile(rf"\s*({_NUM}){_SEP}({_NUM})\s*")
# Qwen2-VL's corners; ``\s*(?:,\s*)?`` (not ``\s*,?\s*``) keeps the match linear on long blanks
_CORNERS = re.compile(
    rf"[\[(]\s*({_NUM}){_SEP}({_NUM})\s*[\])]\s*(?:,\s*)?[\[(]\s*({_NUM}){_SEP}({_NUM})\s*[\])]"
)
_OBJECT_REF = re.compile(r"<\|object_ref_start\|>([^<]*)<\|object_ref_end\|>")
_SPECIAL = re.compile(r"<\|(?:object_ref|box|quad)_(?:start|end)\|>")
_LABEL_EDGES = " \t\r\n,;:.-"


@dataclass(frozen=True, slots=True)
class Boxes:
    """Labelled boxes: ``coords`` of shape (n, 4) and one lower-cased label per box."""

    coords: Array
    labels: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def finite_floats(values: Sequence[object]) -> tuple[float, ...] | None:
    """``values`` as floats when every one is a finite real number (not a bool), else ``None``."""
    if not all(map(is_number, values)):
        return None
    try:
        floats = tuple(float(v) for v in values)  # type: ignore[arg-type]
    except OverflowError:  # an integer beyond float range
        return None
    return floats if all(map(math.isfinite, floats)) else None


def valid_box(values: Sequence[float]) -> bool:
    """Finite, ordered corners and a finite area (see the module docstring)."""
    x1, y1, x2, y2 = values
    width, height = x2 - x1, y2 - y1
    return (
        all(math.isfinite(v) for v in values)
        and width >= 0
        and height >= 0
        and math.isfinite(width * height)
    )


def as_box(value: object) -> Coords | None:
    """``value`` (a list or tuple of exactly four numbers) as a valid box, else ``None``."""
    if not isinstance(value, list | tuple) or len(value) != 4:
        return None
    floats = finite_floats(value)
    if floats is None or not valid_box(floats):
        return None
    x1, y1, x2, y2 = floats
    return x1, y1, x2, y2


def boxes_from_items(items: list[Any]) -> Boxes | None:
    """Keep the ``{"bbox_2d": <valid box>, "label": str}`` items, first of equal boxes only."""
    kept: dict[Coords, str] = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("label"), str):
            continue
        box = as_box(item.get("bbox_2d"))
        if box is not None and box not in kept:
            kept[box] = item["label"].lower()
    if not kept:
        return None
    return Boxes(np.array(list(kept), dtype=np.float64), tuple(kept.values()))


def parse_box_list(text: str, *, vtriune: bool = False) -> Boxes | None:
    """V-Triune's reader: repair, then ``json.loads`` (never ``eval``); ``None`` when no box.

    ``[[``→``[``, ``]]``→``]``; text not ending in ``]`` is cut at its last ``},`` and closed
    with ``}]``; ``'``→``"``; backslashes removed. Markdown fences therefore fail to parse.
    When that swap breaks the JSON (``'label': "person's bag"``, or the unescaped
    ``'person's bag'``), the native reader (``vtriune`` false) requotes it instead
    (``_requote.requoted``); ``vtriune`` keeps V-Triune's verdict, 0.
    """
    text = text.strip()
    if not text:
        return None
    text = text.replace("[[", "[").replace("]]", "]")
    if not text.endswith("]"):
        text = text.rsplit("},", 1)[0] + "}]"
    text = text.replace("\\", "")
    items = _json_list(text.replace("'", '"'))
    if items is None and not vtriune and "'" in text:
        items = _json_list(requoted(text))
    return None if items is None else boxes_from_items(items)


def _json_list(text: str | None) -> list[Any] | None:
    if text is None:
        return None
    try:
        items = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: deeply nested arrays
        return None
    return items if isinstance(items, list) else None


def parse_corner_boxes(text: str) -> Boxes | None:
    """Qwen2-VL's grounding output: every ``(x1,y1),(x2,y2)`` box, labelled by the last
    ``<|object_ref_start|>label<|object_ref_end|>`` before it, else by the plain text between it
    and the previous box (edge punctuation stripped); a box right after another shares its label.
    ``None`` when no valid box."""
    items: list[dict[str, Any]] = []
    start, label = 0, ""
    for match in _CORNERS.finditer(text):
        before = text[start : match.start()]
        refs = _OBJECT_REF.findall(before)
        plain = _SPECIAL.sub("", before).strip(_LABEL_EDGES)
        label = refs[-1].strip() if refs else plain or label
        items.append({"bbox_2d": list(_floats4(match.groups())), "label": label})
        start = match.end()
    return boxes_from_items(items)


def find_box(text: str) -> Coords | None:
    """The first four-number group in the answer region, valid or not; ``None`` when none.

    ``[x1, y1, x2, y2]`` or ``(x1, y1, x2, y2)`` anywhere in it (so also inside a ``bbox_2d``
    object), Qwen2-VL's ``(x1,y1),(x2,y2)``, or a region that is nothing but four
    comma-separated numbers (``\\boxed{1,2,3,4}``).
    """
    region = final_answer(text) or ""  # several different boxed answers: no box
    found = [m for m in (_BOX.search(region), _CORNERS.search(region)) if m is not None]
    match = min(found, key=lambda m: m.start(), default=None) or _BARE_BOX.fullmatch(region)
    return None if match is None else _floats4(match.groups())


def predicted_box(response: str) -> tuple[Coords | None, str]:
    """The response's box for single-box verifiers, or ``None`` and why there is none."""
    found = find_box(response)
    if found is None:
        return None, missing(response, "box")
    box = as_box(found)
    return box, "" if box is not None else "invalid box"


def find_point(text: str) -> tuple[float, float] | None:
    """The first ``[x, y]`` or ``(x, y)`` in the answer region, or a region that is nothing but
    two comma-separated numbers (``\\boxed{200, 200}``); ``None`` when none, or when the first
    pair is a corner of a Qwen2-VL box ``(x1,y1),(x2,y2)`` (a box is not a point)."""
    region = final_answer(text) or ""
    match = _POINT.search(region)
    if match is not None and _CORNERS.match(region, match.start()):
        return None
    match = match or _BARE_POINT.fullmatch(region)
    if match is None:
        return None
    x, y = (float(v) for v in match.groups())
    return x, y


def ground_truth_box(value: Any, *, positive_area: bool) -> Coords:
    """A GT box from ``[x1, y1, x2, y2]``, ``{"bbox_2d": [...]}`` or a string holding one."""
    if isinstance(value, dict):
        value = value.get("bbox_2d")
    box = find_box(value) if isinstance(value, str) else value
    coords = None if box is None else as_box(box)
    if coords is None:
        raise InvalidInputError(f"ground truth is not a valid [x1, y1, x2, y2] box: {value!r:.200}")
    if positive_area and not (coords[0] < coords[2] and coords[1] < coords[3]):
        raise InvalidInputError("ground-truth box has zero area")
    return coords


def _floats4(groups: Sequence[str]) -> Coords:
    x1, y1, x2, y2 = (float(v) for v in groups)  # digits only: float() cannot raise here
    return x1, y1, x2, y2


def rescaled(*arrays: Array) -> list[Array]:
    """The arrays divided by one power of two that brings every coordinate into [-1, 1].

    Exact (barring subnormals), and ratios of areas are scale-free, so IoU keeps its bits
    while no area can overflow.
    """
    peak = max((float(np.abs(a).max()) for a in arrays if a.size), default=0.0)
    exponent = math.frexp(peak)[1]
    return [np.ldexp(a, -exponent) for a in arrays]


def _areas(boxes: Array) -> Array:
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def iou_matrix(pred: Array, gt: Array) -> Array:
    """IoU of every (pred, gt) pair, shape (len(pred), len(gt)); plain ratio, no +1 pixel.

    An empty or zero-area intersection gives 0 (V-Triune); inputs must be valid boxes.
    """
    pred, gt = rescaled(pred, gt)
    low = np.maximum(pred[:, None, :2], gt[None, :, :2])
    high = np.minimum(pred[:, None, 2:], gt[None, :, 2:])
    size = high - low
    overlap = (size > 0).all(axis=2)
    inter = np.where(overlap, size[..., 0] * size[..., 1], 0.0)
    union = _areas(pred)[:, None] + _areas(gt)[None, :] - inter
    out = np.zeros_like(inter)
    np.divide(inter, union, out=out, where=overlap & (union > 0))
    return out


def pair_iou(pred: Coords, gt: Coords) -> float:
    """IoU of one box with another (:func:`iou_matrix`'s rule)."""
    return float(iou_matrix(np.array([pred]), np.array([gt]))[0, 0])


def giou(pred: Coords, gt: Coords) -> float:
    """Generalised IoU in [-1, 1]: IoU − (hull − union) / hull, hull the enclosing box."""
    p, g = (a.tolist() for a in rescaled(np.array(pred), np.array(gt)))
    width = min(p[2], g[2]) - max(p[0], g[0])
    height = min(p[3], g[3]) - max(p[1], g[1])
    inter = width * height if width > 0 and height > 0 else 0.0
    union = (p[2] - p[0]) * (p[3] - p[1]) + (g[2] - g[0]) * (g[3] - g[1]) - inter
    hull = (max(p[2], g[2]) - min(p[0], g[0])) * (max(p[3], g[3]) - min(p[1], g[1]))
    iou = inter / union if union > 0 else 0.0
    return iou - (hull - union) / hull if hull > 0 else iou
