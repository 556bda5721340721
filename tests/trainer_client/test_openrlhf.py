"""``trainer_client/openrlhf.py``, OpenRLHF's reward file, against a live server: its body, its
step count across loads of the file, and the logs its agent gives unscored turns. OpenRLHF's own
loader and executors run it in ``tests/trainers/test_openrlhf.py``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

import trainer_client.openrlhf
from devtools.live import LiveServer
from tests.trainer_client.by_path import load_by_path
from trainer_client.openrlhf import UNSCORED_LOGS, OpenRLHFReward

RewardFunc = Callable[..., dict[str, Any]]
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


def load_by_path_again(loaded: list[ModuleType]) -> RewardFunc:
    """A fresh module from the file, not in ``sys.modules``, as each executor loads it."""
    module = load_by_path(trainer_client.openrlhf.__file__, "reward_func")
    loaded.append(module)
    func: RewardFunc = module.reward_func
    return func


def test_loads_of_the_file_in_one_process_share_the_step_count(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch, loaded: list[ModuleType]
) -> None:
    for name, value in {
        "RAAS_URL": server.url,
        "RAAS_TOTAL_STEPS": "30",
        "RAAS_SAMPLES_PER_STEP": "2",
    }.items():
        monkeypatch.setenv(name, value)
    reward_func = load_by_path_again(loaded)
    scores = [reward_func([QUERY], [PROMPT], [LABEL])["scores"][0] for _ in range(8)]
    # steps 0, 0, 1, 1, 2, 2, 3, 3 of 30: r ≤ 0.1 (τ 0.85) up to step 3 …
    assert scores == [EARLY] * 8
    # … and a second load of the file (another executor in this process) shares the count
    # (a keyword argument, as a later OpenRLHF may pass one, is taken and ignored)
    more = [load_by_path_again(loaded)([QUERY], [PROMPT], [LABEL], extra=1) for _ in range(2)]
    assert [m["scores"][0] for m in more] == [0.0, 0.0]  # step 4: r 0.13, τ 0.95
    assert set(more[0]) >= {"rewards", "scores", "extra_logs"}
    json.dumps(more[0])  # plain lists, as /get_reward answers OpenRLHF's HTTP mode


def test_without_total_steps_no_step_is_sent(server: LiveServer) -> None:
    reward = OpenRLHFReward(server.url)
    assert reward.body([QUERY], [PROMPT], [LABEL]) == {
        "query": [QUERY],
        "prompts": [PROMPT],
        "labels": [LABEL],
    }
    try:
        assert reward([QUERY] * 2, [PROMPT] * 2, [LABEL] * 2)["scores"] == [EARLY, EARLY]
    finally:
        reward.close()
    with pytest.raises(ValueError, match="RAAS_SAMPLES_PER_STEP"):
        OpenRLHFReward(server.url, total_steps=10)


def test_unscored_logs_are_those_get_reward_answers(server: LiveServer) -> None:
    """The agent's logs for a turn it does not send equal ``/get_reward``'s for a sample raas
    could not score: OpenRLHF batches both kinds of sample by these keys."""
    reward = OpenRLHFReward(server.url)
    try:
        answer = reward(["\\boxed{1}"], [""], ["no-math-here ???"])
    finally:
        reward.close()
    assert answer["status"] == ["invalid_input"]
    assert {key: values[0] for key, values in answer["extra_logs"].items()} == UNSCORED_LOGS
