"""``encode_image``: each way a trainer holds an image, as the string raas reads."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from trainer_client.images import encode_image

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_bytes(color: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), color).save(buffer, format="PNG")
    return buffer.getvalue()


def decoded(text: str) -> bytes:
    return base64.b64decode(text.split(",", 1)[1] if text.startswith("data:") else text)


@pytest.mark.parametrize(
    ("image", "prefix"),
    [
        (Image.new("RGB", (4, 4), "red"), "data:image/png;base64,"),  # PIL (slime, TRL)
        (Image.new("P", (4, 4)), "data:image/png;base64,"),  # a palette image, as RGB
        (png_bytes(), ""),  # bytes: bare base64, raas sniffs the format
        ({"bytes": png_bytes(), "path": None}, ""),  # 🤗 datasets' Image
    ],
)
def test_images_become_base64_of_an_image_file(image: Any, prefix: str) -> None:
    text = encode_image(image)
    assert text.startswith(prefix)
    assert decoded(text).startswith(PNG_MAGIC)


def test_a_local_file_is_sent_as_its_bytes(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    path.write_bytes(png_bytes())
    assert decoded(encode_image(str(path))) == png_bytes()
    assert decoded(encode_image({"bytes": None, "path": str(path)})) == png_bytes()


@pytest.mark.parametrize(
    "text",
    ["data:image/png;base64,AAAA", "iVBORw0KGgo=", "images/on/the/server.png", "x" * 10_000],
)
def test_other_strings_pass_unchanged(text: str) -> None:
    assert encode_image(text) == text  # a data URI, base64, or a path under RAAS_IMAGE_ROOT


def test_anything_else_is_refused() -> None:
    with pytest.raises(TypeError, match="int"):
        encode_image(3)
