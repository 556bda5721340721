"""The verl adapter against a live server, called the way verl's reward managers call it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import trainer_client.verl
from devtools.live import LiveServer
from tests.trainer_client.by_path import load_by_path
from trainer_client import (
    RequestRejectedError,
    RewardServiceError,
    compute_score,
    compute_score_batch,
)
from trainer_client.verl import DATA_SOURCE_VERIFIERS


def test_per_sample_signature(server: LiveServer) -> None:
    # NaiveRewardManager: keyword arguments, reward_kwargs appended
    score = compute_score(
        data_source="lighteval/MATH", solution_str="so \\boxed{\\frac{1}{2}}",
        ground_truth="0.5", extra_info={"index": 3, "split": "train"}, url=server.url,
    )  # fmt: skip
    assert score == 1.0
    assert DATA_SOURCE_VERIFIERS["lighteval/MATH"] == "math"


def test_batched_signature_with_sample_level_specs(server: LiveServer) -> None:
    # BatchRewardManager: parallel lists, numpy values straight out of a parquet dataset
    scores = compute_score_batch(
        data_sources=np.array(["math_dapo", "my_mc", "my_det"]),
        solution_strs=["\\boxed{4}", "<answer>B</answer>", "no box"],
        ground_truths=[np.str_("4"), "B", [{"bbox_2d": [0, 0, 10, 10], "label": "a"}]],
        extra_infos=[None, {"verifier": "choice"}, {"verifier": "detection",
                                                   "params": {"iou_threshold": 0.5}}],
        url=server.url,
    )  # fmt: skip
    assert scores == [1.0, 1.0, 0.0]


def test_unknown_data_source_is_left_to_the_routes(server: LiveServer) -> None:
    """No verifier found here: the sample goes without one, and a raas without routes refuses
    it by name (``tests/test_routes.py`` scores one through routes)."""
    with pytest.raises(RequestRejectedError, match="RAAS_ROUTES"):
        compute_score("some/dataset", "\\boxed{1}", "1", url=server.url)
    assert compute_score("some/dataset", "\\boxed{1}", "1", url=server.url,
                         default_verifier="math") == 1.0  # fmt: skip


def test_unscorable_sample_policy(server: LiveServer, caplog: pytest.LogCaptureFixture) -> None:
    bad = {"data_source": "math_dapo", "solution_str": "\\boxed{1}", "ground_truth": "no-math ???"}
    with caplog.at_level(logging.WARNING, logger="trainer_client.verl"):
        assert compute_score(**bad, url=server.url) == 0.0  # verl cannot take None …
    assert "invalid_input" in caplog.text  # … so the 0 is logged, never silent
    assert compute_score(**bad, url=server.url, failure_score=-1.0) == -1.0
    with pytest.raises(RewardServiceError, match="invalid_input"):
        compute_score(**bad, url=server.url, on_failure="raise")
    detailed = compute_score(**bad, url=server.url, return_dict=True)
    assert detailed == {"score": 0.0, "acc": 0.0, "raas_ok": False}


# A box of IoU 0.9 with its truth: right while detection's dynamic τ is 0.85 (r = step/total ≤
# 0.1), wrong once τ is 0.95 (r ≤ 0.25) — the reward shows which step reached the router.
TRUTH = [{"bbox_2d": [0, 0, 100, 100], "label": "cat"}]
BOX_IOU_09 = '<answer>[{"bbox_2d": [0, 0, 100, 90], "label": "cat"}]</answer>'
EARLY = pytest.approx(0.93)  # accuracy 1 at τ 0.85 less the box terms' shortfall


def detection_rows(split: str, count: int = 2) -> dict[str, list[Any]]:
    info = {"verifier": "detection", "params": {"iou_threshold": "dynamic"}, "split": split}
    return {
        "data_sources": ["det"] * count, "solution_strs": [BOX_IOU_09] * count,
        "ground_truths": [TRUTH] * count, "extra_infos": [dict(info) for _ in range(count)],
    }  # fmt: skip


def load_as_verl_does() -> Callable[..., list[Any]]:
    """verl's ``load_extern_object``: the file run as a fresh module, once per reward manager."""
    path = trainer_client.verl.__file__
    module = load_by_path(path, f"custom_module_{hash(path)}")
    function: Callable[..., list[Any]] = module.compute_score_batch
    return function


def test_batch_manager_run_advances_the_schedule(server: LiveServer) -> None:
    # verl passes no step: each training call of the batch manager is one step (its size is the
    # step's samples); validation rows (split "test", as verl's preprocessors write) read the
    # step without advancing it. reward_fn and val_reward_fn each load the file.
    reward_fn, val_reward_fn = load_as_verl_does(), load_as_verl_does()
    kwargs = {"url": server.url, "total_steps": 10}
    assert val_reward_fn(**detection_rows("test"), **kwargs) == [EARLY, EARLY]
    train, validation = [], []
    for _ in range(4):  # steps 0..3: r = 0, 0.1 (τ 0.85), 0.2, 0.3 (τ 0.95, 0.99)
        train.append(reward_fn(**detection_rows("train"), **kwargs)[0])
        validation.append(val_reward_fn(**detection_rows("test", 3), **kwargs)[0])
    assert train == [EARLY, EARLY, 0.0, 0.0]
    assert validation == [EARLY, 0.0, 0.0, 0.0]  # the step after each training call


def test_per_sample_manager_run_counts_samples(server: LiveServer) -> None:
    # naive / dapo / the reward loop: one sample per call, samples_per_step says how many a step is
    kwargs = {"url": server.url, "total_steps": 20, "samples_per_step": 3, "start_step": 1}
    rows = detection_rows("train", 1)
    row = {key[:-1]: values[0] for key, values in rows.items()}  # data_sources → data_source, …
    scores = [compute_score(**row, **kwargs) for _ in range(9)]
    # steps 1, 1, 1, 2, 2, 2, 3, 3, 3: r = 0.05, 0.1 (τ 0.85), then 0.15 (τ 0.95)
    assert scores == [EARLY] * 6 + [0.0] * 3
    with pytest.raises(ValueError, match="samples_per_step"):
        compute_score(**row, url=server.url, total_steps=20)


def test_an_explicit_step_is_sent_as_given(server: LiveServer) -> None:
    rows = detection_rows("train")
    assert compute_score_batch(**rows, url=server.url, step=1, total_steps=10) == [EARLY, EARLY]
    assert compute_score_batch(**rows, url=server.url, step=3, total_steps=10) == [0.0, 0.0]
    assert compute_score_batch(**rows, url=server.url) == [EARLY, EARLY]  # no step: r = 0
