from __future__ import annotations

import pytest
from pydantic import ValidationError

from reward_service.contract.schemas import RewardRequest, Sample, Weights


@pytest.mark.parametrize(
    "weights",
    [{"accuracy": 0, "format": 0}, {"accuracy": -1, "format": 2}, {"accuracy": float("nan")}],
)
def test_invalid_weights_are_rejected(weights: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        Weights.model_validate(weights)


def test_default_weights_ignore_format() -> None:
    sample = Sample(response="x", verifier="math")
    assert (sample.weights.accuracy, sample.weights.format) == (1.0, 0.0)


@pytest.mark.parametrize("response", [1, 1.5, None, ["a"], {"a": 1}, True])
def test_response_must_be_a_string(response: object) -> None:
    with pytest.raises(ValidationError) as info:
        RewardRequest.model_validate({"samples": [{"response": response, "verifier": "math"}]})
    assert info.value.errors()[0]["loc"] == ("samples", 0, "response")


def test_step_bounds() -> None:
    with pytest.raises(ValidationError):
        RewardRequest.model_validate({"samples": [], "step": -1})
    with pytest.raises(ValidationError):
        RewardRequest.model_validate({"samples": [], "total_steps": 0})


@pytest.mark.parametrize(
    ("truncated", "valid"),
    [(True, True), (False, True), (None, True), (1, False), ("true", False), (0.0, False)],
)
def test_truncated_is_a_strict_boolean(truncated: object, valid: bool) -> None:
    """A trainer's flag, never coerced: ``1`` or ``"true"`` is a 422, not a guess."""
    body = {"samples": [{"response": "x", "verifier": "math", "truncated": truncated}]}
    if valid:
        assert RewardRequest.model_validate(body).samples[0].truncated is truncated
        return
    with pytest.raises(ValidationError) as info:
        RewardRequest.model_validate(body)
    assert info.value.errors()[0]["loc"] == ("samples", 0, "truncated")


@pytest.mark.parametrize(("mode", "valid"), [("raas", True), ("vtriune", True), ("VTriune", False)])
def test_reflection_mode_is_named(mode: str, valid: bool) -> None:
    body = {"samples": [], "reflection": mode}
    if valid:
        assert RewardRequest.model_validate(body).reflection == mode
        return
    with pytest.raises(ValidationError):
        RewardRequest.model_validate(body)
