"""raas driven through OpenRLHF 0.11.2's own code (``.trainer-envs/openrlhf``): its remote-RM
client (``SingleTurnAgentExecutor``) posting decoded queries to the live ``/get_reward``, its
experience path on what comes back, its processor-expanded vision prompts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.live import LiveServer
from tests.trainers.conftest import Driver, counted, raas_results
from tests.trainers.readme import readme_block

THINK = "<think>\n2 and 2 make 4\n</think>\n<answer>\n\\boxed{4}\n</answer>"
FORMATTED = {
    "verifier": "math",
    "ground_truth": "4",
    "format": "think_answer",
    "weights": {"accuracy": 1.0, "format": 0.5},
}


def rollout(
    driver: Driver, server: LiveServer, rows: list[dict[str, Any]], **spec: Any
) -> dict[str, Any]:
    body = {"remote_url": [f"{server.url}/get_reward"], "rows": rows, **spec}
    return driver("openrlhf", "openrlhf_rollout.py", json.dumps(body))


def raas_rewards(server: LiveServer, samples: list[dict[str, Any]]) -> list[float | None]:
    """raas's own ``/reward`` answer for the same responses and specs."""
    return [result["reward"] for result in raas_results(server, samples)]


def test_mixed_extra_logs_pass_openrlhfs_experience_split(
    driver: Driver, server: LiveServer
) -> None:
    """A format-scored, a format-scored wrong and an unscorable sample in one micro-batch: before
    the fix, ``split_experience_batch`` raised ``ValueError: Size of info[format] (2) does not
    match batch_size (3)``, since the unscored sample's ``extra_logs`` had no ``format``."""
    wrong = THINK.replace("{4}", "{5}")
    rows = [
        {"input": "What is 2+2?", "label": FORMATTED, "turns": [THINK]},
        {"input": "What is 2+2?", "label": FORMATTED, "turns": [wrong]},
        {"input": "What is 2+2?", "label": "no-math-here ???", "turns": ["\\boxed{4}"]},
    ]
    before = counted(server, "raas_samples_total", data_source="openrlhf")
    report = rollout(driver, server, rows)
    assert "experience_error" not in report, report["experience_error"]
    assert counted(server, "raas_samples_total", data_source="openrlhf") == before + 3
    items = report["items"]
    assert [set(item["info"]) for item in items] == [set(items[0]["info"])] * 3
    expected = raas_rewards(
        server,
        [
            {"response": THINK, **FORMATTED},
            {"response": wrong, **FORMATTED},
            {"response": "\\boxed{4}", "verifier": "math", "ground_truth": "no-math-here ???"},
        ],
    )
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
    rows = [
        {"input": INSTRUCTIONS, "label": "4", "turns": [THINK], "image": True},
        {
            "input": INSTRUCTIONS,
            "label": "4",
            "turns": [THINK.replace("{4}", "{9}")],
            "image": True,
        },
        {
            "input": "<image>Which is red? A or B",
            "turns": ["B"],
            "image": True,
            "label": {"verifier": "choice", "ground_truth": "B"},
        },
        {"input": long_prompt, "label": "4", "turns": [THINK], "max_len": 300},
    ]
    before = counted(formatted, "raas_samples_total", data_source="openrlhf")
    report = rollout(driver, formatted, rows, vision=True, max_new_tokens=100)
    assert counted(formatted, "raas_samples_total", data_source="openrlhf") == before + 4
    queries = [sample["query"] for sample in report["samples"]]
    prompts = [sample["prompt"] for sample in report["samples"]]
    assert [p.count("<|image_pad|>") for p in prompts[:3]] == [1, 1, 1]
    assert [q.count("<|image_pad|>") for q in queries[:3]] == [16, 16, 16]  # 112² px, 14² patches
    assert all(q.endswith("<|im_end|>") for q in queries)
    assert not queries[3].startswith(prompts[3])  # OpenRLHF kept the prompt's last tokens
    both = {"format": "think_answer", "weights": {"accuracy": 1.0, "format": 1.0}}
    expected = raas_rewards(
        formatted,
        [
            {"response": THINK, "verifier": "math", "ground_truth": "4", **both},
            {
                "response": THINK.replace("{4}", "{9}"),
                "verifier": "math",
                "ground_truth": "4",
                **both,
            },
            {"response": "B", "verifier": "choice", "ground_truth": "B", **both},
        ],
    )
    assert expected == [1.0, 0.5, pytest.approx(0.5)]  # the prompt's tags and \boxed{9} unread
    items = report["items"]
    held = [item["reward"][0] for item in items]
    assert held == pytest.approx([*expected, 0.0], rel=1e-6)
    assert [item["info"]["raas_unscored"] for item in items] == [[0.0]] * 3 + [[1.0]]
    assert [item["info"]["format"] for item in items] == [[1.0], [1.0], [0.0], [0.0]]


