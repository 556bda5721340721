"""Vision-language policies: a row's images rendered through the model's processor.

A policy is vision-language when its config has a ``vision_config`` (Qwen2-VL, Qwen2.5-VL, Llava,
Gemma 3, …): it is loaded with ``AutoModelForImageTextToText`` and ``AutoProcessor``; any other
model keeps ``AutoModelForCausalLM`` and its tokenizer, exactly as before.

A row's ``images`` (a list, in the order of the prompt's image slots) may hold, per image:

- a path to a file on this machine;
- a ``data:image/…;base64,…`` URI, or bare base64 of the image file's bytes;
- ``{"bytes": …, "path": …}`` (Parquet/``datasets`` rows, Orsta's included).

A URL is refused: the trainer does not fetch from the network (a slow or hostile host would stall
every step); download the images and point the rows at the files. Each image is bounded as raas
bounds it (``trainer_client.images``: 20 MiB encoded, 4096² pixels). raas receives the same
bytes as a data URI (:mod:`.spec` encodes a row's images), so the reward side reads what the
policy saw even when the row named a local path raas cannot open; and, with each detection
sample, the image's size as the model saw it (:func:`seen_size`).

Where the images go in the prompt: a chat message's ``{"type": "image"}`` parts, else each
``<image>`` in a message's text (verl's and Orsta's rows), else — none marked — all of them
before the text of the first user message (Qwen2.5-VL's own examples).
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from trainer_client.grpo.spec import processed_size
from trainer_client.images import MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS, encode_image

ImageInputs = dict[str, torch.Tensor]  # a processor's image tensors for one prompt (CPU)

_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.I)
_MARKER = "<image>"


class ImageInputError(ValueError):
    """A row's image the policy cannot take: a URL, a missing file, not an image, too large."""


def is_vision_model(config: Any) -> bool:
    """A config with a vision tower: loaded as an image-text-to-text model with its processor."""
    return getattr(config, "vision_config", None) is not None


def placeholder_ids(config: Any) -> frozenset[int]:
    """The token ids a vision-language model replaces by image/video features. In a completion
    they are spurious (V-Triune): the forward would find more placeholders than features."""
    names = ("image_token_id", "image_token_index", "video_token_id")
    values = (getattr(config, name, None) for name in names)
    return frozenset(int(v) for v in values if isinstance(v, int) and v >= 0)


def _image_bytes(image: Any) -> bytes:
    """The bytes of one row image (see the module docstring), bounded; URLs refused."""
    if isinstance(image, str) and _URL.match(image) and not image.startswith("data:"):
        raise ImageInputError(
            f"image URLs are not fetched ({image[:80]!r}): download the image and give its path"
        )
    if isinstance(image, Mapping) and isinstance(image.get("bytes"), bytes | bytearray):
        image = bytes(image["bytes"])
    elif isinstance(image, Mapping) and isinstance(image.get("path"), str):
        image = image["path"]
    try:
        encoded = encode_image(image)
    except ValueError as exc:
        raise ImageInputError(str(exc)) from None
    payload = encoded.partition(",")[2] if encoded.startswith("data:") else encoded
    if len(payload) * 3 // 4 > MAX_IMAGE_BYTES:
        raise ImageInputError(f"image over {MAX_IMAGE_BYTES} bytes")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        shown = str(image)[:80]
        raise ImageInputError(f"image {shown!r} is no file here, no data URI, no base64") from None


def load_image(image: Any) -> Image.Image:
    """One row image as RGB pixels, or :class:`ImageInputError` saying why not."""
    data = _image_bytes(image)
    try:
        with Image.open(io.BytesIO(data)) as opened:
            if opened.width * opened.height > MAX_IMAGE_PIXELS:
                raise ImageInputError(
                    f"image of {opened.width}×{opened.height} pixels; at most {MAX_IMAGE_PIXELS}"
                )
            return opened.convert("RGB")
    except (OSError, Image.DecompressionBombError) as exc:
        raise ImageInputError(f"not an image: {exc}") from None


