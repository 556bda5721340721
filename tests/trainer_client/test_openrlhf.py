"""OpenRLHF's Python-file reward mode: ``trainer_client/openrlhf.py`` loaded by path as OpenRLHF
loads it, called one sample at a time as its vLLM engine actors call it, against a live server."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

import trainer_client.openrlhf
from devtools.live import LiveServer
from tests.trainer_client.by_path import load_by_path
from trainer_client.openrlhf import OpenRLHFReward

RewardFunc = Callable[[list[str], list[str], list[Any]], dict[str, Any]]
# a box of IoU 0.9: right while detection's dynamic τ is 0.85 (r ≤ 0.1), wrong at 0.95
LABEL = {"verifier": "detection", "ground_truth": [{"bbox_2d": [0, 0, 100, 100], "label": "c"}]}
PROMPT = "Find the cat. "
QUERY = PROMPT + '<answer>[{"bbox_2d": [0, 0, 100, 90], "label": "c"}]</answer>'
EARLY = pytest.approx(0.93)


@pytest.fixture
def loaded() -> Iterator[list[ModuleType]]:
    """The modules loaded in a test; their clients closed after it."""
    modules: list[ModuleType] = []
    yield modules
    for module in modules:
        for reward in module._rewards.values():
            reward.close()


def load_as_openrlhf_does(loaded: list[ModuleType]) -> RewardFunc:
    """``SingleTurnAgentExecutor``: ``spec_from_file_location("reward_func", path)``."""
    module = load_by_path(trainer_client.openrlhf.__file__, "reward_func")
    loaded.append(module)
    func: RewardFunc = module.reward_func
    return func


def test_reward_func_run_advances_the_schedule(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch, loaded: list[ModuleType]
) -> None:
    for name, value in {"RAAS_URL": server.url, "RAAS_TOTAL_STEPS": "30",
                        "RAAS_SAMPLES_PER_STEP": "2"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    reward_func = load_as_openrlhf_does(loaded)
    scores = [reward_func([QUERY], [PROMPT], [LABEL])["scores"][0] for _ in range(8)]
    # steps 0, 0, 1, 1, 2, 2, 3, 3 of 30: r ≤ 0.1 (τ 0.85) up to step 3 …
    assert scores == [EARLY] * 8
    # … and a second load of the file (another executor in this process) shares the count
    more = [load_as_openrlhf_does(loaded)([QUERY], [PROMPT], [LABEL]) for _ in range(2)]
    assert [m["scores"][0] for m in more] == [0.0, 0.0]  # step 4: r 0.13, τ 0.95
    assert set(more[0]) >= {"rewards", "scores", "extra_logs"}
    json.dumps(more[0])  # plain lists, as /get_reward answers OpenRLHF's HTTP mode


def test_without_total_steps_no_step_is_sent(server: LiveServer) -> None:
    reward = OpenRLHFReward(server.url)
    assert reward.body([QUERY], [PROMPT], [LABEL]) == {
        "query": [QUERY], "prompts": [PROMPT], "labels": [LABEL],
    }  # fmt: skip
    try:
        assert reward([QUERY] * 2, [PROMPT] * 2, [LABEL] * 2)["scores"] == [EARLY, EARLY]
    finally:
        reward.close()
    with pytest.raises(ValueError, match="RAAS_SAMPLES_PER_STEP"):
        OpenRLHFReward(server.url, total_steps=10)
