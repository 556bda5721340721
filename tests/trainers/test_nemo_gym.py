"""raas's own resources-server protocol (``/verify``, ``/seed_session``, ``/close_session``)
called by NeMo Gym 0.7.0's own agent and client (``drivers/nemo_gym_verify.py``): a config whose
resources-server entry is raas's host and port (agents run outside NeMo Gym's launcher, which
accepts only servers it starts: ``test_nemo_gym_launch.py``), NeMo Gym's ``SimpleAgent`` ``/run``
(seed, policy, tool call, verify), an environment server's session and the ``/ng-rollout``
prefix; raas's counters rise and the rewards equal raas's ``/reward`` answers for the samples the
mapping promises."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from devtools.live import LiveServer
from tests.trainers.conftest import Driver, counted, raas_results, requests_to
from tests.trainers.nemo_gym_data import DIRECT_CONFIG, PNG, ROUTES, THINKING, user

KEY = "nemo-gym-trainer-key-012345"


def message(text: str) -> dict[str, Any]:
    return {
        "id": "msg",
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def reasoning(text: str) -> dict[str, Any]:
    return {"id": "rs", "type": "reasoning", "summary": [{"type": "summary_text", "text": text}]}


TOOL_CALL = {
    "type": "function_call",
    "call_id": "c1",
    "name": "calculator",
    "arguments": "{}",
    "id": "fc",
}
# (row, the policy's turns, the raas sample the README's mapping makes of the verify body)
CASES = [
    (  # NeMo Gym's math dataset row as it is (math_with_judge): routed by data_source nemo_gym
        {
            **user("How many? Put the answer in \\boxed{}."),
            "question": "How many?",
            "expected_answer": "32",
        },
        [[reasoning(THINKING), message("So \\boxed{32}.")]],
        {
            "data_source": "nemo_gym",
            "prompt": "How many? Put the answer in \\boxed{}.",
            "response": f"<think>\n{THINKING}\n</think>\nSo \\boxed{{32}}.",
            "ground_truth": "32",
        },
    ),
    (  # the row's own spec, with a format checker: components are the weighted shares
        {
            **user("2+2?"),
            "data_source": "gym-fmt",
            "verifier": "math",
            "ground_truth": "4",
            "format": "think_answer",
            "weights": {"accuracy": 1.0, "format": 0.5},
        },
        [[reasoning("2+2=4"), message("<answer>\n\\boxed{4}\n</answer>")]],
        {
            "data_source": "gym-fmt",
            "prompt": "2+2?",
            "verifier": "math",
            "ground_truth": "4",
            "response": "<think>\n2+2=4\n</think>\n<answer>\n\\boxed{4}\n</answer>",
            "format": "think_answer",
            "weights": {"accuracy": 1.0, "format": 0.5},
        },
    ),
    (  # a tool call: only the final turn is the answer (the first turn's \boxed{99} is not)
        {**user("3+4?"), "data_source": "gym-tool", "verifier": "math", "ground_truth": "7"},
        [[message("Let me compute \\boxed{99}"), TOOL_CALL], [message("\\boxed{7}")]],
        {
            "data_source": "gym-tool",
            "prompt": "3+4?",
            "verifier": "math",
            "ground_truth": "7",
            "response": "\\boxed{7}",
        },
    ),
    (  # unscorable: masked, not punished
        {**user("?"), "expected_answer": "no-math-here ???"},
        [[message("\\boxed{1}")]],
        {
            "data_source": "nemo_gym",
            "prompt": "?",
            "response": "\\boxed{1}",
            "ground_truth": "no-math-here ???",
        },
    ),
    (  # an image: the route's image variant scores it
        {**user("Which?", PNG), "data_source": "gym-vis", "ground_truth": "B"},
        [[message("<answer>B</answer>")]],
        {
            "data_source": "gym-vis",
            "prompt": "Which?",
            "response": "<answer>B</answer>",
            "ground_truth": "B",
            "images": [PNG],
        },
    ),
]


@pytest.fixture(scope="module")
def live() -> Iterator[LiveServer]:
    server = LiveServer.start(RAAS_ROUTES=ROUTES, RAAS_POOL_WORKERS="1", RAAS_API_KEYS=KEY)
    yield server
    server.stop()


def reward(server: LiveServer, samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return raas_results(server, samples, key=KEY)


def test_nemo_gym_agent_runs_score_on_raas(live: LiveServer, driver: Driver) -> None:
    prompts = [
        row["responses_create_params"]["input"][0]["content"][0]["text"] for row, *_ in CASES
    ]
    job = {
        "config": DIRECT_CONFIG,
        "url": live.url.replace("://", f"://raas:{KEY}@"),
        "rows": [row for row, *_ in CASES],
        "outputs": {p: turns for p, (_, turns, _) in zip(prompts, CASES, strict=True)},
        "session_row": 1,
        "report": [
            "response",
            "mask_sample",
            "failure_kind",
            "failure_reason",
            "raas_status",
            "raas_accuracy",
            "raas_format",
            "expected_answer",
        ],
    }
    before = (
        requests_to(live, "/verify"),
        counted(live, "raas_samples_total", verifier="choice"),
        counted(live, "raas_samples_total", data_source="nemo_gym"),
    )
    got = driver("nemo_gym", "nemo_gym_verify.py", json.dumps(job))
    runs = got["runs"]
    # every /run reached raas's /verify, plus the session's and the prefixed one
    assert requests_to(live, "/verify") - before[0] == len(CASES) + 2
    assert counted(live, "raas_samples_total", data_source="nemo_gym") - before[2] == 3
    assert counted(live, "raas_samples_total", verifier="choice") - before[1] == 1  # the image
    expected = reward(live, [sample for *_, sample in CASES])
    for run, want in zip(runs, expected, strict=True):
        assert run["raas_status"] == want["status"]
        assert run["reward"] == (want["reward"] if want["status"] == "ok" else 0.0)
        assert sum(run["reward_components"].values()) == pytest.approx(run["reward"])
        assert run["mask_sample"] is (want["status"] != "ok")
    assert [r["reward"] for r in runs] == [1.0, pytest.approx((1 + 0.5) / 1.5), 1.0, 0.0, 1.0]
    assert runs[1]["reward_components"] == {
        "accuracy": pytest.approx(1 / 1.5),
        "format": pytest.approx(0.5 / 1.5),
    }
    assert (runs[1]["raas_accuracy"], runs[1]["raas_format"]) == (1.0, 1.0)
    assert runs[3]["failure_kind"] == "raas:invalid_input"
    assert runs[3]["failure_reason"]
    assert runs[0]["expected_answer"] == "32"  # the row comes back with the verdict
    assert got["session"] == {"reward": runs[1]["reward"], "mask_sample": False}
    assert got["observed"] == runs[0]["reward"]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"response": {"output": []}}, ["responses_create_params"]),
        ({"responses_create_params": {}, "response": {}}, ["response", "output"]),
        ({"responses_create_params": {}, "response": {"output": [1]}}, ["response", "output", 0]),
        (
            {"responses_create_params": {}, "response": {"output": []}, "verifier": "nope"},
            ["samples", 0, "verifier"],
        ),
        ({"responses_create_params": {}, "response": {"output": []}}, ["samples", 0, "verifier"]),
    ],
)
def test_verify_malformed_is_422(server: LiveServer, body: dict[str, Any], loc: list[Any]) -> None:
    response = httpx.post(f"{server.url}/verify", json=body, timeout=60)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == loc
