"""The TRL adapter: TRL's own ``GRPOTrainer`` running real steps on CPU with raas rewards."""

from __future__ import annotations

import asyncio
import json
import logging
import pickle
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import numpy as np
import pytest
from datasets import Dataset
from PIL import Image
from trl import GRPOConfig, GRPOTrainer
from trl.trainer.utils import is_async_callable

from devtools.live import LiveServer
from devtools.toy import arithmetic_rows, build_model, build_tokenizer
from trainer_client import AsyncRaasRewardFunction, RaasRewardFunction


def samples_scored(url: str, source: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    pattern = rf'^raas_samples_total\{{[^}}]*data_source="{source}"[^}}]*\}} (\S+)$'
    return sum(float(v) for v in re.findall(pattern, text, re.M))


# TRL 1.16 still calls transformers 5's deprecated gradient-checkpointing aliases: not ours
@pytest.mark.filterwarnings("ignore:.*deprecated and will be removed in v6:FutureWarning")
def test_grpo_trainer_runs_real_steps_with_raas(server: LiveServer, tmp_path: Path) -> None:
    tokenizer = build_tokenizer()
    rows = [{**row, "data_source": "trl_test"} for row in arithmetic_rows()[:16]]
    reward = RaasRewardFunction(server.url, max_completion_length=8)
    args = GRPOConfig(
        output_dir=str(tmp_path),
        max_steps=2,
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=8,
        learning_rate=1e-3,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        seed=0,
        activation_checkpointing=False,  # TRL defaults the deprecated alias on; tiny model anyway
    )
    trainer = GRPOTrainer(
        model=build_model(tokenizer),
        reward_funcs=reward,
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
    )
    before = samples_scored(server.url, "trl_test")
    trainer.train()
    assert trainer.state.global_step == 2
    logged = [entry for entry in trainer.state.log_history if "rewards/raas/mean" in entry]
    assert len(logged) == 2  # TRL logged our reward each step …
    assert all(0.0 <= entry["rewards/raas/mean"] <= 1.0 for entry in logged)
    assert samples_scored(server.url, "trl_test") - before == 2 * 4  # … which raas scored
    curves = [entry for entry in trainer.state.log_history if "raas/reward/trl_test" in entry]
    assert len(curves) == 2  # and the per-source summary reached TRL's logs
    assert all("raas/reflection_ratio/trl_test" in entry for entry in curves)
    # each sample said whether TRL cut it at max_completion_length
    assert all(0.0 <= entry["raas/truncated_ratio/trl_test"] <= 1.0 for entry in curves)


@pytest.mark.parametrize(
    ("limit", "ids", "expected"),
    [
        (3, [[1, 2, 3], [1, 2], [1, 2, 3]], [True, False, True]),  # filled the length: cut
        (None, [[1, 2, 3], [1], [1]], [None, None, None]),  # no limit given: not said
        (3, None, [None, None, None]),  # TRL passed no ids
        (3, [[1, 2, 3]], [None, None, None]),  # not one per completion: not guessed
    ],
)
def test_truncated_from_completion_ids(
    limit: int | None, ids: list[list[int]] | None, expected: list[bool | None]
) -> None:
    reward = RaasRewardFunction("http://unused", max_completion_length=limit)
    columns: dict[str, Any] = {"ground_truth": ["4"] * 3}
    if ids is not None:
        columns["completion_ids"] = ids
    call = reward.prepare(["p"] * 3, ["a", "b", "c"], columns)
    assert [sample.get("truncated") for sample in call.samples] == expected


def test_rows_carry_their_own_spec_and_conversations_are_read(server: LiveServer) -> None:
    reward = RaasRewardFunction(server.url, name="mixed")
    metrics: dict[str, float] = {}
    completions = [
        [{"role": "assistant", "content": "so \\boxed{4}"}],
        [{"role": "assistant", "content": [{"type": "text", "text": "<answer>B</answer>"}]}],
        [{"role": "assistant", "content": "\\boxed{4}"}],
    ]
    rewards = reward(
        prompts=[[{"role": "user", "content": "q"}]] * 3,
        completions=completions,
        completion_ids=[[1], [2], [3]],
        verifier=["math", "choice", "math"],
        solution=["4", "B", "no-math ???"],  # TRL's examples call the answer "solution"
        params=[{}, {"unused_struct_key": None}, None],  # a datasets struct fills in None
        trainer_state=SimpleNamespace(global_step=3, max_steps=10),
        log_metric=metrics.__setitem__,
        log_extra=lambda *_: None,
    )
    assert rewards == [1.0, 1.0, None]  # None: TRL masks it (NaN), never a silent 0
    assert metrics["mixed/unscored_fraction"] == pytest.approx(1 / 3)
    assert metrics["mixed/unscored/trl"] == pytest.approx(1 / 3)  # the per-source curves
    assert metrics["mixed/reward/trl"] == 1.0
    assert metrics["mixed/accuracy/trl"] == 1.0
    assert metrics["mixed/response_length/trl"] == pytest.approx((12 + 18 + 9) / 3)
    assert reward.__name__ == "mixed"


def test_picklable_and_reconnects_in_the_new_process(server: LiveServer) -> None:
    reward = RaasRewardFunction(
        server.url,
        params={},
        weights={"accuracy": 1.0, "format": 1.0},
        format_checker="think_answer",
    )
    call: dict[str, Any] = {"prompts": ["p"], "completions": ["\\boxed{4}"], "ground_truth": ["4"]}
    first = reward(**call)
    clone = pickle.loads(pickle.dumps(reward))
    assert clone._local is None  # configuration travels, the live pool does not
    assert clone(**call) == first == [pytest.approx(0.5)]  # accuracy 1, format 0


def test_tokenizer_logs_no_warnings(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        tokenizer = build_tokenizer()
        ids = tokenizer("7+5=\\boxed{12}", add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == "7+5=\\boxed{12}"
    assert len(ids) == 4 + 1 + 2 + 1  # "\\boxed{" is one token


def test_async_function_sends_what_the_sync_one_sends(server: LiveServer) -> None:
    """TRL awaits the async one (``is_async_callable``) and calls the other; same answers."""
    thought = {"role": "assistant", "content": "\\boxed{4}", "reasoning_content": "2+2"}
    rows: dict[str, Any] = {
        "prompts": [[{"role": "user", "content": "q"}]] * 3,
        "completions": [[thought], [{"role": "assistant", "content": "\\boxed{5}"}], "\\boxed{4}"],
        "ground_truth": ["4", "4", "4"],
        "trainer_state": SimpleNamespace(global_step=1, max_steps=2),
    }
    sync, asynchronous = RaasRewardFunction(server.url), AsyncRaasRewardFunction(server.url)
    assert not is_async_callable(sync)
    assert is_async_callable(asynchronous)
    awaited = asyncio.run(asynchronous(**rows))
    assert awaited == sync(**rows) == [1.0, 0.0, 1.0]


def test_a_sample_that_cannot_be_sent_is_none_and_named(
    server: LiveServer, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    big = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    reward = RaasRewardFunction(server.url, max_image_bytes=4096)  # big's PNG is ~12 kB
    extra: dict[str, list[Any]] = {}
    metrics: dict[str, float] = {}
    state = SimpleNamespace(global_step=0, max_steps=1)
    with caplog.at_level(logging.WARNING, logger="trainer_client.trl"):
        rewards = reward(
            prompts=["p"] * 3,
            completions=["\\boxed{4}"] * 3,
            image=[None, big, None],
            ground_truth=["4", "4", "no-math ???"],
            log_extra=extra.__setitem__,
            trainer_state=state,
            log_metric=metrics.__setitem__,
        )
    assert rewards == [1.0, None, None]  # the others are still scored
    assert "1 of 3 samples not sent to raas (reward None); sample 1: Image" in caplog.text
    assert extra["raas_status"][0] == "ok"
    assert extra["raas_status"][1].startswith("not sent: ImageEncodingError: image of")
    assert extra["raas_status"][2].startswith("invalid_input: ")
    assert metrics["raas/unscored_fraction"] == pytest.approx(2 / 3)


def test_without_trainer_state_or_log_metric_it_says_so_once(
    server: LiveServer, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """What AsyncGRPOTrainer passes: no trainer state, no log_metric. Without a step count the
    schedule stays at its first value (the dynamic IoU threshold at its start), and the warning
    says so once per process; the curves go to the log and the summary file."""
    path = tmp_path / "curves.jsonl"
    reward = RaasRewardFunction(
        server.url,
        verifier="iou",
        params={"threshold": "dynamic"},
        data_source="det",
        summary_path=str(path),
    )
    with caplog.at_level(logging.INFO, logger="trainer_client.trl"):
        for _ in range(3):
            assert reward(
                prompts=["p"],
                completions=["[0, 0, 10, 9]"],
                ground_truth=[[0, 0, 10, 10]],
                completion_ids=[[1]],
            ) == [0.9]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2, warnings
    assert "no trainer_state" in warnings[0]
    assert "set total_steps= and samples_per_step=" in warnings[0]
    assert "no log_metric" in warnings[1]
    assert str(path) in warnings[1]
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["step"] for line in lines] == [None] * 3
    assert [line["raas/threshold/det"] for line in lines] == [0.85] * 3  # the first value
    assert (
        sum(
            "raas train step None: raas/unscored_fraction=0" in r.getMessage()
            for r in caplog.records
        )
        == 3
    )
    clone = pickle.loads(pickle.dumps(reward))  # a spawned rollout process warns again, once
    with caplog.at_level(logging.WARNING, logger="trainer_client.trl"):
        caplog.clear()
        clone(prompts=["p"], completions=["[0, 0, 10, 9]"], ground_truth=[[0, 0, 10, 10]])
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2
