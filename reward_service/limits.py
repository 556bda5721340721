"""Size limits every role applies to what it is sent (a worker trusts no router's checks)."""

from __future__ import annotations

from reward_service.contract import Outcome
from reward_service.settings import Settings


def prompt_too_long(prompt: str, settings: Settings) -> Outcome | None:
    """Model verifiers tokenise the prompt: past ``RAAS_MAX_PROMPT_CHARS`` it is not read."""
    if len(prompt) > (limit := settings.max_prompt_chars):
        return Outcome("invalid_input", error=f"prompt longer than {limit} characters")
    return None
