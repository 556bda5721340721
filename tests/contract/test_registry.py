from __future__ import annotations

import pytest
from pydantic import ValidationError

from reward_service.contract.errors import UnknownNameError
from reward_service.contract.registry import (
    FORMATS,
    VERIFIERS,
    Context,
    NoParams,
    Params,
    Registry,
    Score,
    VerifierSpec,
    summary_of,
)
from reward_service.verifiers import load_verifiers


def sample_verifier(response: str, ground_truth: object, params: Params, context: Context) -> Score:
    """Scores nothing.

    Second paragraph, not part of the summary.
    """
    return Score(0.0)


class TestRegistry:
    def test_duplicate_name_is_refused(self) -> None:
        registry: Registry[int] = Registry("thing")
        registry.add("a", 1)
        with pytest.raises(ValueError, match="thing 'a' is already registered"):
            registry.add("a", 2)
        assert registry.get("a") == 1

    def test_unknown_name_lists_the_known_ones(self) -> None:
        registry: Registry[int] = Registry("thing")
        registry.add("b", 1)
        registry.add("a", 2)
        with pytest.raises(UnknownNameError, match="unknown thing 'c'; known: a, b"):
            registry.get("c")

    def test_iteration_is_sorted_and_membership_works(self) -> None:
        registry: Registry[int] = Registry("thing")
        for name in "cab":
            registry.add(name, 0)
        assert list(registry) == ["a", "b", "c"]
        assert "a" in registry
        assert "z" not in registry
        assert len(registry) == 3

    def test_real_verifiers_are_registered_once_each(self) -> None:
        load_verifiers()
        load_verifiers()  # a second load registers nothing twice
        assert {"math", "choice", "chart", "counting", "ocr"} <= set(VERIFIERS)
        assert "think_answer" in FORMATS
        with pytest.raises(ValueError, match="already registered"):
            VERIFIERS.add("math", VerifierSpec("math", sample_verifier, NoParams, None, ""))


class TestParams:
    def test_unknown_keys_are_rejected(self) -> None:
        with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
            NoParams.model_validate({"x": 1})

    def test_params_are_frozen(self) -> None:
        params = NoParams()
        with pytest.raises(ValidationError):
            params.x = 1  # type: ignore[attr-defined]


def test_summary_is_the_first_docstring_paragraph() -> None:
    assert summary_of(sample_verifier) == "Scores nothing."
