"""The verl adapter's own rules, and ``compute_score`` against a live server called the way
verl 0.9.1's ``naive`` manager awaits it (keyword arguments, ``reward_kwargs`` merged in).

verl itself runs in ``tests/trainers/test_verl.py``; these tests need no verl."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import numpy as np
import pytest

from devtools.live import LiveServer
from tests.trainers.conftest import requests_to
from trainer_client import RequestRejectedError, RewardServiceError, ScoredSample, compute_score
from trainer_client.verl import (
    DATA_SOURCE_VERIFIERS,
    VerlSettings,
    plain,
    reward_of,
    rollout_step,
    verl_sample,
)

BOXED_HALF = "so \\boxed{\\frac{1}{2}}"


@pytest.mark.parametrize(
    ("sources", "step"),
    [
        (({"global_steps": 3},), 3),
        (({"global_steps": np.int64(7)},), 7),  # a numpy column value
        (({"global_steps": np.array(5)},), 5),
        (({"global_steps": None}, {"global_steps": 2}), 2),  # the first that has one
        (({"global_steps": 4}, {"global_steps": 9}), 4),  # the rollout's own before the column
        (({"global_steps": -1},), None),  # verl's "unknown" marker is no step
        (({"global_steps": True},), None),
        (({"global_steps": "3"},), None),
        ((None, {}), None),
        ((), None),
    ],
)
def test_the_step_is_what_verl_stamped(sources: tuple[Any, ...], step: int | None) -> None:
    assert rollout_step(*sources) == step


@pytest.mark.parametrize(
    ("result", "reward", "info"),
    [
        (
            ScoredSample(0.95, "ok", {"accuracy": 1.0, "format": 0.5}),
            0.95,
            {"acc": 1.0, "format": 0.5, "raas_ok": 1.0},
        ),
        (
            ScoredSample(0.0, "ok", {"accuracy": 0.0}),
            0.0,
            {"acc": 0.0, "format": 0.0, "raas_ok": 1.0},
        ),  # no format check: 0, key still there
        (
            ScoredSample(None, "invalid_input", error="bad"),
            0.0,
            {"acc": 0.0, "format": 0.0, "raas_ok": 0.0},
        ),
        (
            ScoredSample(None, "timeout", error="slow"),
            0.0,
            {"acc": 0.0, "format": 0.0, "raas_ok": 0.0},
        ),
    ],
)
def test_every_sample_gets_the_same_keys(
    result: ScoredSample, reward: float, info: dict[str, float]
) -> None:
    assert reward_of(result, VerlSettings()) == (reward, info)


def test_failure_score_and_raise() -> None:
    failed = ScoredSample(None, "error", error="grader broke")
    assert reward_of(failed, VerlSettings(failure_score=-1.0))[0] == -1.0
    with pytest.raises(RewardServiceError, match="grader broke"):
        reward_of(failed, VerlSettings(on_failure="raise"))


@pytest.mark.parametrize(
    ("values", "error"),
    [
        ({"url": "http://x", "totalsteps": 10}, "totalsteps"),  # a typo is not ignored
        ({"on_failure": "skip"}, "on_failure"),
        ({"total_steps": 0}, "total_steps"),
        ({"reward_router_address": "x"}, "reward_router_address"),  # only compute_score's call
    ],
)
def test_settings_refuse_what_they_do_not_know(values: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        VerlSettings.of(values)


def test_settings_ignore_what_verl_adds_to_the_call() -> None:
    values = {"total_steps": 460, "reward_router_address": "10.0.0.1:80"}
    assert VerlSettings.of(values, ignore={"reward_router_address"}).total_steps == 460


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            np.array([{"bbox_2d": np.array([1, 2, 3, 4]), "label": np.str_("cat")}], dtype=object),
            [{"bbox_2d": [1, 2, 3, 4], "label": "cat"}],
        ),  # a parquet list-of-struct column
        (np.float32(0.5), 0.5),
        ({"a": (np.int64(1), "b")}, {"a": [1, "b"]}),
        ("4", "4"),
        (None, None),
    ],
)
def test_plain_values_for_the_wire(value: Any, expected: Any) -> None:
    assert plain(value) == expected


def test_a_verl_row_as_a_raas_sample() -> None:
    messages = np.array(
        [
            {"role": "system", "content": "Box your answer."},
            {
                "role": "user",
                "content": [
                    {"type": "image", "bytes": b"\x89PNG\r\n\x1a\nx"},
                    {"type": "text", "text": "How many cats?"},
                ],
            },
        ],
        dtype=object,
    )
    extra = {"verifier": "counting", "params": {"tolerance": 0}, "split": "train", "index": 3}
    sample = verl_sample(np.str_("cats"), "3", np.str_("3"), extra, messages=messages)
    assert sample == {
        "data_source": "cats",
        "response": "3",
        "ground_truth": "3",
        "verifier": "counting",
        "params": {"tolerance": 0},
        "prompt": "How many cats?",
        "images": ["data:image/png;base64,iVBORw0KGgp4"],
    }
    assert verl_sample("lighteval/MATH", "x", "1", None)["verifier"] == "math"
    assert "verifier" not in verl_sample("my/source", "x", "1", None)  # left to the routes
    assert verl_sample("my/source", "x", "1", None, "math")["verifier"] == "math"


@pytest.mark.parametrize(("truncated", "sent"), [(True, True), (False, False), (None, "absent")])
def test_the_manager_s_truncated_flag_is_sent(truncated: bool | None, sent: Any) -> None:
    """The reward manager knows whether the rollout filled the response width; ``compute_score``
    does not (verl passes it the text alone), so its samples leave the flag out."""
    sample = verl_sample("s", "x", "1", None, "math", truncated=truncated)
    assert sample.get("truncated", "absent") == sent


# --- compute_score, awaited as verl's naive manager awaits it -------------------------------------


def score(**kwargs: Any) -> Any:
    return asyncio.run(compute_score(**kwargs))


def test_per_sample_signature(server: LiveServer) -> None:
    result = score(
        data_source="lighteval/MATH",
        solution_str=BOXED_HALF,
        ground_truth="0.5",
        extra_info={"index": 3, "split": "train"},
        url=server.url,
    )
    assert result == {"score": 1.0, "acc": 1.0, "format": 0.0, "raas_ok": 1.0}
    assert DATA_SOURCE_VERIFIERS["lighteval/MATH"] == "math"
    bare = score(
        data_source="lighteval/MATH",
        solution_str=BOXED_HALF,
        ground_truth="0.5",
        url=server.url,
        return_dict=False,
    )
    assert bare == 1.0


def test_unknown_data_source_is_left_to_the_routes(server: LiveServer) -> None:
    """No verifier found here: the sample goes without one, and a raas without routes refuses
    it by name (``tests/routing/test_routes.py`` scores one through routes)."""
    with pytest.raises(RequestRejectedError, match="RAAS_ROUTES"):
        score(
            data_source="some/dataset", solution_str="\\boxed{1}", ground_truth="1", url=server.url
        )
    found = score(
        data_source="some/dataset",
        solution_str="\\boxed{1}",
        ground_truth="1",
        url=server.url,
        default_verifier="math",
    )
    assert found["score"] == 1.0


def test_unscorable_sample_policy(server: LiveServer, caplog: pytest.LogCaptureFixture) -> None:
    bad = {"data_source": "math_dapo", "solution_str": "\\boxed{1}", "ground_truth": "no-math ???"}
    with caplog.at_level(logging.WARNING, logger="trainer_client.verl"):
        result = score(**bad, url=server.url)  # verl cannot take None …
    assert result == {"score": 0.0, "acc": 0.0, "format": 0.0, "raas_ok": 0.0}
    assert "invalid_input" in caplog.text  # … so the 0 is flagged and logged, never silent
    assert score(**bad, url=server.url, failure_score=-1.0)["score"] == -1.0
    with pytest.raises(RewardServiceError, match="invalid_input"):
        score(**bad, url=server.url, on_failure="raise")


# A box of IoU 0.9 with its truth: right while detection's dynamic τ is 0.85 (r = step/total ≤
# 0.1), wrong once τ is 0.95 (r ≤ 0.25) — the reward shows which step reached the router.
TRUTH = [{"bbox_2d": [0, 0, 100, 100], "label": "cat"}]
BOX_IOU_09 = '<answer>[{"bbox_2d": [0, 0, 100, 90], "label": "cat"}]</answer>'
DETECTION = {"verifier": "detection", "params": {"iou_threshold": "dynamic"}, "split": "train"}


@pytest.mark.parametrize(
    ("rollout_fields", "reward"),
    [
        ({"global_steps": 0}, pytest.approx(0.93)),  # r = 0: τ 0.85
        ({"global_steps": 3}, 0.0),  # r = 0.3: τ 0.99
        ({}, pytest.approx(0.93)),  # no step (dapo, gdpo, a batch): the schedule's start
    ],
)
def test_the_step_comes_from_the_rollout(
    server: LiveServer, rollout_fields: dict[str, int], reward: Any
) -> None:
    """Under ``naive`` verl merges the streamed rollout's fields into ``extra_info``."""
    result = score(
        data_source="det",
        solution_str=BOX_IOU_09,
        ground_truth=TRUTH,
        extra_info={**DETECTION, **rollout_fields},
        url=server.url,
        total_steps=10,
    )
    assert result["score"] == reward


def test_concurrent_awaits_share_requests(server: LiveServer) -> None:
    """verl awaits one coroutine per sample; 300 awaited together are a couple of requests."""

    async def rollouts() -> list[Any]:
        calls = [
            compute_score(
                "math_dapo",
                f"\\boxed{{{i}}}",
                str(i if i % 3 else i + 1),
                {"split": "train"},
                url=server.url,
                return_dict=False,
            )
            for i in range(300)
        ]
        return await asyncio.gather(*calls)

    before = requests_to(server, "/reward")
    scores = asyncio.run(rollouts())
    assert scores == [0.0 if i % 3 == 0 else 1.0 for i in range(300)]
    assert requests_to(server, "/reward") - before == 2  # max_batch 256: 256 + 44
