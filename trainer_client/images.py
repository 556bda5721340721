"""Images as raas reads them: a string per image (a ``data:image/…;base64,`` URI, bare base64 of
the image file, or a path under the server's ``RAAS_IMAGE_ROOT``).

Trainers hold images as PIL images (slime's ``multimodal_inputs``, TRL's image columns), as
bytes, or as local paths that the raas server cannot see; :func:`encode_image` turns each into
what raas reads. Nothing here imports PIL: an object with PIL's ``save`` is written as PNG.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_MAX_PATH = 4096  # longer strings are data, not paths


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _png(image: Any) -> str:
    buffer = io.BytesIO()
    if getattr(image, "mode", "RGB") not in ("RGB", "RGBA", "L"):
        image = image.convert("RGB")
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + _b64(buffer.getvalue())


def _local_file(text: str) -> Path | None:
    if text.startswith("data:") or len(text) > _MAX_PATH or "\n" in text:
        return None
    try:
        path = Path(text).expanduser()
        return path if path.is_file() else None
    except (OSError, ValueError):
        return None


def encode_image(image: Any) -> str:
    """``image`` as raas's image string: a PIL image as a PNG data URI; bytes, and a file that
    exists here, as base64 of their bytes; any other string unchanged (a data URI, base64, or a
    path on the server); a ``{"bytes", "path"}`` dict (🤗 datasets' Image) by its bytes, else
    its path."""
    if isinstance(image, bytes | bytearray | memoryview):
        return _b64(bytes(image))
    if isinstance(image, str):
        local = _local_file(image)
        return _b64(local.read_bytes()) if local is not None else image
    if isinstance(image, Mapping):
        data = image.get("bytes")
        return encode_image(data if data is not None else image.get("path"))
    if hasattr(image, "save"):
        return _png(image)
    raise TypeError(f"cannot send an image of type {type(image).__name__} to raas")
