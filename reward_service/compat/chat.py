"""Chat messages as other trainers send them (OpenAI chat or Responses API), read for raas."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Message = Mapping[str, Any]


def chat_text(prompt: str | Sequence[Any] | None) -> str | None:
    """A prompt as text: messages as their contents' text parts joined, images and items
    without content (tool calls) left out."""
    if prompt is None or isinstance(prompt, str):
        return prompt
    return "".join(
        content_text(message.get("content")) for message in prompt if isinstance(message, Mapping)
    )


def content_text(content: Any) -> str:
    """A message's content as text: a string as is, a parts list as its ``text`` parts joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return "".join(
            part["text"]
            for part in content
            if isinstance(part, Mapping) and isinstance(part.get("text"), str)
        )
    return ""


def input_images(prompt: Any) -> list[str]:
    """The ``input_image`` parts' ``image_url`` strings of Responses-API input messages, in order
    (a data URI, base64, or a path under the server's image root; raas reads no remote URL)."""
    if not isinstance(prompt, Sequence) or isinstance(prompt, str):
        return []
    return [
        part["image_url"]
        for message in prompt
        if isinstance(message, Mapping) and isinstance(message.get("content"), list)
        for part in message["content"]
        if isinstance(part, Mapping)
        and part.get("type") == "input_image"
        and isinstance(part.get("image_url"), str)
    ]
