"""Numbers chosen to break the service: ids and params past 64 bits, huge weights, negative
ratios, a backend answering rewards outside [0, 1]. Each is a 422 or a per-sample status."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from devtools.live import InThreadServer
from reward_service.compat.vtriune import JudgePayload, judge_answer
from reward_service.contract.schemas import Sample
from reward_service.contract.task import Outcome
from reward_service.http.app import create_app
from reward_service.metrics import Metrics
from reward_service.routing.results import combined
from reward_service.settings import Settings

SAMPLE: dict[str, Any] = {"response": "\\boxed{4}", "ground_truth": "4", "verifier": "math"}


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    app = create_app(Settings(pool_workers=1), Metrics(CollectorRegistry()))
    with TestClient(app) as http:
        yield http


def reward(client: TestClient, **fields: Any) -> Any:
    return client.post("/reward", json={"samples": [{**SAMPLE, **fields}]})


@pytest.mark.parametrize("sample_id", [2**64 - 1, -(2**63), 0, "18446744073709551616", "é"])
def test_ids_that_fit_64_bits_or_are_strings_are_echoed(client: TestClient, sample_id: Any) -> None:
    response = reward(client, id=sample_id)
    assert response.status_code == 200
    assert response.json()["results"][0]["id"] == sample_id


@pytest.mark.parametrize("sample_id", [2**64, -(2**63) - 1, 10**400, 1.5, [1], {"a": 1}])
def test_other_ids_are_422_naming_the_field(client: TestClient, sample_id: Any) -> None:
    response = reward(client, id=sample_id)
    assert response.status_code == 422
    assert all(e["loc"][:3] == ["samples", 0, "id"] for e in response.json()["detail"])


@pytest.mark.parametrize("value", [2**64, -(2**64), 10**400])
def test_params_that_do_not_serialise_are_422(client: TestClient, value: int) -> None:
    response = reward(client, params={"anything": value})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["samples", 0, "params"]


@pytest.mark.parametrize("tolerance", ['"inf"', '"nan"', "1e999", "NaN", "-Infinity"])
def test_params_floats_must_be_finite(client: TestClient, tolerance: str) -> None:
    sample = (
        '{"response": "1", "ground_truth": "1", "verifier": "chart", "params": {"tolerance": %s}}'
    )
    response = client.post("/reward", content='{"samples": [%s]}' % (sample % tolerance))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][:3] == ["samples", 0, "params"]


@pytest.mark.parametrize(
    "weights",
    [
        {"accuracy": 1e308, "format": 1e308},
        {"accuracy": 1e7},
        {"accuracy": -1},
        {"format": "nan"},
        {"accuracy": 0, "format": 0},
    ],
)
def test_weights_must_be_finite_bounded_and_not_both_zero(
    client: TestClient, weights: dict[str, Any]
) -> None:
    response = reward(client, format="think_answer", weights=weights)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][:3] == ["samples", 0, "weights"]


def test_the_largest_weights_still_give_a_reward_in_range(client: TestClient) -> None:
    weights = {"accuracy": 1e6, "format": 1e6}
    result = reward(client, format="think_answer", weights=weights).json()["results"][0]
    assert result["status"] == "ok"
    assert result["reward"] == pytest.approx(0.5)  # accuracy 1, no think/answer tags: format 0


@pytest.mark.parametrize("schedule", [{"step": 2**64}, {"total_steps": 0}, {"step": -1}])
def test_schedules_past_64_bits_or_negative_are_422(
    client: TestClient, schedule: dict[str, int]
) -> None:
    response = client.post("/reward", json={"samples": [SAMPLE], **schedule})
    assert response.status_code == 422


class TestJudgeRatios:
    @staticmethod
    def payload(**ratios: Any) -> dict[str, Any]:
        return {
            "response": "<think>a</think>\n<answer>\\boxed{4}</answer>",
            "prompt": "",
            "answer": "",
            "solution": "4",
            "data_source": "x",
            "reward_verifier": "mathverify",
            "reward_verifier_parm": '{"step": 1, "total_steps": 2}',
            **ratios,
        }

    @pytest.mark.parametrize(
        "ratios",
        [
            {"accuracy_ratio": -1, "format_ratio": 2},
            {"format_ratio": -0.1},
            {"accuracy_ratio": 1e7},
        ],
    )
    def test_negative_or_huge_ratios_are_422(
        self, client: TestClient, ratios: dict[str, float]
    ) -> None:
        assert client.post("/judge", json=self.payload(**ratios)).status_code == 422

    def test_a_correct_answer_scores_within_0_and_1(self, client: TestClient) -> None:
        answer = client.post("/judge", json=self.payload(accuracy_ratio=0, format_ratio=2)).json()
        assert answer["status"] == "ok"
        assert 0.0 <= answer["rewards"]["final_reward"] <= 1.0

    @given(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1e6), st.floats(0, 1e6))
    def test_final_reward_stays_in_the_unit_interval(
        self, accuracy: float, fmt: float, a: float, f: float
    ) -> None:
        payload = JudgePayload.model_validate(self.payload(accuracy_ratio=a, format_ratio=f))
        final = judge_answer(accuracy, fmt, payload, "ok", None)["rewards"]["final_reward"]
        assert 0.0 <= final <= 1.0


@pytest.mark.parametrize(
    ("accuracy", "fmt", "expected"),
    [
        (1.0, None, 1.0),
        (1.0, 0.0, 0.5),
        (1.5, None, None),  # a backend's accuracy outside [0, 1]
        (math.nan, None, None),
        (math.inf, None, None),
        (1.0, math.nan, None),
        (1.0, -0.5, None),
        (-0.0, None, 0.0),
    ],
)
def test_combined_is_none_unless_every_number_is_in_the_unit_interval(
    accuracy: float, fmt: float | None, expected: float | None
) -> None:
    sample = Sample.model_validate({**SAMPLE, "weights": {"accuracy": 1, "format": 1}})
    assert combined(sample, Outcome("ok", accuracy, fmt)) == expected


class OutOfRangeWorker(InThreadServer):
    """A stand-in rule worker whose verdicts are not rewards (7.0)."""

    def __init__(self) -> None:
        self.app = FastAPI()

        @self.app.post("/v1/tasks")
        async def tasks(request: Request) -> dict[str, Any]:
            count = len((await request.json())["tasks"])
            return {"outcomes": [{"status": "ok", "accuracy": 7.0}] * count}

        @self.app.get("/readyz")
        async def readyz() -> dict[str, str]:
            return {"status": "ready"}

        super().__init__()


def test_rewards_outside_the_unit_interval_are_errors_and_never_recorded() -> None:
    registry = CollectorRegistry()
    with OutOfRangeWorker() as worker:
        settings = Settings(rule_workers=[worker.url], remote_piece_size=2)
        with TestClient(create_app(settings, Metrics(registry))) as http:
            samples = [
                {**SAMPLE, "data_source": "s"},
                {**SAMPLE, "data_source": "s", "ground_truth": "5"},
            ]
            results = http.post("/reward", json={"samples": samples}).json()["results"]
    assert [r["status"] for r in results] == ["error", "error"]
    assert [r["reward"] for r in results] == [None, None]
    assert "not numbers in [0, 1]" in results[0]["error"]
    labels = {"data_source": "s", "verifier": "math", "status": "error"}
    assert registry.get_sample_value("raas_samples_total", labels) == 2
    assert registry.get_sample_value("raas_reward_count", {"data_source": "s"}) is None
