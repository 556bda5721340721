"""raas driven through OpenRLHF 0.11.2's own code (``.trainer-envs/openrlhf``): its remote-RM
client (``SingleTurnAgentExecutor``) posting decoded queries to the live ``/get_reward``, its
experience path on what comes back, its processor-expanded vision prompts."""

from __future__ import annotations

import json
from collections.abc import Iterator
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
    held = [item["reward"][0] for item in items]  # float32 tensors in OpenRLHF
    assert held == pytest.approx([expected[0], expected[1], 0.0], rel=1e-6)
    assert [item["info"]["raas_unscored"] for item in items] == [[0.0], [0.0], [1.0]]


INSTRUCTIONS = (
    "<image>How many apples? Think in <think>\n...\n</think>\n then answer in <answer>\n...\n"
    "</answer>, for example <answer>\n\\boxed{9}\n</answer>."
)


@pytest.fixture(scope="module")
def formatted() -> Iterator[LiveServer]:
    """A raas whose ``/get_reward`` scores the ``think_answer`` format, at weight 1."""
    live = LiveServer.start(RAAS_OPENRLHF_FORMAT="think_answer", RAAS_OPENRLHF_FORMAT_WEIGHT="1")
    yield live
    live.stop()


def test_vision_prompts_expanded_by_the_processor_are_stripped(
    driver: Driver, formatted: LiveServer
) -> None:
    """Qwen-VL prompts through OpenRLHF's processor path: the decoded query holds one
    ``<|image_pad|>`` per merged patch where the prompt has one, and ends with ``<|im_end|>``;
    raas scores what follows the prompt, as if sent alone, and says so where the prompt is
    missing (OpenRLHF cut a long text prompt to fit ``max_length``)."""
    long_prompt = "Count the apples. " * 40
    samples = [
        {"input": INSTRUCTIONS, "label": "4", "response": THINK, "image": True},
        {"input": INSTRUCTIONS, "label": "4", "response": THINK.replace("{4}", "{9}"),
         "image": True},
        {"input": "<image>Which is red? A or B", "response": "B", "image": True,
         "label": {"verifier": "choice", "ground_truth": "B"}},
        {"input": long_prompt, "label": "4", "response": THINK, "max_length": 300,
         "max_new_tokens": 100},
    ]  # fmt: skip
    before = counted(formatted, "raas_samples_total", data_source="openrlhf")
    report = rollout(driver, formatted, samples, vision=True)
    assert counted(formatted, "raas_samples_total", data_source="openrlhf") == before + 4
    queries = [sample["query"] for sample in report["samples"]]
    prompts = [sample["prompt"] for sample in report["samples"]]
    assert [p.count("<|image_pad|>") for p in prompts[:3]] == [1, 1, 1]
    assert [q.count("<|image_pad|>") for q in queries[:3]] == [16, 16, 16]  # 112² px, 14² patches
    assert all(q.endswith("<|im_end|>") for q in queries)
    assert not queries[3].startswith(prompts[3])  # OpenRLHF kept the prompt's last tokens
    both = {"format": "think_answer", "weights": {"accuracy": 1.0, "format": 1.0}}
    expected = raas_rewards(formatted, [
        {"response": THINK, "verifier": "math", "ground_truth": "4", **both},
        {"response": THINK.replace("{4}", "{9}"), "verifier": "math", "ground_truth": "4", **both},
        {"response": "B", "verifier": "choice", "ground_truth": "B", **both},
    ])  # fmt: skip
    assert expected == [1.0, 0.5, pytest.approx(0.5)]  # the prompt's tags and \boxed{9} unread
    items = report["items"]
    held = [item["reward"][0] for item in items]
    assert held == pytest.approx([*expected, 0.0], rel=1e-6)
    assert [item["info"]["raas_unscored"] for item in items] == [[0.0]] * 3 + [[1.0]]
    assert [item["info"]["format"] for item in items] == [[1.0], [1.0], [0.0], [0.0]]
