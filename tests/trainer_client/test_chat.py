"""Chat messages as raas reads them: the prompt's text and the images as wire strings."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from PIL import Image

from devtools.tiny import png
from trainer_client.chat import content_text, data_uri, encode_image, message_images, prompt_text

PNG = png(0)
PNG_URI = "data:image/png;base64," + base64.b64encode(PNG).decode()


def pixels(uri: str) -> bytes:
    data = base64.b64decode(uri.split(",", 1)[1])
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB").tobytes()


@pytest.mark.parametrize(
    ("content", "text"),
    [
        ("plain", "plain"),
        ([{"type": "image", "image": "x.png"}, {"type": "text", "text": "What is it?"}],
         "What is it?"),
        ([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}], "ab"),
        ({"type": "text", "text": "one part"}, "one part"),
        (None, ""),
    ],
)  # fmt: skip
def test_content_text(content: Any, text: str) -> None:
    assert content_text(content) == text


@pytest.mark.parametrize(
    ("messages", "prompt"),
    [
        ([{"role": "system", "content": "Think first."}, {"role": "user", "content": "2+2?"}],
         "2+2?"),  # the trainer's instructions are not the question
        ([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
          {"role": "user", "content": "c"}], "a\n\nc"),
        ([{"role": "user", "content": [{"type": "image", "image": "x.png"}]}], None),
        ([{"role": "system", "content": "only instructions"}], None),
        ("a bare prompt", "a bare prompt"),
        ("", None),
        (None, None),
    ],
)  # fmt: skip
def test_prompt_text(messages: Any, prompt: str | None) -> None:
    assert prompt_text(messages) == prompt


def test_images_in_order_whatever_their_form() -> None:
    pil = Image.open(io.BytesIO(PNG)).convert("RGB")
    messages = [
        {"role": "system", "content": "Look closely."},
        {"role": "user", "content": [
            {"type": "image", "bytes": PNG, "image": pil},  # verl's parquet rows: the bytes win
            {"type": "text", "text": "and"},
            {"type": "image", "image": pil},  # a PIL image alone: PNG
            {"type": "image_url", "image_url": {"url": PNG_URI}},  # OpenAI style
            {"type": "image", "path": "cats/1.png"},  # for the model's image_root
        ]},
    ]  # fmt: skip
    images = message_images(messages)
    assert images[0] == PNG_URI
    assert pixels(images[1]) == pil.tobytes()
    assert images[2:] == [PNG_URI, "cats/1.png"]
    assert message_images("text only") == []
    assert message_images([{"role": "user", "content": "no parts"}]) == []


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        (PNG, PNG_URI),
        (bytearray(PNG), PNG_URI),
        ("data:image/jpeg;base64,AAAA", "data:image/jpeg;base64,AAAA"),  # strings as given
        ({"bytes": PNG, "path": "ignored.png"}, PNG_URI),
        ({"bytes": None, "path": "x/y.png"}, "x/y.png"),
        (b"\xff\xd8\xff\xe0", "data:image/jpeg;base64,/9j/4A=="),
        (b"not an image", "data:application/octet-stream;base64,bm90IGFuIGltYWdl"),
    ],
)
def test_encode_image(image: Any, expected: str) -> None:
    assert encode_image(image) == expected


def test_a_mode_png_cannot_hold_is_converted() -> None:
    cmyk = Image.new("CMYK", (4, 4), (0, 255, 0, 0))
    assert pixels(encode_image(cmyk)) == cmyk.convert("RGB").tobytes()


@pytest.mark.parametrize("image", [{"size": 3}, 42, [PNG]])
def test_what_is_no_image_is_refused(image: Any) -> None:
    with pytest.raises(TypeError):
        encode_image(image)


def test_data_uri_reads_the_signature() -> None:
    assert data_uri(b"GIF89a...").startswith("data:image/gif;base64,")
    assert data_uri(b"RIFF\0\0\0\0WEBPVP8 ").startswith("data:image/webp;base64,")
