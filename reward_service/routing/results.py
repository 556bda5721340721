"""One sample's answer: the combined reward, checked, and the result as ``/reward`` sends it."""

from __future__ import annotations

from reward_service.contract.schemas import Sample
from reward_service.contract.shapes import SampleResult
from reward_service.contract.task import Outcome


def combined(sample: Sample, outcome: Outcome) -> float | None:
    """``(w_acc·acc + w_fmt·fmt) / (w_acc + w_fmt)`` for an ``ok`` outcome, else ``None``;
    ``None`` too when a component or the result is not a number in [0, 1]."""
    accuracy, format_ = outcome.accuracy, outcome.format
    if outcome.status != "ok" or accuracy is None or not _unit(accuracy):
        return None
    if format_ is None:
        return accuracy
    if not _unit(format_):
        return None
    w = sample.weights
    reward = (w.accuracy * accuracy + w.format * format_) / (w.accuracy + w.format)
    return reward if _unit(reward) else None


def _unit(value: float) -> bool:
    """A number in [0, 1] (``False`` for NaN); a float tested first: every sample's accuracy."""
    if type(value) is float:
        return 0.0 <= value <= 1.0
    return isinstance(value, float | int) and 0.0 <= value <= 1.0


def vetted(sample: Sample, outcome: Outcome) -> tuple[Outcome, float | None]:
    """The outcome and its reward. An ``ok`` outcome whose reward is not a number in [0, 1] (a
    broken backend) is an ``error``: neither answered as a reward nor recorded in the metrics."""
    reward = combined(sample, outcome)
    if outcome.status != "ok" or reward is not None:
        return outcome, reward
    error = (
        f"the backend's scores are not numbers in [0, 1]: {outcome.accuracy!r}, {outcome.format!r}"
    )
    return Outcome("error", error=error, seconds=outcome.seconds), None


def result(sample: Sample, outcome: Outcome, reward: float | None) -> SampleResult:
    """The sample's :class:`~reward_service.contract.shapes.SampleResult`: its reward and components
    for an ``ok`` outcome whose reward :func:`vetted` found (its accuracy then is a number), else
    ``None`` and the status as the error where the outcome gave none.

    Built as the TypedDict, so the type checker holds its keys to the shape the trainer side
    reads; a plain dict at run time (one literal per sample on the router's loop)."""
    accuracy = outcome.accuracy
    if reward is None or accuracy is None:
        failed: SampleResult = {
            "id": sample.id,
            "reward": None,
            "status": outcome.status,
            "components": {},
            "details": outcome.details,
            "error": outcome.error or outcome.status,
            "verifier": sample.verifier,
        }
        return failed
    components = {"accuracy": accuracy}
    if outcome.format is not None:
        components["format"] = outcome.format
    scored: SampleResult = {
        "id": sample.id,
        "reward": reward,
        "status": "ok",
        "components": components,
        "details": outcome.details,
        "error": None,
        "verifier": sample.verifier,
    }
    return scored
