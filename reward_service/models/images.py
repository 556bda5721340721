"""Images for image+text reward models: base64 or a path under ``image_root``, bounded in size.

An image string is, in this order: a ``data:image/…;base64,…`` URI; bare base64 whose bytes start
like an image file (PNG, JPEG, GIF, WebP, BMP); otherwise a path relative to the model's
``image_root``. A path is resolved (symlinks included) and must stay inside the root, so
``../../etc/passwd`` or a link pointing out is ``invalid_input``, never read. Encoded size and
pixel count are checked before the pixels are decoded, and only the model's ``image_formats``
(PNG, JPEG, WebP, GIF, BMP by default) are handed to a decoder.
"""

from __future__ import annotations

import base64
import binascii
import io
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from reward_service.contract.errors import InvalidInputError
from reward_service.models.config import ModelSpec

_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM")


def _is_image_bytes(data: bytes) -> bool:
    return data.startswith(_SIGNATURES) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")


def _b64decode(payload: str, spec: ModelSpec) -> bytes:
    if len(payload) * 3 // 4 > spec.max_image_bytes:
        raise InvalidInputError(f"image larger than {spec.max_image_bytes} bytes")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInputError(f"image is not valid base64: {exc}") from None


def _inline(ref: str, spec: ModelSpec) -> bytes | None:
    """The bytes of an inline image, or None when ``ref`` is not one (then it is a path)."""
    if ref.startswith("data:"):
        header, comma, payload = ref.partition(",")
        if not comma or not header.endswith(";base64"):
            raise InvalidInputError("a data URI image must be base64: data:image/png;base64,…")
        return _b64decode(payload, spec)
    try:
        data = _b64decode(ref, spec)
    except InvalidInputError:
        return None
    return data if _is_image_bytes(data) else None


def _read_path(ref: str, spec: ModelSpec) -> bytes:
    if spec.image_root is None:
        raise InvalidInputError(
            f"image is neither a data URI nor base64 image bytes, and model {spec.name!r} has "
            "no image_root to read paths from"
        )
    try:
        root = Path(spec.image_root).resolve()
        target = (root / ref).resolve()
        if not target.is_relative_to(root):
            raise InvalidInputError("image path escapes the model's image_root")
        if not target.is_file():
            raise InvalidInputError(f"no image file {ref[:200]!r} under image_root")
        if target.stat().st_size > spec.max_image_bytes:
            raise InvalidInputError(f"image larger than {spec.max_image_bytes} bytes")
        return target.read_bytes()
    except InvalidInputError:
        raise
    except (OSError, ValueError) as exc:  # a name too long, a NUL byte, a vanished file
        raise InvalidInputError(f"image path cannot be read: {exc}") from None


def _decode(data: bytes, spec: ModelSpec) -> Image.Image:
    try:
        with Image.open(io.BytesIO(data), formats=spec.image_formats) as image:
            if image.width * image.height > spec.max_image_pixels:
                raise InvalidInputError(
                    f"image of {image.width}×{image.height} pixels; at most "
                    f"{spec.max_image_pixels} pixels"
                )
            return image.convert("RGB")
    except InvalidInputError:
        raise
    except UnidentifiedImageError:
        accepted = ", ".join(spec.image_formats)
        raise InvalidInputError(f"image cannot be decoded as one of {accepted}") from None
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise InvalidInputError(f"image cannot be decoded: {exc}") from None


def load_image(ref: str, spec: ModelSpec) -> Image.Image:
    """The RGB image ``ref`` names, or ``InvalidInputError`` saying why not."""
    data = _inline(ref, spec)
    return _decode(data if data is not None else _read_path(ref, spec), spec)


def load_images(refs: tuple[str, ...], spec: ModelSpec) -> list[Image.Image]:
    if len(refs) > spec.max_images:
        raise InvalidInputError(f"{len(refs)} images; model {spec.name!r} takes {spec.max_images}")
    return [load_image(ref, spec) for ref in refs]
