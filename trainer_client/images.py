"""Images as raas takes them: ``data:image/…;base64,…`` strings, each at most ``max_bytes``.

A trainer holds images in several forms; :func:`encode_image` turns each into the one string
raas reads (``reward_service.models.images``), or raises :class:`ImageEncodingError` saying why
not, so the caller can leave that one sample unscored instead of failing the batch:

=========================================  ================================================
what the trainer holds                     what raas receives
=========================================  ================================================
a PIL image (TRL's ``image``/``images``)   its pixels re-encoded as PNG (lossless: the
                                           reward model sees what the policy saw)
``bytes`` in PNG, JPEG, GIF, WebP or BMP   those bytes, unchanged
other image ``bytes`` (TIFF, …)            re-encoded as PNG (needs Pillow)
``{"bytes": …, "path": …}``                its bytes, else its path (``datasets``'
                                           ``Image(decode=False)``)
a path to a file on this machine           the file's bytes, as above (read only when the
                                           file fits ``max_bytes``)
a ``data:`` URI                            unchanged
any other string                           unchanged: a path under the reward model's
                                           ``image_root`` on the raas side
=========================================  ================================================

``max_bytes`` bounds the decoded bytes of each image and ``max_pixels`` the pixels of a PIL
image before it is encoded (encoding a huge image raas would refuse only wastes the trainer's
time); their defaults are raas's default limits (``ModelSpec.max_image_bytes``, 20 MiB, and
``max_image_pixels``, 4096²). Pillow is imported only when an image needs it, so
``raas-client`` itself does not depend on it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import sys
from collections.abc import Mapping
from typing import Any

MAX_IMAGE_BYTES = 20 * 1024 * 1024  # raas's default ModelSpec.max_image_bytes
MAX_IMAGE_PIXELS = 4096 * 4096  # and max_image_pixels
# the formats raas opens by default (ModelSpec.image_formats), by their leading bytes
_MIME_BY_SIGNATURE = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
)
# PIL modes PNG stores as they are; any other (CMYK, YCbCr, F, …) is converted to RGB first
_PNG_MODES = frozenset({"1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"})


class ImageEncodingError(ValueError):
    """An image raas could not take: too large, not an image, an unreadable file."""


def _mime(data: bytes) -> str | None:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return next((mime for sign, mime in _MIME_BY_SIGNATURE if data.startswith(sign)), None)


def _data_uri(data: bytes, mime: str, max_bytes: int) -> str:
    if len(data) > max_bytes:
        raise ImageEncodingError(f"image of {len(data)} bytes; raas takes at most {max_bytes}")
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _is_pil(image: Any) -> bool:
    """A PIL image, told without importing Pillow: if it is not loaded, this is not one."""
    pil = sys.modules.get("PIL.Image")
    return pil is not None and isinstance(image, pil.Image)


def _png(image: Any, max_pixels: int) -> bytes:
    """A PIL image as PNG bytes (modes PNG cannot store become RGB, as raas decodes them)."""
    if image.width * image.height > max_pixels:
        raise ImageEncodingError(
            f"image of {image.width}×{image.height} pixels; raas takes at most {max_pixels}"
        )
    if image.mode not in _PNG_MODES:
        image = image.convert("RGB")
    buffer = io.BytesIO()
    try:
        image.save(buffer, format="PNG")
    except (OSError, ValueError) as exc:
        raise ImageEncodingError(f"image cannot be encoded as PNG: {exc}") from None
    return buffer.getvalue()


def _from_bytes(data: bytes, max_bytes: int, max_pixels: int) -> str:
    mime = _mime(data)
    if mime is not None:
        return _data_uri(data, mime, max_bytes)
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise ImageEncodingError(
            "image bytes are not PNG, JPEG, GIF, WebP or BMP, and Pillow is not installed to "
            "convert them"
        ) from None
    try:
        with Image.open(io.BytesIO(data)) as opened:
            return _data_uri(_png(opened, max_pixels), "image/png", max_bytes)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageEncodingError(f"bytes are not an image: {exc}") from None


def _from_path(path: str, max_bytes: int, max_pixels: int) -> str:
    try:
        size = os.path.getsize(path)
        if size > max_bytes:
            raise ImageEncodingError(f"image file of {size} bytes; raas takes at most {max_bytes}")
        with open(path, "rb") as file:
            data = file.read(max_bytes + 1)
    except OSError as exc:
        raise ImageEncodingError(f"image file cannot be read: {exc}") from None
    return _from_bytes(data, max_bytes, max_pixels)


def encode_image(
    image: Any, max_bytes: int = MAX_IMAGE_BYTES, max_pixels: int = MAX_IMAGE_PIXELS
) -> str:
    """``image`` as raas takes it (see the module docstring), or :class:`ImageEncodingError`."""
    if isinstance(image, str):
        if image.startswith("data:"):
            if len(image.partition(",")[2]) * 3 // 4 > max_bytes:  # base64: 4 characters, 3 bytes
                raise ImageEncodingError(f"data URI image over {max_bytes} bytes")
            return image
        return _from_path(image, max_bytes, max_pixels) if os.path.isfile(image) else image
    if isinstance(image, bytes | bytearray | memoryview):
        return _from_bytes(bytes(image), max_bytes, max_pixels)
    if isinstance(image, os.PathLike):
        return _from_path(os.fspath(image), max_bytes, max_pixels)
    if isinstance(image, Mapping) and ("bytes" in image or "path" in image):
        source = image.get("bytes") or image.get("path")
        if source is None:
            raise ImageEncodingError("image dict has neither bytes nor a path")
        return encode_image(source, max_bytes, max_pixels)
    if _is_pil(image):
        return _data_uri(_png(image, max_pixels), "image/png", max_bytes)
    raise ImageEncodingError(f"cannot send a {type(image).__name__} as an image")


class ImageEncoder:
    """:func:`encode_image` for one reward call, encoding each distinct PIL image once: a GRPO
    batch repeats every prompt's images for each of its generations, as separate objects."""

    def __init__(
        self, max_bytes: int = MAX_IMAGE_BYTES, max_pixels: int = MAX_IMAGE_PIXELS
    ) -> None:
        self.max_bytes, self.max_pixels = max_bytes, max_pixels
        self._encoded: dict[tuple[Any, ...], str] = {}

    def __call__(self, image: Any) -> str:
        if not _is_pil(image) or image.width * image.height > self.max_pixels:
            return encode_image(image, self.max_bytes, self.max_pixels)
        digest = hashlib.blake2b(image.tobytes(), digest_size=16)
        digest.update(bytes(image.getpalette() or ()))  # "P": the same indices, other colours
        key = (image.mode, image.size, digest.digest())
        if key not in self._encoded:
            self._encoded[key] = encode_image(image, self.max_bytes, self.max_pixels)
        return self._encoded[key]
