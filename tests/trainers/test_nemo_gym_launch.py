"""raas as the verifier of a launched NeMo Gym 0.7.0 run (``drivers/nemo_gym_launch.py``): NeMo
Gym's own launcher (``RunHelper``, what ``gym env start`` and NeMo RL's NemoGym actor run) starts
raas-client's resources server from the README's config and search root, and NeMo Gym's rollout
collection (NeMo RL's ``run_rollouts``) scores rows through the agent, the server and raas.

raas's counters rise by the rows; each reward equals raas's ``/reward`` answer for the sample the
README's mapping makes of that rollout; the row a raas cannot score is masked; a row raas refuses
fails its rollout with raas's reason. The README's former config (raas's own host and port) is
refused by NeMo Gym's parser with ``ServerRefNotFoundError``: the failure this server removes.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from devtools import trainer_envs
from devtools.live import LiveServer
from reward_service.compat.nemo_gym import response_text
from tests.trainers.conftest import Driver, counted, raas_results, requests_to
from tests.trainers.nemo_gym_data import DIRECT_CONFIG, PNG, ROUTES, THINKING
from tests.trainers.nemo_gym_data import user as row_of
from tests.trainers.readme import readme_block

KEY = "nemo-gym-launch-key-0123456789"
AGENT = {"type": "responses_api_agents", "name": "raas_simple_agent"}
# the servers the README's config starts: each one's .venv is the nemo_gym environment
SERVERS = [
    ["resources_servers", "raas"],
    ["responses_api_agents", "simple_agent"],
    ["responses_api_models", "vllm_model"],
    ["environment_servers", "legacy_agent"],
]
MODEL_CONFIG = "responses_api_models/vllm_model/configs/vllm_model_for_training.yaml"
# what the README gave before (raas's host and port), which NeMo Gym's launcher refuses
OLD_CONFIG = DIRECT_CONFIG


def user(text: str, *images: str) -> dict[str, Any]:
    return row_of(text, *images, agent=AGENT)


def turn(content: str | None, reasoning: str | None = None, **more: Any) -> dict[str, Any]:
    """One answer of the policy (vLLM's chat completion message)."""
    return {"content": content, "reasoning": reasoning, **more}


CALCULATOR = [
    {"id": "call_1", "type": "function", "function": {"name": "calculator", "arguments": "{}"}}
]
README_ROW = json.loads(readme_block("nemo-gym-row"))
# (row, the policy's turns, the raas sample the README's mapping makes of the rollout)
CASES = [
    (  # the README's row
        README_ROW,
        [turn("\\boxed{4}", "2+2=4")],
        {
            "data_source": "gsm8k",
            "prompt": "What is 2+2? Put the answer in \\boxed{}.",
            "verifier": "math",
            "ground_truth": "4",
            "response": "<think>\n2+2=4\n</think>\n\\boxed{4}",
        },
    ),
    (  # NeMo Gym's math dataset row as it is: routed by data_source nemo_gym
        {**user("How many? Put the answer in \\boxed{}."), "expected_answer": "32"},
        [turn("So \\boxed{32}.", THINKING)],
        {
            "data_source": "nemo_gym",
            "prompt": "How many? Put the answer in \\boxed{}.",
            "response": f"<think>\n{THINKING}\n</think>\nSo \\boxed{{32}}.",
            "ground_truth": "32",
        },
    ),
    (  # a format checker: components are the weighted shares
        {
            **user("2+2?"),
            "data_source": "gym-fmt",
            "verifier": "math",
            "ground_truth": "4",
            "format": "think_answer",
            "weights": {"accuracy": 1.0, "format": 0.5},
        },
        [turn("<answer>\n\\boxed{4}\n</answer>", "2+2=4")],
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
        [turn("Let me compute \\boxed{99}", tool_calls=CALCULATOR), turn("\\boxed{7}")],
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
        [turn("\\boxed{1}")],
        {
            "data_source": "nemo_gym",
            "prompt": "?",
            "response": "\\boxed{1}",
            "ground_truth": "no-math-here ???",
        },
    ),
    (  # an image: the route's image variant scores it
        {**user("Which?", PNG), "data_source": "gym-vis", "ground_truth": "B"},
        [turn("<answer>B</answer>")],
        {
            "data_source": "gym-vis",
            "prompt": "Which?",
            "response": "<answer>B</answer>",
            "ground_truth": "B",
            "images": [PNG],
        },
    ),
]
REFUSED = {**user("5+5?"), "verifier": "no-such-verifier", "ground_truth": "10"}
REFUSED_TURNS = [turn("\\boxed{10}")]


@pytest.fixture(scope="module")
def live() -> Any:
    server = LiveServer.start(RAAS_ROUTES=ROUTES, RAAS_POOL_WORKERS="1", RAAS_API_KEYS=KEY)
    yield server
    server.stop()


def search_root_env(tmp_path: Path) -> dict[str, str]:
    """The README's exports, run by bash with the nemo_gym environment's ``python`` on PATH
    (from another folder, so that the installed raas-client answers, not this checkout)."""
    python = trainer_envs.ensure("nemo_gym")
    script = readme_block("nemo-gym-search-root") + 'printf %s "$NEMO_GYM_EXTRA_ROOTS"\n'
    env = {"PATH": f"{python.parent}:{os.environ['PATH']}", "HOME": str(tmp_path)}
    done = subprocess.run(
        ["bash", "-euc", script], capture_output=True, text=True, env=env, cwd=tmp_path, check=True
    )
    return {"NEMO_GYM_EXTRA_ROOTS": done.stdout, "RAAS_API_KEY": KEY}


def prompt_text(row: dict[str, Any]) -> str:
    content = row["responses_create_params"]["input"][0]["content"]
    return content if isinstance(content, str) else str(content[0]["text"])


def reward(server: LiveServer, samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return raas_results(server, samples, key=KEY)


def launch(live: LiveServer, driver: Driver, tmp_path: Path) -> dict[str, Any]:
    rows = [{**row, "case": i} for i, (row, *_) in enumerate(CASES)]
    turns = {prompt_text(row): outputs for row, outputs, _ in CASES}
    job = {
        "readme_config": readme_block("nemo-rl-nemo-gym"),
        "url": live.url,
        "rows": rows,
        "turns": turns | {prompt_text(REFUSED): REFUSED_TURNS},
        "refused_rows": [REFUSED],
        "servers": SERVERS,
        "workdir": str(tmp_path),
        "old_config": OLD_CONFIG,
        "model_config": MODEL_CONFIG,
    }
    return driver("nemo_gym", "nemo_gym_launch.py", json.dumps(job), env=search_root_env(tmp_path))


def test_launched_nemo_gym_run_scores_on_raas(
    live: LiveServer, driver: Driver, tmp_path: Path
) -> None:
    before = (
        requests_to(live, "/verify"),
        counted(live, "raas_samples_total", verifier="choice"),
        counted(live, "raas_samples_total", data_source="nemo_gym"),
    )
    got = launch(live, driver, tmp_path)
    # NeMo Gym started raas's server from raas-client's folder, with the README's settings
    assert {"raas", "raas_simple_agent", "raas_environment_server", "policy_model"} <= set(
        got["servers"]
    )
    entry = got["raas_entry"]
    assert (entry["entrypoint"], entry["domain"], entry["raas_url"]) == ("app.py", "math", live.url)
    assert entry["num_workers"] == 2
    assert entry["raas_api_key"] is True  # read from RAAS_API_KEY: raas refuses calls without it
    # every rollout reached raas's /verify, and only those
    assert requests_to(live, "/verify") - before[0] == len(CASES)
    assert counted(live, "raas_samples_total", data_source="nemo_gym") - before[2] == 2
    assert counted(live, "raas_samples_total", verifier="choice") - before[1] == 1  # the image
    results = got["results"]
    # raas saw the rollout as the README says: reasoning in <think> tags, the final turn only
    for result, (*_, sample) in zip(results, CASES, strict=True):
        assert response_text(result["response"]["output"]) == sample["response"]
    expected = reward(live, [sample for *_, sample in CASES])
    for result, want in zip(results, expected, strict=True):
        assert result["raas_status"] == want["status"]
        assert result["reward"] == (want["reward"] if want["status"] == "ok" else 0.0)
        assert sum(result["reward_components"].values()) == pytest.approx(result["reward"])
        assert result["mask_sample"] is (want["status"] != "ok")
    assert [r["reward"] for r in results] == [1.0, 1.0, pytest.approx(1.0), 1.0, 0.0, 1.0]
    assert results[2]["reward_components"] == {
        "accuracy": pytest.approx(1 / 1.5),
        "format": pytest.approx(0.5 / 1.5),
    }
    assert results[4]["failure_kind"] == "raas:invalid_input"
    assert results[4]["failure_reason"]
    assert results[1]["expected_answer"] == "32"  # the row comes back with the verdict
    # a row raas refuses fails its rollout, with raas's reason
    [refused] = got["refused"]
    assert "no-such-verifier" in refused
    assert "ServerRefNotFoundError" not in refused
    # the config the README gave before: NeMo Gym's launcher refuses it
    old = got["refusals"]["old_config"]
    assert old.startswith("ServerRefNotFoundError")
    assert "references resources_servers/'raas', which is not defined" in old
    # the shipped config without raas's URL: refused before anything starts, naming the setting
    missing = got["refusals"]["without_raas_url"]
    assert missing.startswith("ConfigMissingValuesError")
    assert "++raas.resources_servers.raas.raas_url=<value>" in missing


def test_raas_server_retries_overload_and_fails_loud(live: LiveServer, driver: Driver) -> None:
    """raas-client's server itself (``drivers/nemo_gym_raas_server.py``): a 503 with Retry-After
    is retried and the verdict is raas's; a raas that cannot be reached, or that refuses the key,
    gives no reward at all but an error naming it."""
    row, turns, sample = CASES[2]
    output = [
        {"id": "rs", "type": "reasoning", "summary": [{"type": "summary_text", "text": "2+2=4"}]},
        {
            "id": "msg",
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "annotations": [], "text": turns[0]["content"]}],
        },
    ]
    body = {k: v for k, v in row.items() if k != "agent_ref"} | {
        "response": {
            "id": "r",
            "created_at": 0.0,
            "model": "policy",
            "object": "response",
            "output": output,
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
        }
    }
    before = requests_to(live, "/verify")
    got = driver(
        "nemo_gym",
        "nemo_gym_raas_server.py",
        json.dumps({"url": live.url, "key": KEY, "body": body}),
    )
    retried = got["retried"]
    assert (retried["status"], retried["front_calls"]) == (200, 2)
    [want] = reward(live, [sample])
    answer = json.loads(retried["body"])
    assert (answer["reward"], answer["raas_status"]) == (want["reward"], "ok")
    assert answer["reward_components"] == {
        "accuracy": pytest.approx(1 / 1.5),
        "format": pytest.approx(0.5 / 1.5),
    }
    assert requests_to(live, "/verify") - before == 1  # the retry, not the 503, reached raas
    unreachable = got["unreachable"]
    assert unreachable["status"] == 502
    assert unreachable["url"] in unreachable["body"]
    assert "reward" not in json.loads(unreachable["body"])
    wrong_key = got["wrong_key"]
    assert wrong_key["status"] == 401
    assert "raas" in json.loads(wrong_key["body"])["detail"]
