"""Images as the trainer holds them → the strings raas takes (``trainer_client.images``), each
read back by raas's own image loader (``reward_service.models.images``) to the same pixels."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from reward_service.contract.errors import InvalidInputError
from reward_service.models.config import ModelSpec
from reward_service.models.images import load_image
from trainer_client.images import (
    MAX_IMAGE_BYTES,
    MAX_IMAGE_PIXELS,
    ImageEncoder,
    ImageEncodingError,
    encode_image,
)

SPEC = ModelSpec(name="vis", path="unused", kind="bt_vision")


def photo(size: tuple[int, int] = (320, 240), seed: int = 0) -> Image.Image:
    """Noise with some structure: a gradient under random pixels (tens of kB as PNG)."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 200, size[0], dtype=np.float32)[None, :, None]
    pixels = np.clip(ramp + rng.integers(0, 55, (size[1], size[0], 3)), 0, 255)
    return Image.fromarray(pixels.astype(np.uint8))


def encoded(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def rgb(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


def test_limits_are_raas_defaults() -> None:
    assert SPEC.max_image_bytes == MAX_IMAGE_BYTES
    assert SPEC.max_image_pixels == MAX_IMAGE_PIXELS


PNG_OF = photo()
JPEG = encoded(photo(seed=1), "JPEG", quality=90)
TIFF = encoded(photo(seed=2), "TIFF")
# (what the trainer holds, as a function of a temporary directory) → the MIME type sent and
# the pixels raas must decode from it
CASES: list[tuple[str, Callable[[Path], Any], str, Callable[[], Image.Image]]] = [
    ("PIL RGB (TRL's images)", lambda _: PNG_OF, "image/png", lambda: PNG_OF),
    ("PIL RGBA", lambda _: PNG_OF.convert("RGBA"), "image/png", lambda: PNG_OF),
    ("PIL palette", lambda _: PNG_OF.quantize(16), "image/png", lambda: PNG_OF.quantize(16)),
    ("PIL CMYK", lambda _: PNG_OF.convert("CMYK"), "image/png", lambda: PNG_OF.convert("CMYK")),
    ("PIL grey", lambda _: PNG_OF.convert("L"), "image/png", lambda: PNG_OF.convert("L")),
    ("JPEG bytes, unchanged", lambda _: JPEG, "image/jpeg", lambda: Image.open(io.BytesIO(JPEG))),
    ("TIFF bytes, made PNG", lambda _: TIFF, "image/png", lambda: Image.open(io.BytesIO(TIFF))),
    ("bytearray", lambda _: bytearray(JPEG), "image/jpeg", lambda: Image.open(io.BytesIO(JPEG))),
    (
        "a JPEG file",
        lambda d: str(written(d / "a.jpg", JPEG)),
        "image/jpeg",
        lambda: Image.open(io.BytesIO(JPEG)),
    ),
    (
        "a pathlib path",
        lambda d: written(d / "a.tif", TIFF),
        "image/png",
        lambda: Image.open(io.BytesIO(TIFF)),
    ),
    (
        "datasets Image(decode=False)",
        lambda _: {"bytes": JPEG, "path": "x.jpg"},
        "image/jpeg",
        lambda: Image.open(io.BytesIO(JPEG)),
    ),
    (
        "datasets, path only",
        lambda d: {"bytes": None, "path": str(written(d / "b.jpg", JPEG))},
        "image/jpeg",
        lambda: Image.open(io.BytesIO(JPEG)),
    ),
]


def written(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("held", "mime", "pixels"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_raas_reads_back_the_same_pixels(
    held: Callable[[Path], Any], mime: str, pixels: Callable[[], Image.Image], tmp_path: Path
) -> None:
    uri = encode_image(held(tmp_path))
    assert uri.startswith(f"data:{mime};base64,")
    assert np.array_equal(rgb(load_image(uri, SPEC)), rgb(pixels()))


@pytest.mark.parametrize(
    "ref",
    ["data:image/png;base64," + base64.b64encode(encoded(PNG_OF, "PNG")).decode(), "cats/0001.jpg"],
)
def test_strings_that_are_not_local_files_go_as_they_are(ref: str) -> None:
    assert encode_image(ref) == ref  # a data URI, or a path under the model's image_root


@pytest.mark.parametrize(
    ("held", "limits", "reason"),
    [
        (lambda _: PNG_OF, {"max_bytes": 10_000}, "bytes; raas takes at most 10000"),
        (lambda _: JPEG, {"max_bytes": len(JPEG) - 1}, f"image of {len(JPEG)} bytes"),
        (lambda d: str(written(d / "big.jpg", JPEG)), {"max_bytes": 100}, "image file of"),
        (
            lambda _: "data:image/jpeg;base64," + base64.b64encode(JPEG).decode(),
            {"max_bytes": 1000},
            "data URI image over 1000 bytes",
        ),
        (lambda _: PNG_OF, {"max_pixels": 320 * 240 - 1}, "320×240 pixels"),
        (lambda _: b"%PDF-1.7 not an image", {}, "bytes are not an image"),
        (lambda d: str(written(d / "notes.txt", b"secret notes")), {}, "bytes are not an image"),
        (lambda _: {"bytes": None, "path": None}, {}, "neither bytes nor a path"),
        (lambda _: 42, {}, "cannot send a int as an image"),
        (lambda _: np.zeros((4, 4, 3)), {}, "cannot send a ndarray"),
    ],
)
def test_what_raas_cannot_take_is_refused_here(
    held: Callable[[Path], Any], limits: dict[str, int], reason: str, tmp_path: Path
) -> None:
    with pytest.raises(ImageEncodingError, match=reason):
        encode_image(held(tmp_path), **limits)


def test_a_refused_png_is_what_raas_would_refuse() -> None:
    """At raas's own limit the two sides agree: one byte more and both refuse it."""
    data = encoded(PNG_OF, "PNG")
    tight = SPEC.model_copy(update={"max_image_bytes": len(data) - 1})
    with pytest.raises(InvalidInputError):
        load_image(encode_image(data), tight)
    with pytest.raises(ImageEncodingError):
        encode_image(data, max_bytes=len(data) - 1)


def test_encoder_encodes_each_distinct_image_once() -> None:
    encode = ImageEncoder()
    copies = [photo(seed=3) for _ in range(4)]  # a prompt's image, repeated per generation
    other = photo(seed=4)
    uris = [encode(image) for image in [*copies, other]]
    assert len(set(uris)) == 2
    assert len(encode._encoded) == 2
    palette = PNG_OF.quantize(8)
    repainted = palette.copy()
    repainted.putpalette([255 - v for v in palette.getpalette() or []])
    assert encode(palette) != encode(repainted)  # the same indices, other colours