def row_images(row: Mapping[str, Any]) -> list[Any]:
    images = row.get("images")
    if images is None:
        return []
    if isinstance(images, str | bytes | Mapping):
        return [images]
    return list(images)


def _parts(text: str) -> list[dict[str, str]]:
    """A message text with ``<image>`` markers → typed content parts."""
    parts: list[dict[str, str]] = []
    for index, piece in enumerate(text.split(_MARKER)):
        if index:
            parts.append({"type": "image"})
        if piece:
            parts.append({"type": "text", "text": piece})
    return parts


def chat_messages(prompt: str | list[dict[str, Any]], images: int) -> list[dict[str, Any]]:
    """The prompt as chat messages whose content parts hold one image slot per image."""
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
    out = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            content = _parts(content)
        out.append({**message, "content": list(content or [])})
    slots = sum(part.get("type") == "image" for m in out for part in m["content"])
    if slots == 0 and images:
        first = next((m for m in out if m.get("role") == "user"), out[0])
        first["content"] = [{"type": "image"}] * images + first["content"]
    elif slots != images:
        raise ImageInputError(f"the prompt has {slots} image slots for {images} images")
    return out


@dataclass(frozen=True, slots=True)
class Prompt:
    """A prompt as the policy reads it; text rows fill ``ids`` (and ``text``) only."""

    ids: list[int]  # its tokens, each image's placeholder expanded to its feature count
    images: ImageInputs | None = None  # pixel values etc. (CPU); None without images
    text: str = ""  # the chat-templated prompt, one placeholder per image: what raas reads
    pixels: tuple[Image.Image, ...] = ()  # the decoded images, in the order of their slots
    engine_ids: list[int] | None = None  # one placeholder per image: what vLLM expands itself
    image_size: list[int] | None = None  # [W, H] of the first image as the model saw it


def render(row: Mapping[str, Any], processor: Any) -> Prompt:
    """A row with images through the processor: chat template, then tokens and pixel values."""
    images = [load_image(i) for i in row_images(row)]
    messages = chat_messages(row["prompt"], len(images))
    text = str(processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
    encoded = processor(
        text=[text], images=images or None, return_tensors="pt", add_special_tokens=False
    )
    ids: list[int] = encoded["input_ids"][0].tolist()
    extra = {k: v for k, v in encoded.items() if k not in ("input_ids", "attention_mask")}
    tensors = {k: v for k, v in extra.items() if isinstance(v, torch.Tensor)}
    engine_ids = processor.tokenizer(text, add_special_tokens=False)["input_ids"]
    size = seen_size(tensors, processor, images[0]) if images else None
    return Prompt(ids, tensors or None, text, tuple(images), list(engine_ids), size)


def seen_size(tensors: ImageInputs, processor: Any, first: Image.Image) -> list[int]:
    """[W, H] in pixels of the first image as the model received it. A processor that resizes
    to a patch grid (Qwen2/2.5-VL, whose boxes are absolute pixels of that resized image) says
    so in ``image_grid_thw``: the grid times the patch size, as V-Triune's trainer sends it.
    Otherwise the image's own size (a fixed-size tower's model writes coordinates of the
    image it was shown, not of the tower's input)."""
    grid = tensors.get("image_grid_thw")
    patch = getattr(getattr(processor, "image_processor", None), "patch_size", None)
    if grid is None or not isinstance(patch, int):
        return [first.width, first.height]
    return processed_size(grid[0], patch)


def stack_images(inputs: list[ImageInputs | None], device: torch.device) -> ImageInputs:
    """Several prompts' image inputs as one forward takes them: each key concatenated along its
    first axis (Llava's images, Qwen2-VL's flattened patches and ``image_grid_thw`` rows alike),
    in the order of the prompts, which is the order of their placeholders in the batch."""
    present = [i for i in inputs if i]
    keys = sorted({key for item in present for key in item})
    return {key: torch.cat([item[key] for item in present]).to(device) for key in keys}
