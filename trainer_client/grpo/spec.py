"""A training row's reward spec: the raas sample fields its rollouts are scored with.

Three layouts, told apart row by row, read as ``raas score`` reads them
(``reward_service.offline.spec``):

- **raas's own**: the sample fields as columns (``verifier``, ``ground_truth`` — or ``solution``
  / ``answer`` —, ``params``, ``format``, ``weights``, ``images``, ``meta``).
- **V-Triune / Orsta**: ``reward_model`` = ``{"ground_truth", "verifier": "mathverify" |
  "detection", "verifier_parm", "accuracy_ratio", "format_ratio"}``, mapped by
  :mod:`trainer_client.vtriune_rows` — the file the server's ``/judge`` and ``raas score`` map
  it with —, weighted accuracy_ratio : format_ratio (1 : 0.1 unless given) as V-Triune's
  ``final_reward``. Its ``images`` are not sent (neither verifier reads them).
- **routed**: no verifier (verl's ``reward_model: {"ground_truth", "style"}`` included): the
  sample goes without one and the server's routes (``RAAS_ROUTES``) pick the spec by
  ``data_source``; a ground truth inside ``reward_model`` is sent.

Images of raas's own and routed rows are sent as ``trainer_client.images`` encodes them (bytes
and Parquet's ``{"bytes", "path"}`` as ``data:`` URIs, local files read; other strings as they
are, for the reward model's ``image_root``).

Every ``detection`` sample carries ``params.image_size`` = [W, H] of the policy's input image,
so that pixel boxes (Qwen2.5-VL writes absolute coordinates) are rescaled to the 0–1000 grid
when the row asks (``normalize_pixels``; V-Triune's ``det_verifier_normalized``): the size a
caller passes (the processor's resized input), else the row's first image's own size. A row
that already holds a size (``params.image_size``, V-Triune's ``image_grid_thw``) keeps it.
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
import os
from typing import Any

from trainer_client.images import MAX_IMAGE_BYTES, ImageEncodingError, encode_image
from trainer_client.vtriune_rows import (
    VERIFIERS,
    final_weights,
    parm_object,
    row_object,
    vtriune_spec,
)

logger = logging.getLogger("raas-train")
_PASSED = ("verifier", "params", "format", "weights", "images", "meta")
_TRUTH = ("ground_truth", "solution", "answer")
Size = list[int]
_WARNED: set[str] = set()


def vtriune_model(row: dict[str, Any]) -> dict[str, Any] | None:
    """The row's ``reward_model`` when it is V-Triune's (and the row names no verifier)."""
    model = row_object(row.get("reward_model"))
    if isinstance(model, dict) and model.get("verifier") in VERIFIERS and not row.get("verifier"):
        return model
    return None


def _image_bytes(image: Any) -> bytes | str | None:
    """Bytes, or a local path, of one image as a row holds it; ``None``: not readable here."""
    if isinstance(image, dict):  # datasets' Image(decode=False), Orsta's Parquet struct
        return image.get("bytes") or image.get("path")
    if isinstance(image, bytes):
        return image
    if isinstance(image, str) and image.startswith("data:"):
        _, _, payload = image.partition(",")
        if len(payload) > MAX_IMAGE_BYTES * 4 // 3 + 4:
            return None
        try:
            return base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            return None
    if isinstance(image, str) and "://" not in image and os.path.isfile(image):
        return image
    return None


def image_size(image: Any) -> Size | None:
    """[W, H] of an image (a PIL image, bytes, ``{"bytes", "path"}``, a ``data:`` URI or a
    local path) from its header; ``None`` when it cannot be read (a URL, a broken file)."""
    if hasattr(image, "size") and hasattr(image, "mode"):  # a PIL image
        return [int(image.size[0]), int(image.size[1])]
    source = _image_bytes(image)
    if source is None:
        return None
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as opened:
            return [int(opened.size[0]), int(opened.size[1])]
    except (OSError, UnidentifiedImageError, ValueError):
        return None


def processed_size(grid_thw: Any, patch_size: int = 14) -> Size:
    """[W, H] in pixels of the image a Qwen2/2.5-VL processor gave the model, from its
    ``image_grid_thw`` row (T, H, W in patches of ``patch_size``): what V-Triune's trainer sends
    as the image's size (``(t, h·14, w·14)``); pass it to :func:`row_spec` as ``image_size``."""
    _, height, width = (int(v) for v in grid_thw)
    return [width * patch_size, height * patch_size]


