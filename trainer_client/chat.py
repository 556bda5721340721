"""Chat messages as raas reads them: the text the policy wrote, its thinking where raas looks
for it, and nothing a tool wrote; a prompt's user text and images.

A trainer that parses its model's output (TRL's ``parse_response`` with a response template, as
it does for tool calling) hands over messages, not text: an assistant turn's thinking is moved out
of ``content`` into ``reasoning_content`` (Qwen3, Qwen3.5, GLM-4.5, DeepSeek-R1, Gemma 4,
Nemotron 3) or ``thinking`` (gpt-oss, LFM2.5), its tool calls into ``tool_calls``, and each tool
result is a message of its own (``{"role": "tool", "name", "content"}``). raas scores a response
string, so :func:`response_text` puts them back in the layout raas's checkers read:

====================================  =====================================================
message                               in the response
====================================  =====================================================
assistant, ``content`` only           ``content`` (text parts of a list, joined)
assistant with thinking               ``"<think>\\n" + thinking + "\\n</think>\\n" + content``
                                      (thinking stripped of surrounding whitespace), the
                                      layout of ``think_answer`` and of the answer parsers
                                      (``final_answer``: after the last ``</think>``)
… with no content and no tool call    ``"<think>\\n" + thinking``: left open, because TRL's
                                      parsers also fill ``reasoning_content`` from a think
                                      the length budget cut short, and a closing tag the
                                      model may never have written must earn no format
assistant ``tool_calls``              left out: a call is an action, and its arguments
                                      (numbers, boxes) must not be read as an answer
``tool`` (and ``user``/``system``)    left out: not written by the policy
several assistant turns               each as above, joined by ``"\\n"``, in order
====================================  =====================================================

So a multi-turn (tool-using) response holds one think block per turn: ``think_answer``, which
pays for each tag that occurs exactly once, then gives those tags nothing; the answer parsers
see every turn's content (``final_answer``: the first ``<answer>`` block, else what follows the
last ``</think>``, the last turn's content), and the reflection ratio and response length cover
every turn's thinking.
A plain string (a trainer without a response template) is the response as it is.

A prompt is read the same way for every trainer (TRL's conversational rows, verl's
``raw_prompt``, slime's chat prompts): :func:`prompt_text` is its user messages' text,
:func:`prompt_images` its image parts as the trainer holds them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

THINKING_KEYS = ("reasoning_content", "thinking")  # the names TRL's response templates use
PROMPT_ROLES = frozenset({"user"})


def content_text(content: Any) -> str:
    """A message's ``content``: a string as is, the text parts of a list joined."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return "".join(
            str(part.get("text") or "")
            for part in content
            if isinstance(part, Mapping) and part.get("type", "text") == "text"
        )
    raise TypeError(f"message content must be a string or a list of parts, not {content!r:.80}")


def _thinking(message: Mapping[str, Any]) -> str:
    for key in THINKING_KEYS:
        value = message.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def turn_text(message: Mapping[str, Any]) -> str:
    """One assistant message as raas reads it: its thinking in ``<think>`` tags, then content
    (a think with nothing after it may have been cut short: it stays open)."""
    thinking, content = _thinking(message), content_text(message.get("content"))
    if not thinking:
        return content
    if not content and not message.get("tool_calls"):
        return f"<think>\n{thinking}"
    return f"<think>\n{thinking}\n</think>\n{content}"


def _messages(value: Any, what: str) -> list[Mapping[str, Any]]:
    messages = [value] if isinstance(value, Mapping) else value
    if not isinstance(messages, Sequence) or not all(isinstance(m, Mapping) for m in messages):
        raise TypeError(f"{what} must be a string or a list of messages, not {value!r:.80}")
    return list(messages)


def response_text(completion: Any) -> str:
    """A completion (a string, a message, or a list of messages) as raas's ``response``."""
    if isinstance(completion, str):
        return completion
    turns = [
        turn_text(message)
        for message in _messages(completion, "a completion")
        if message.get("role", "assistant") == "assistant"
    ]
    return "\n".join(turn for turn in turns if turn)


def prompt_text(prompt: Any, roles: frozenset[str] = PROMPT_ROLES) -> str | None:
    """A prompt (a string or messages) as raas's ``prompt``: the text of its user messages,
    joined by blank lines; ``None`` when there is none. raas's reward models chat-format the
    prompt as the user turn, so a system prompt (the trainer's instructions to the policy) is
    left out, and so are image parts (they travel as the sample's ``images``)."""
    if prompt is None or isinstance(prompt, str):
        return prompt or None
    texts = [
        content_text(message.get("content"))
        for message in _messages(prompt, "a prompt")
        if message.get("role") in roles
    ]
    return "\n\n".join(text for text in texts if text) or None


def _image_of(part: Any) -> Any:
    """The image an image part holds, or ``None``: ``{"type": "image", "image": …}`` (TRL,
    🤗 datasets; verl adds the file's ``bytes`` beside the decoded image, and those are sent, so
    raas sees the very file) or ``{"type": "image_url", "image_url": {"url": …}}`` (OpenAI)."""
    if not isinstance(part, Mapping):
        return None
    if part.get("type") == "image":
        return next((part[k] for k in ("bytes", "image", "path") if part.get(k) is not None), None)
    if part.get("type") == "image_url":
        url = part.get("image_url")
        return url.get("url") if isinstance(url, Mapping) else url
    return None


def prompt_images(prompt: Any) -> list[Any]:
    """The images in a prompt's messages, in order, as the trainer holds them (encode them with
    :class:`trainer_client.images.ImageEncoder`)."""
    if prompt is None or isinstance(prompt, str):
        return []
    found = (
        _image_of(part)
        for message in _messages(prompt, "a prompt")
        if not isinstance(message.get("content"), str | None)
        for part in message["content"]
    )
    return [image for image in found if image is not None]