# --- the README's commands, replayed by bash through OpenRLHF's own parser ------------------

APPLES = "<image>How many apples? Answer in <answer></answer>, e.g. <answer>9</answer>."
IMAGES = ["apples.png"]  # the driver hands OpenRLHF a picture for each row that names one


def replay(
    driver: Driver, command: str, server: LiveServer, rows: list[dict[str, Any]]
) -> dict[str, Any]:
    """A README command run as a shell runs it, raas's address in it pointed at ``server``;
    ``rows`` in the README's dataset keys."""
    text = command.replace("http://raas:8000", server.url)
    env = {"OPENRLHF_DRIVER_ROWS": json.dumps(rows)}
    return driver("openrlhf", "openrlhf_cli.py", "replay", text, env=env)


def test_readme_remote_rm_command(driver: Driver, server: LiveServer) -> None:
    rows = [
        {"prompt": APPLES, "answer": "4", "images": IMAGES, "turns": ["<answer>4</answer>"]},
        {"prompt": APPLES, "answer": "4", "images": IMAGES, "turns": ["<answer>5</answer>"]},
        {"prompt": "What is 2+2?", "answer": "no-math-here ???", "turns": ["\\boxed{4}"]},
    ]
    before = counted(server, "raas_samples_total", data_source="openrlhf")
    report = replay(driver, readme_block("openrlhf-remote-rm"), server, rows)
    assert report["args"]["reward.remote_url"] == [f"{server.url}/get_reward"]
    assert report["args"]["data.label_key"] == "answer"
    assert report["args"]["data.max_images_per_prompt"] == 1
    assert counted(server, "raas_samples_total", data_source="openrlhf") == before + 3
    assert [s["query"].count("<|image_pad|>") for s in report["samples"]] == [16, 16, 0]
    expected = raas_rewards(
        server,
        [
            {"response": "<answer>4</answer>", "verifier": "math", "ground_truth": "4"},
            {"response": "<answer>5</answer>", "verifier": "math", "ground_truth": "4"},
        ],
    )
    held = [item["reward"][0] for item in report["items"]]
    assert held == [*expected, 0.0] == [1.0, 0.0, 0.0]
    assert [item["info"]["raas_unscored"] for item in report["items"]] == [[0.0], [0.0], [1.0]]


def test_the_flags_before_openrlhf_0_11_are_refused_by_its_parser(
    driver: Driver, server: LiveServer
) -> None:
    old = readme_block("openrlhf-remote-rm").replace("--reward.remote_url", "--remote_rm_url")
    report = replay(driver, old.replace("--data.label_key", "--label_key"), server, [])
    assert "unrecognized arguments: --label_key answer --remote_rm_url" in report["parse_error"]


def test_readme_reward_file_command(driver: Driver, server: LiveServer) -> None:
    """OpenRLHF loads raas's reward file from the path the README's ``$(python -c …)`` gives,
    with the runtime environment's ``RAAS_*``, and scores through it."""
    rows = [
        {"prompt": APPLES, "answer": "4", "images": IMAGES, "turns": ["<answer>4</answer>"]},
        {"prompt": "What is 2+2?", "answer": "4", "turns": ["<think>\n4 or 5\n</think>\n5"]},
    ]
    before = counted(server, "raas_samples_total", data_source="openrlhf")
    report = replay(driver, readme_block("openrlhf-reward-func"), server, rows)
    (path,) = report["args"]["reward.remote_url"]
    # raas-client as the trainer's environment installed it
    assert "/.trainer-envs/openrlhf/lib/" in path
    assert path.endswith("/site-packages/trainer_client/openrlhf.py")
    assert counted(server, "raas_samples_total", data_source="openrlhf") == before + 2
    assert [item["reward"][0] for item in report["items"]] == [1.0, 0.0]
    assert [s["extra_logs"]["raas_unscored"] for s in report["samples"]] == [[0.0], [0.0]]


