"""The ``truncated`` flag where a trainer says it: slime's sample status and NeMo Gym's
Responses-API answer (raas-train, verl and TRL are tested beside their adapters)."""

from __future__ import annotations

from enum import Enum
from types import SimpleNamespace
from typing import Any

import pytest

from reward_service.compat.nemo_gym import GymVerifyRequest, gym_sample
from trainer_client.slime import raas_sample


class Status(Enum):  # slime.utils.types.Sample.Status's values
    PENDING = "pending"
    COMPLETED = "completed"
    TRUNCATED = "truncated"
    ABORTED = "aborted"
    FAILED = "failed"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (Status.TRUNCATED, True),  # the engine's finish_reason "length"
        (Status.COMPLETED, False),
        ("truncated", True),  # the value, as a sample read back from a dict
        (Status.ABORTED, "absent"),  # neither: not said
        (Status.PENDING, "absent"),
        (None, "absent"),
    ],
)
def test_slime_status(status: Any, expected: Any) -> None:
    sample = SimpleNamespace(prompt="p", response="r", label="1", metadata={}, status=status)
    assert raas_sample(sample).get("truncated", "absent") == expected


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}}, True),
        ({"status": "completed"}, False),
        ({"status": "incomplete", "incomplete_details": {"reason": "content_filter"}}, "absent"),
        ({}, "absent"),  # an answer that says nothing
    ],
)
def test_nemo_gym_response_status(answer: dict[str, Any], expected: Any) -> None:
    body = GymVerifyRequest.model_validate(
        {
            "responses_create_params": {"input": "q"},
            "ground_truth": "4",
            "response": {"output": [], **answer},
        }
    )
    assert gym_sample(body).get("truncated", "absent") == expected
