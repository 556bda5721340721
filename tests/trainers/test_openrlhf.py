"""raas driven through OpenRLHF 0.11.2's own code (``.trainer-envs/openrlhf``): its remote-RM
client (``SingleTurnAgentExecutor``) posting decoded queries to the live ``/get_reward``, its
experience path on what comes back, its processor-expanded vision prompts."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from devtools.live import LiveServer
from tests.trainers.conftest import Driver, counted

THINK = "<think>\n2 and 2 make 4\n</think>\n<answer>\n\\boxed{4}\n</answer>"
FORMATTED = {"verifier": "math", "ground_truth": "4", "format": "think_answer",
             "weights": {"accuracy": 1.0, "format": 0.5}}  # fmt: skip


def rollout(driver: Driver, server: LiveServer, samples: list[dict[str, Any]],
            **spec: Any) -> dict[str, Any]:  # fmt: skip
    body = {"remote_url": [f"{server.url}/get_reward"], "samples": samples, **spec}
    return driver("openrlhf", "openrlhf_rollout.py", json.dumps(body))


def raas_rewards(server: LiveServer, samples: list[dict[str, Any]]) -> list[float | None]:
    """raas's own ``/reward`` answer for the same responses and specs."""
    answer = httpx.post(f"{server.url}/reward", json={"samples": samples}, timeout=60).json()
    return [result["reward"] for result in answer["results"]]


@pytest.mark.xfail(
    strict=True,
    reason="REPRODUCES issue 19's crash, fixed next: /get_reward's extra_logs keys "
    "differ between samples and OpenRLHF's split_experience_batch raises 'ValueError: Size of "
    "info[format] (2) does not match batch_size (3)'",
)
def test_mixed_extra_logs_pass_openrlhfs_experience_split(
    driver: Driver, server: LiveServer
) -> None:
    """A format-scored, a format-scored wrong and an unscorable sample in one micro-batch: before
    the fix, ``split_experience_batch`` raised ``ValueError: Size of info[format] (2) does not
    match batch_size (3)``, since the unscored sample's ``extra_logs`` had no ``format``."""
    wrong = THINK.replace("{4}", "{5}")
    samples = [
        {"input": "What is 2+2?", "label": FORMATTED, "response": THINK},
        {"input": "What is 2+2?", "label": FORMATTED, "response": wrong},
        {"input": "What is 2+2?", "label": "no-math-here ???", "response": "\\boxed{4}"},
    ]
    before = counted(server, "raas_samples_total", data_source="openrlhf")
    report = rollout(driver, server, samples)
    assert "experience_error" not in report, report["experience_error"]
    assert counted(server, "raas_samples_total", data_source="openrlhf") == before + 3
    items = report["items"]
    assert [set(item["info"]) for item in items] == [set(items[0]["info"])] * 3
    expected = raas_rewards(server, [
        {"response": THINK, **FORMATTED}, {"response": wrong, **FORMATTED},
        {"response": "\\boxed{4}", "verifier": "math", "ground_truth": "no-math-here ???"},
    ])  # fmt: skip
    assert expected[2] is None  # raas could not score it: OpenRLHF holds 0.0, flagged
    assert [item["reward"] for item in items] == [[expected[0]], [expected[1]], [0.0]]
    assert [item["info"]["raas_unscored"] for item in items] == [[0.0], [0.0], [1.0]]