def test_readme_agent_command(driver: Driver, server: LiveServer) -> None:
    rows = [
        {"prompt": "What is 2+2?", "answer": "4", "turns": ["<answer>4</answer>"]},
        {"prompt": "What is 2+2?", "answer": "4", "turns": ["<answer>3</answer>"]},
    ]
    before = counted(server, "raas_samples_total", data_source="openrlhf")
    report = replay(driver, readme_block("openrlhf-agent"), server, rows)
    assert report["args"]["reward.remote_url"] == ["agent"]  # OpenRLHF's own check sets it
    assert report["args"]["train.agent_func_path"].endswith("trainer_client/openrlhf_agent.py")
    assert counted(server, "raas_samples_total", data_source="openrlhf") == before + 2
    assert [item["reward"][0] for item in report["items"]] == [1.0, 0.0]
    assert [item["info"]["raas_unscored"] for item in report["items"]] == [[0.0], [0.0]]


def test_readme_agent_environment(driver: Driver, server: LiveServer, tmp_path: Path) -> None:
    """The README's multi-turn example as the agent file OpenRLHF loads: raas scores the turn
    that answers (or the last allowed), once per episode; an episode the length budget cuts
    before its final turn is not sent and reads as unscored, with the same log keys."""
    agent = tmp_path / "answer_when_ready.py"
    agent.write_text(readme_block("openrlhf-agent-env"))
    rows = [
        {"input": "What is 2+2?", "label": "4", "turns": ["Let me count.", "<answer>4</answer>"]},
        {"input": "What is 2+2?", "label": "4", "turns": ["Hmm.", "Hmm?", "Hmm!"]},
        {"input": "What is 2+2?", "label": "4", "turns": ["Let me count. " * 20], "max_len": 120},
    ]
    body = {"agent_func_path": str(agent), "rows": rows}
    before = counted(server, "raas_samples_total", data_source="openrlhf")
    report = driver(
        "openrlhf", "openrlhf_rollout.py", json.dumps(body), env={"RAAS_URL": server.url}
    )
    assert counted(server, "raas_samples_total", data_source="openrlhf") == before + 2
    feedback = "\nGive your final answer in <answer></answer>.\n"
    assert report["samples"][0]["query"].count(feedback) == 1
    assert report["samples"][1]["query"].count(feedback) == 2  # max_turns 3: the third is final
    expected = raas_rewards(
        server,
        [
            {"response": "<answer>4</answer>", "verifier": "math", "ground_truth": "4"},
            {"response": "Hmm!", "verifier": "math", "ground_truth": "4"},
        ],
    )
    items = report["items"]
    assert [item["reward"][0] for item in items] == [*expected, 0.0] == [1.0, 0.0, 0.0]
    assert [item["info"]["raas_unscored"] for item in items] == [[0.0], [0.0], [1.0]]
    assert [set(item["info"]) for item in items] == [set(items[0]["info"])] * 3


def test_reward_file_sends_the_counted_step(driver: Driver, server: LiveServer) -> None:
    """The reward file as OpenRLHF loads and calls it (one sample a call): with
    ``RAAS_TOTAL_STEPS`` 30 and 2 samples a step, detection's dynamic IoU threshold rises from
    0.85 to 0.95 at step 4 (r > 0.1), and a box of IoU 0.9 stops being a match."""
    label = {"verifier": "detection", "ground_truth": [{"bbox_2d": [0, 0, 100, 100], "label": "c"}]}
    box = '<answer>[{"bbox_2d": [0, 0, 100, 90], "label": "c"}]</answer>'
    rows = [{"input": "Find the cat.", "label": label, "turns": [box]}] * 10
    body = {"reward_module": "trainer_client.openrlhf", "rows": rows}
    env = {"RAAS_URL": server.url, "RAAS_TOTAL_STEPS": "30", "RAAS_SAMPLES_PER_STEP": "2"}
    report = driver("openrlhf", "openrlhf_rollout.py", json.dumps(body), env=env)
    scores = [item["score"][0] for item in report["items"]]
    assert scores == [pytest.approx(0.93, abs=0.005)] * 8 + [0.0, 0.0]


def test_a_key_in_the_url_passes_openrlhfs_client(driver: Driver) -> None:
    """OpenRLHF's aiohttp client turns ``http://user:key@host`` into Basic auth, which raas
    takes as its API key (``RAAS_API_KEYS``)."""
    key = "trainer-key-0123456789"
    keyed = LiveServer.start(RAAS_API_KEYS=key)
    try:
        url = keyed.url.replace("http://", f"http://raas:{key}@") + "/get_reward"
        rows = [{"input": "What is 2+2?", "label": "4", "turns": ["\\boxed{4}"]}]
        body = json.dumps({"remote_url": [url], "rows": rows})
        report = driver("openrlhf", "openrlhf_rollout.py", body)
        assert [item["reward"][0] for item in report["items"]] == [1.0]
        assert counted(keyed, "raas_samples_total", data_source="openrlhf") == 1
    finally:
        keyed.stop()
