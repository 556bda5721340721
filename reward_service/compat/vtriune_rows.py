"""V-Triune's reward spec (the ``reward_model`` column of Orsta's rows, the fields of its
``/judge`` payload) as raas's spec: one rule for the server's ``POST /judge``, ``raas score`` /
``raas filter`` and raas-train.

This one file is two modules: ``reward_service.compat.vtriune_rows`` and, through a symbolic
link, ``trainer_client.vtriune_rows``. The trainer side must not import the server (nor FastAPI
or torch) and the server's image holds no trainer side, so neither package can import the
other's copy; the link keeps the rule written once. Hence this file imports only the standard
library and orjson (both distributions depend on it), and nothing relative to its package.

- ``mathverify`` → ``math`` with ``vtriune_compat`` (V-Triune's parse configs), format
  ``think_answer``, the ground truth as written (its ``$…$`` included).
- ``detection`` → ``detection`` with ``det_reward_ratio`` mapped (``iou_max_label_first`` →
  ``label_first``, ``iou_max_iou_first`` → ``iou_first``, ``iou_completeness`` →
  ``completeness``, ``map*``; missing or outside [0, 1] → 0, as there), V-Triune's count
  penalty and reader (``vtriune_compat``, ``extra_box_penalty`` off), the IoU threshold given
  (V-Triune's ``DET_IOU_THRESHOLD``), the ground truth read from the ``<answer>`` block, format
  ``detection_answer``. With ``det_verifier_normalized`` predicted pixels are rescaled to the
  0–1000 grid by the policy's input size: ``image_grid_thw[0]`` (T, H, W) when the row holds it
  (V-Triune's trainer adds it from the processor), else the ``image_size`` [W, H] the caller
  read from the row's image (raas-train); without either the boxes are not rescaled.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

VERIFIERS = {"mathverify": ("math", "think_answer"), "detection": ("detection", "detection_answer")}
RATIOS = {
    "iou_max_label_first": "label_first",
    "iou_max_iou_first": "iou_first",
    "iou_completeness": "completeness",
    "map": "map",
    "map50": "map50",
    "map75": "map75",
}
IouThreshold = str | float


class VTriuneSpecError(ValueError):
    """A spec V-Triune's own server would have crashed on."""


def ratio(value: Any, key: str) -> float:
    """V-Triune's reading of one ``det_reward_ratio`` entry: missing or outside [0, 1] → 0."""
    if value is None:
        return 0.0
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise VTriuneSpecError(f"det_reward_ratio.{key} must be a number")
    return float(value) if 0.0 <= value <= 1.0 else 0.0


def row_object(value: Any) -> Any:
    """An object column of a row as sent (``reward_model``, ``params``…): JSON object text
    read, a dict's ``None`` entries (a Parquet struct's absent keys) dropped; else as it is."""
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    if isinstance(value, dict):
        return {key: item for key, item in value.items() if item is not None}
    return value


def parm_object(value: Any) -> dict[str, Any]:
    """``verifier_parm`` as an object: JSON text (the ``/judge`` payload, some Parquet files) or
    a dict (a Parquet struct, whose absent keys are ``None`` and dropped); missing → ``{}``."""
    if value is None:
        return {}
    if isinstance(value, str | bytes):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise VTriuneSpecError("verifier_parm is not JSON") from None
    if not isinstance(value, dict):
        raise VTriuneSpecError("verifier_parm must be an object")
    return {key: item for key, item in value.items() if item is not None}


def _grid_size(grid: Any) -> list[int]:
    try:
        _, height, width = grid[0]
    except (TypeError, ValueError, KeyError, IndexError):
        raise VTriuneSpecError("image_grid_thw must be a list of [t, h, w]") from None
    return [width, height]


def detection_params(
    parm: dict[str, Any], iou_threshold: IouThreshold, image_size: list[int] | None = None
) -> dict[str, Any]:
    """raas's ``detection`` params for V-Triune's ``verifier_parm``."""
    ratios = parm.get("det_reward_ratio") or {}
    if not isinstance(ratios, dict):
        raise VTriuneSpecError("det_reward_ratio must be an object")
    params: dict[str, Any] = {native: ratio(ratios.get(key), key) for key, native in RATIOS.items()}
    # V-Triune's formula: one count penalty both ways, only its own reader
    params.update(iou_threshold=iou_threshold, vtriune_compat=True, extra_box_penalty=None)
    grid = parm.get("image_grid_thw")
    size = _grid_size(grid) if grid else image_size
    if parm.get("det_verifier_normalized") and size:
        params.update(normalize_pixels=True, image_size=size)
    return params


def answer_block(text: str) -> str:
    """V-Triune's ``re.search(r"<answer>(.*?)</answer>", text, re.DOTALL)``, stripped, in linear
    time: the lazy pattern is quadratic on a text of many ``<answer>`` and no ``</answer>``."""
    start = text.find("<answer>")
    if start < 0:
        return ""
    end = text.find("</answer>", start + len("<answer>"))
    return text[start + len("<answer>") : end].strip() if end >= 0 else ""


def vtriune_spec(
    verifier: Any,
    solution: str,
    parm: dict[str, Any],
    iou_threshold: IouThreshold,
    image_size: list[int] | None = None,
) -> dict[str, Any]:
    """``verifier``, ``ground_truth``, ``params`` and ``format`` of a raas sample for V-Triune's
    ``reward_verifier`` (``reward_model.verifier``), its solution and ``verifier_parm``."""
    if verifier not in VERIFIERS:
        raise VTriuneSpecError(f"unknown reward_verifier {verifier!r}")
    native, fmt = VERIFIERS[verifier]
    if native == "math":
        params: dict[str, Any] = {"vtriune_compat": True}
        ground_truth = solution
    else:
        params = detection_params(parm, iou_threshold, image_size)
        ground_truth = answer_block(solution)
    return {"verifier": native, "ground_truth": ground_truth, "params": params, "format": fmt}


def final_weights(accuracy_ratio: Any, format_ratio: Any) -> dict[str, float]:
    """V-Triune's ``final_reward`` weights accuracy : format as ``accuracy_ratio`` :
    ``format_ratio`` (1 : 0.1 when not given)."""
    a = 1.0 if accuracy_ratio is None else float(accuracy_ratio)
    f = 0.1 if format_ratio is None else float(format_ratio)
    return {"accuracy": a, "format": f}
