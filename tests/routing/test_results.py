"""A sample's combined reward from its outcome: a number in [0, 1] or nothing, never a value a
broken backend made up (NaN, infinities, out of range, a string)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from reward_service.contract.schemas import Sample
from reward_service.contract.task import Outcome
from reward_service.routing.results import combined, result, vetted

INF, NAN = math.inf, math.nan


def sample(accuracy_weight: float = 1.0, format_weight: float = 0.0) -> Sample:
    weights = {"accuracy": accuracy_weight, "format": format_weight}
    return Sample.model_validate({"response": "r", "verifier": "choice", "weights": weights})


@pytest.mark.parametrize(
    ("accuracy", "format_", "weights", "reward"),
    [
        (1.0, None, (1.0, 0.0), 1.0),
        (0.25, None, (1.0, 0.0), 0.25),
        (1, None, (1.0, 0.0), 1),  # an int is a number
        (0.0, 1.0, (1.0, 1.0), 0.5),
        (1.0, 0.0, (3.0, 1.0), 0.75),
        (1.0, 0.5, (0.0, 1.0), 0.5),  # format only
        (NAN, None, (1.0, 0.0), None),
        (INF, None, (1.0, 0.0), None),
        (-0.5, None, (1.0, 0.0), None),
        (1.5, None, (1.0, 0.0), None),
        (1.0, NAN, (1.0, 1.0), None),
        (1.0, 2.0, (1.0, 0.0), None),  # a broken format fails even with no weight
        (1.0, -INF, (1.0, 1.0), None),
        ("1.0", None, (1.0, 0.0), None),
        (None, None, (1.0, 0.0), None),
    ],
)
def test_combined(
    accuracy: Any, format_: Any, weights: tuple[float, float], reward: float | None
) -> None:
    outcome = Outcome("ok", accuracy, format_)
    found = combined(sample(*weights), outcome)
    assert found == reward if reward is None else found == pytest.approx(reward)


@pytest.mark.parametrize("status", ["error", "timeout", "invalid_input", "unavailable"])
def test_no_reward_unless_ok(status: Any) -> None:
    assert combined(sample(), Outcome(status, 1.0)) is None


@pytest.mark.parametrize("accuracy", [NAN, INF, 1.5, "1"])
def test_a_broken_score_is_an_error_not_a_reward(accuracy: Any) -> None:
    outcome, reward = vetted(sample(), Outcome("ok", accuracy, details={"x": 1}))
    assert (outcome.status, reward) == ("error", None)
    assert "not numbers in [0, 1]" in (outcome.error or "")
    answer = result(sample(), outcome, reward)
    assert (answer["reward"], answer["status"], answer["components"]) == (None, "error", {})
