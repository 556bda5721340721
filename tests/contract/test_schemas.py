from __future__ import annotations

import pytest
from pydantic import ValidationError

from reward_service.contract import schemas
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


def _weights_of(*given: object) -> list[Weights]:
    samples = [{"response": "x", "weights": w} for w in given]
    return [s.weights for s in RewardRequest.model_validate({"samples": samples}).samples]


def test_a_pair_of_weights_seen_before_is_the_same_object() -> None:
    pair = {"accuracy": 0.7, "format": 0.3}
    first, again, reordered = _weights_of(pair, dict(pair), {"format": 0.3, "accuracy": 0.7})
    assert first is again is reordered
    assert (first.accuracy, first.format) == (0.7, 0.3)
    as_ints, as_floats = _weights_of({"accuracy": 2, "format": 1}, {"accuracy": 2.0, "format": 1.0})
    assert as_ints is not as_floats  # keyed by type too: 2 == 2.0, and True == 1
    assert (as_ints.accuracy, as_ints.format) == (as_floats.accuracy, as_floats.format)


@pytest.mark.parametrize(
    "weights",
    [
        {"accuracy": 0.0, "format": 0.0},
        {"accuracy": -1.0, "format": 2.0},
        {"accuracy": 1.0, "format": 2e6},
        {"accuracy": True, "format": 0.5},
        {"accuracy": 1.0, "bogus": 0.5},
        {"accuracy": "1", "format": 0.5},
        {"accuracy": 1.0},
        [1.0, 0.5],
    ],
)
def test_weights_are_refused_as_the_model_refuses_them_again_and_again(weights: object) -> None:
    """Refused weights are never kept: the second sample giving them is refused alike."""
    try:
        expected = Weights.model_validate(weights)
    except ValidationError as error:
        expected_errors = [(e["type"], e["loc"]) for e in error.errors()]
    else:
        assert _weights_of(weights, weights) == [expected, expected]
        return
    with pytest.raises(ValidationError) as info:
        _weights_of(weights, weights)
    got = [(e["type"], e["loc"]) for e in info.value.errors()]
    located = [
        (kind, ("samples", i, "weights", *loc)) for i in (0, 1) for kind, loc in expected_errors
    ]
    assert got == located


def test_past_the_cap_weights_are_validated_each_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schemas, "_shared", {})
    monkeypatch.setattr(schemas, "SHARED_WEIGHTS_MAX", 0)
    pair = {"accuracy": 0.25, "format": 0.75}
    first, again = _weights_of(pair, pair)
    assert first is not again
    assert first == again == Weights(accuracy=0.25, format=0.75)
