"""Chat messages as raas reads them: the prompt's text and its images as wire strings.

Trainers keep a prompt as chat messages, ``[{"role": "user", "content": …}]``, whose content is a
string or a list of parts: ``{"type": "text", "text": …}`` and images, ``{"type": "image",
"image": …}`` (verl's ``raw_prompt``, HF ``datasets`` rows) or ``{"type": "image_url",
"image_url": {"url": …}}`` (OpenAI style). raas takes a sample's ``prompt`` as one string — its
reward models chat-format it themselves as the user turn — and its ``images`` as strings: a
``data:image/…;base64,…`` URI, bare base64, or a path under the model's ``image_root``.

An image may arrive as a PIL image, encoded bytes, a string (passed as given: a data URI, base64,
or a path the server can read), or a ``datasets``-style mapping ``{"bytes", "path"}`` — possibly
with the decoded PIL image beside the bytes, as verl's dataset builds it. Bytes are sent as they
are (no re-encoding, so raas sees the very file); a PIL image without bytes is encoded as PNG
(lossless). Nothing here imports PIL: an image is recognised by its ``save`` method.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable, Mapping
from typing import Any

PROMPT_ROLES = frozenset({"user"})
_IMAGE_PARTS = frozenset({"image", "image_url"})
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"), (b"GIF89a", "image/gif"), (b"BM", "image/bmp"),
)  # fmt: skip


def content_text(content: Any) -> str:
    """A message's content as text: a string as is, the text parts of a part list joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, Mapping):
        return str(content.get("text") or "")
    if isinstance(content, Iterable):
        return "".join(content_text(part) for part in content if isinstance(part, Mapping))
    return ""


def prompt_text(messages: Any, roles: frozenset[str] = PROMPT_ROLES) -> str | None:
    """The text of the ``roles`` messages (the user's, by default) joined by blank lines;
    ``None`` when there is none. A plain string is the prompt itself. System prompts are left
    out: they are the trainer's instructions, not what the reward model should judge against."""
    if messages is None:
        return None
    if isinstance(messages, str):
        return messages or None
    texts = [
        content_text(message.get("content"))
        for message in messages
        if isinstance(message, Mapping) and message.get("role") in roles
    ]
    text = "\n\n".join(text for text in texts if text)
    return text or None


def message_images(messages: Any) -> list[str]:
    """Every image part of ``messages``, in order, as a raas image string."""
    if messages is None or isinstance(messages, str):
        return []
    images: list[str] = []
    for message in messages:
        content = message.get("content") if isinstance(message, Mapping) else None
        if isinstance(content, str) or not isinstance(content, Iterable):
            continue
        for part in content:
            if isinstance(part, Mapping) and part.get("type") in _IMAGE_PARTS:
                images.append(encode_image(_image_of(part)))
    return images


def _image_of(part: Mapping[str, Any]) -> Any:
    if part.get("type") == "image_url":
        url = part.get("image_url")
        return url.get("url") if isinstance(url, Mapping) else url
    # verl: {"type": "image", "image": PIL} or {"type": "image", "bytes": …, "image": PIL}
    return {key: value for key, value in part.items() if key != "type"}


def encode_image(image: Any) -> str:
    """``image`` as raas reads it (see the module docstring); ``TypeError`` for anything else."""
    if isinstance(image, str):
        return image
    if isinstance(image, bytes | bytearray | memoryview):
        return data_uri(bytes(image))
    if isinstance(image, Mapping):
        for key in ("bytes", "image", "path", "url"):
            if image.get(key) is not None:
                return encode_image(image[key])
        raise TypeError(f"an image mapping needs bytes, image, path or url; got {sorted(image)}")
    if callable(getattr(image, "save", None)):
        return data_uri(_png(image))
    raise TypeError(f"cannot send an image of type {type(image).__name__} to raas")


def _png(image: Any) -> bytes:
    buffer = io.BytesIO()
    try:
        image.save(buffer, format="PNG")
    except OSError:  # a mode PNG cannot hold (CMYK, …)
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def data_uri(data: bytes) -> str:
    """A base64 data URI, its media type read from the file's signature."""
    mime = next((kind for sig, kind in _SIGNATURES if data.startswith(sig)), None)
    if mime is None:  # raas reads the bytes, not this label, and refuses what is no image
        webp = data[:4] == b"RIFF" and data[8:12] == b"WEBP"
        mime = "image/webp" if webp else "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