def _first_image_size(row: dict[str, Any]) -> Size | None:
    images = row.get("images")
    if not isinstance(images, list) or not images:
        return None
    size = image_size(images[0])
    source = str(row.get("data_source") or "default")
    if size is None and source not in _WARNED:  # once per source, not once per group
        _WARNED.add(source)
        logger.warning(
            "%s: a detection row's image size cannot be read (a URL, or not an image): its "
            "pixel boxes are not rescaled",
            source,
        )
    return size


def _vtriune(
    row: dict[str, Any], model: dict[str, Any], threshold: str | float, size: Size | None
) -> dict[str, Any]:
    parm = parm_object(model.get("verifier_parm"))
    needs_size = model["verifier"] == "detection" and not parm.get("image_grid_thw")
    solution = str(model.get("ground_truth") or "")
    if needs_size and size is None:
        size = _first_image_size(row)
    spec = vtriune_spec(model["verifier"], solution, parm, threshold, size)
    if spec["verifier"] == "detection" and size is not None:
        spec["params"].setdefault("image_size", size)  # sent even when not normalised
    spec["weights"] = final_weights(model.get("accuracy_ratio"), model.get("format_ratio"))
    return spec


def _sendable_images(images: list[Any], row: dict[str, Any]) -> list[str] | None:
    """The row's images as raas takes them (``trainer_client.images``: bytes and Parquet's
    ``{"bytes", "path"}`` as data URIs); ``None`` when one cannot be encoded — the sample then
    goes without images, so a verifier that needs them answers ``invalid_input`` (unscored,
    masked out of the loss) rather than scoring it on a wrong set."""
    try:
        return [encode_image(image) for image in images]
    except ImageEncodingError as exc:
        source = str(row.get("data_source") or "default")
        if source not in _WARNED:
            _WARNED.add(source)
            logger.warning("%s: a row's images cannot be sent to raas: %s", source, exc)
        return None


def _native(row: dict[str, Any], size: Size | None) -> dict[str, Any]:
    truth = next((row[k] for k in _TRUTH if row.get(k) is not None), None)
    spec: dict[str, Any] = {"ground_truth": truth}
    for key in _PASSED:
        value = row_object(row.get(key))
        if value is not None:
            spec[key] = value
    if isinstance(spec.get("images"), list):
        spec["images"] = _sendable_images(spec["images"], row)
        if spec["images"] is None:
            del spec["images"]
    model = row_object(row.get("reward_model"))
    if isinstance(model, dict):  # verl's layout: the spec inside reward_model
        for key in ("ground_truth", "verifier"):
            if spec.get(key) is None and model.get(key) is not None:
                spec[key] = model[key]
    if spec.get("verifier") == "detection":
        params = dict(spec.get("params") or {})
        if "image_size" not in params:
            found = size if size is not None else _first_image_size(row)
            if found is not None:
                params["image_size"] = found
        spec["params"] = params
    return spec


def row_spec(
    row: dict[str, Any], iou_threshold: str | float = "dynamic", image_size: Size | None = None
) -> dict[str, Any]:
    """The sample fields (all but ``data_source``, ``prompt`` and ``response``) that score the
    rollouts of ``row``; ``image_size``: the policy's input size, when the caller knows it."""
    model = vtriune_model(row)
    if model is not None:
        return _vtriune(row, model, iou_threshold, image_size)
    return _native(row, image_size)
