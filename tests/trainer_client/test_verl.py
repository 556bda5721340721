"""The verl adapter against a live server, called the way verl's reward managers call it."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from devtools.live import LiveServer
from trainer_client import RewardServiceError, compute_score, compute_score_batch
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


def test_unknown_data_source_names_the_fixes(server: LiveServer) -> None:
    with pytest.raises(ValueError, match="extra_info\\['verifier'\\]"):
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
