"""Size limits every role applies to what it is sent (a worker trusts no router's checks)."""

from __future__ import annotations

from reward_service.contract import Outcome
from reward_service.settings import Settings


def too_big(
    response: str, ground_truth: str, prompt: str | None, reads_prompt: bool, settings: Settings
) -> Outcome | None:
    """``invalid_input`` for a task past a size limit, else ``None``: the response, the ground
    truth's canonical JSON, and the prompt where the verifier reads it (model verifiers tokenise
    it: past ``RAAS_MAX_PROMPT_CHARS`` it is not read). The router and every worker apply it."""
    if len(response) > (limit := settings.max_response_chars):
        return Outcome("invalid_input", error=f"response longer than {limit} characters")
    if len(ground_truth) > (limit := settings.max_ground_truth_chars):
        return Outcome("invalid_input", error=f"ground_truth longer than {limit} characters")
    if reads_prompt and prompt is not None and len(prompt) > (limit := settings.max_prompt_chars):
        return Outcome("invalid_input", error=f"prompt longer than {limit} characters")
    return None
