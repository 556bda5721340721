"""``raas-train``: the GRPO loss, its data rows, and a short real run against a live server."""

from __future__ import annotations

import json
import math
import re
import shlex
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from devtools.live import LiveServer
from devtools.toy import arithmetic_rows, build_model, build_tokenizer, grounding_rows, save_toy
from tests.trainers.readme import readme_block
from trainer_client.client import ScoredSample
from trainer_client.grpo.cli import main
from trainer_client.grpo.config import GRPOConfig
from trainer_client.grpo.data import load_rows, reward_sample
from trainer_client.grpo.loss import (
    group_advantages,
    has_signal,
    make_batch,
    policy_loss,
    token_logprobs,
)
from trainer_client.grpo.metrics import read_log
from trainer_client.grpo.refill import Collected, collect, refill_size
from trainer_client.grpo.rollout import Rollout
from trainer_client.grpo.trainer import Group, GRPOTrainer


class TestAdvantages:
    def test_group_normalised(self) -> None:
        advantages = group_advantages([1.0, 0.0, 0.0, 1.0], eps=0.0)
        std = math.sqrt(1 / 3)  # Bessel-corrected std of [1, 0, 0, 1]
        assert advantages == pytest.approx([0.5 / std, -0.5 / std, -0.5 / std, 0.5 / std])

    def test_unscored_rollouts_are_masked_not_punished(self) -> None:
        advantages = group_advantages([1.0, None, 0.0], eps=1e-6)
        assert advantages[1] is None
        assert advantages[0] == pytest.approx(-advantages[2])  # type: ignore[operator]

    def test_dynamic_sampling_signal(self) -> None:
        assert has_signal([0.0, 1.0, None])
        assert not has_signal([1.0, 1.0, 1.0])  # all right: nothing to learn
        assert not has_signal([0.0, None, None])  # one scored rollout: no comparison
        assert group_advantages([1.0, 1.0], eps=1e-6) == [0.0, 0.0]


def scored_group(*outcomes: tuple[float, float]) -> Group:
    """A group of (accuracy, format) rollouts, combined 0.9/0.1 as a reward spec would."""
    results = [
        ScoredSample(0.9 * acc + 0.1 * fmt, "ok", {"accuracy": acc, "format": fmt})
        for acc, fmt in outcomes
    ]
    return Group({}, "p", [Rollout([1], [2], "x", False) for _ in outcomes], results)


class TestDynamicSampling:
    def test_the_filter_looks_at_accuracy_not_the_reward(self) -> None:
        all_wrong = scored_group((0.0, 1.0), (0.0, 0.0), (0.0, 0.5))
        assert has_signal(all_wrong.rewards)  # the format term makes the rewards differ …
        assert not all_wrong.has_signal  # … but nothing was right: no signal
        assert scored_group((1.0, 1.0), (0.0, 1.0)).has_signal
        unscored = Group({}, "p", [], [ScoredSample(None, "timeout"), ScoredSample(1.0, "ok")])
        assert unscored.accuracies == [None, 1.0]

    @staticmethod
    def rounds(keep: list[list[bool]]) -> tuple[list[int], Collected[tuple[int, bool]]]:
        """Rounds whose groups have signal as ``keep`` says; the sizes asked for, the result."""
        asked: list[int] = []
        outcomes = iter(keep)

        def roll_out(count: int) -> list[tuple[int, bool]]:
            asked.append(count)
            flags = next(outcomes)
            assert len(flags) == count  # a round rolls out exactly the prompts asked for
            return [(len(asked) * 100 + i, flag) for i, flag in enumerate(flags)]

        return asked, collect(roll_out, 4, 3, lambda group: group[1])

    def test_refills_until_the_step_has_its_groups_then_truncates(self) -> None:
        first = [True, False, False, False]  # 1 of 4 kept: 3 missing at rate 1/4 → 12, cap 4
        asked, got = self.rounds([first, [True, True, False, True]])
        assert asked == [4, 4]
        assert got.kept == [(100, True), (200, True), (201, True), (203, True)]
        assert (len(got.generated), got.with_signal, got.refill_rounds) == (8, 4, 1)

    def test_the_rounds_are_bounded(self) -> None:
        none = [False] * 4
        asked, got = self.rounds([none, none, none, none, none])
        assert asked == [4, 4, 4, 4]  # the first round and max_refill_rounds = 3 more
        assert got.kept == []
        assert got.refill_rounds == 3

    def test_a_full_first_round_needs_no_refill(self) -> None:
        asked, got = self.rounds([[True, True, True, True]])
        assert asked == [4]
        assert got.refill_rounds == 0

    def test_refill_size(self) -> None:
        assert refill_size(missing=2, kept=6, generated=8, cap=16) == 3  # 2 at a keep rate of 3/4
        assert refill_size(missing=10, kept=1, generated=8, cap=16) == 16  # capped
        assert refill_size(missing=3, kept=0, generated=16, cap=16) == 16  # no rate yet


class TestLoss:
    @staticmethod
    def batch(advantages: list[float], lengths: list[int]) -> tuple[torch.Tensor, object]:
        sequences = [([1, 2], [3] * n, a) for a, n in zip(advantages, lengths, strict=True)]
        return torch.zeros(1), make_batch(sequences, pad_id=0, device=torch.device("cpu"))

    def test_completion_mask_covers_the_completion_tokens_only(self) -> None:
        _, batch = self.batch([1.0, -1.0], [3, 1])
        # logits at t predict token t+1: prompt [1, 2] → positions 1..3 predict the completion
        assert batch.completion_mask.tolist() == [[0, 1, 1, 1], [0, 1, 0, 0]]

    def test_token_mean_weighs_every_token_equally(self) -> None:
        _, batch = self.batch([1.0, -1.0], [3, 1])
        logp = torch.zeros(2, 4, requires_grad=True)
        loss, _ = policy_loss(logp, logp.detach(), batch, 0.2, 0.28, denominator=4.0)  # type: ignore[arg-type]
        loss.backward()  # type: ignore[no-untyped-call]
        # ∂loss/∂logp = −A/N per completion token, N = 4 tokens in the batch (not per sequence)
        assert logp.grad.tolist() == [[0, -0.25, -0.25, -0.25], [0, 0.25, 0, 0]]  # type: ignore[union-attr]

    @pytest.mark.parametrize(
        ("advantage", "log_ratio", "clipped"),
        [
            (1.0, math.log(1.27), False),  # inside clip-higher's 1 + 0.28
            (1.0, math.log(1.29), True),  # above it: no more push for a good token
            (-1.0, math.log(0.81), False),  # inside 1 − 0.2
            (-1.0, math.log(0.79), True),  # below it: no more push down for a bad token
            (-1.0, math.log(1.29), False),  # the pessimistic side is never clipped
        ],
    )
    def test_clip_higher(self, advantage: float, log_ratio: float, clipped: bool) -> None:
        _, batch = self.batch([advantage], [1])
        old = torch.zeros(1, 2)
        logp = torch.full((1, 2), log_ratio, requires_grad=True)
        loss, _stats = policy_loss(logp, old, batch, 0.2, 0.28, denominator=1.0)  # type: ignore[arg-type]
        loss.backward()  # type: ignore[no-untyped-call]
        assert (logp.grad[0, 1].item() == 0.0) == clipped  # type: ignore[union-attr]

    def test_micro_batches_accumulate_to_the_full_batch_gradient(self) -> None:
        tokenizer = build_tokenizer()
        model = build_model(tokenizer, hidden=32, layers=1)
        sequences = [([5, 6, 7], [8, 9, 1], 1.0), ([5, 6], [9, 1], -0.5), ([7], [8, 8, 8, 1], 0.3)]

        def gradient(parts: list[list[tuple[list[int], list[int], float]]]) -> torch.Tensor:
            model.zero_grad()
            batches = [
                make_batch(part, tokenizer.pad_token_id, torch.device("cpu")) for part in parts
            ]
            tokens = float(sum(b.completion_mask.sum() for b in batches))
            for b in batches:
                logp = token_logprobs(model, b)
                loss, _ = policy_loss(logp, logp.detach(), b, 0.2, 0.28, tokens)
                loss.backward()  # type: ignore[no-untyped-call]
            return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])

        whole = gradient([sequences])
        assert torch.allclose(gradient([[s] for s in sequences]), whole, atol=1e-6)


def test_rows_from_parquet_with_struct_params(tmp_path: Path) -> None:
    rows = [
        {
            "prompt": "a",
            "solution": "1",
            "verifier": "detection",
            "params": {"map": 1.0, "iou_first": None},
        },
        {
            "prompt": "b",
            "solution": "2",
            "verifier": "math",
            "params": {"map": None, "iou_first": None},
        },
    ]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "rows.parquet")
    loaded = load_rows(tmp_path / "rows.parquet")
    first = reward_sample(loaded[0], "a", "x")
    assert first["params"] == {"map": 1.0}  # the struct's filler None is not a param
    assert first["ground_truth"] == "1"
    assert first["data_source"] == "default"
    assert reward_sample(loaded[1], "b", "y")["params"] == {}
    (tmp_path / "bad.jsonl").write_text('{"ground_truth": "1"}\n')
    with pytest.raises(ValueError, match="no 'prompt'"):
        load_rows(tmp_path / "bad.jsonl")


def scored(url: str, source: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    pattern = rf'^raas_samples_total\{{[^}}]*data_source="{source}"[^}}]*\}} (\S+)$'
    return sum(float(v) for v in re.findall(pattern, text, re.M))


def test_raas_train_runs_against_a_live_server(server: LiveServer, tmp_path: Path) -> None:
    # warm-started far enough that about half the groups have signal: refills find the rest
    save_toy(tmp_path / "model", warm_steps=150, hidden=32)
    rows = [{**r, "data_source": f"smoke_{r['data_source']}"} for r in arithmetic_rows()]
    (tmp_path / "data.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    before = sum(scored(server.url, f"smoke_{s}") for s in ("add", "sub"))
    # the README's command, its paths and budget replaced (argparse: the last value wins)
    readme = shlex.split(readme_block("raas-train").replace("\\\n", " "))
    assert readme[0] == "raas-train"
    main(
        [
            *readme[1:],
            "--model",
            str(tmp_path / "model"),
            "--data",
            str(tmp_path / "data.jsonl"),
            "--reward-url",
            server.url,
            "--output-dir",
            str(tmp_path / "run"),
            "--steps",
            "2",
            "--prompts-per-step",
            "4",
            "--group-size",
            "4",
            "--max-new-tokens",
            "6",
            "--learning-rate",
            "1e-3",
            "--updates-per-step",
            "2",
            "--micro-batch-size",
            "5",
            "--beta",
            "0.01",
            "--torch-threads",
            "1",
            "--max-refill-rounds",
            "4",
        ]
    )
    run = tmp_path / "run"
    log = read_log(run / "metrics.jsonl")
    assert [entry["step"] for entry in log] == [0, 1]
    for entry in log:
        sources = {key.split("/", 1)[1] for key in entry if key.startswith("response_length/")}
        assert sources <= {"smoke_add", "smoke_sub"}
        assert sources
        for source in sources:
            assert 0.0 <= entry[f"accuracy/{source}"] <= 1.0
            assert entry[f"response_length/{source}"] > 0
        groups = {key.split("/")[1]: value for key, value in entry.items() if "groups/" in key}
        assert groups["generated"] == groups["kept"] + groups["no_signal"] + groups["surplus"]
        assert groups["kept"] == 4 or groups["refill_rounds"] == 4  # full, or out of rounds
    refilled = [e for e in log if e["groups/refill_rounds"] > 0 and e["groups/kept"] == 4]
    assert refilled  # a step whose first round fell short was filled by refills …
    for entry in refilled:  # … and its update took every rollout of exactly 4 groups
        assert entry["sequences"] == 4 * 4
    # every rollout went to raas, the refills' too: 4 completions per generated group
    generated = sum(entry["groups/generated"] for entry in log)
    assert generated > 2 * 4
    assert sum(scored(server.url, f"smoke_{s}") for s in ("add", "sub")) - before == 4 * generated
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert (run / "reward_curve_all.png").stat().st_size > 0
    assert (run / "final" / "config.json").exists()
    assert all("reflection_ratio/smoke_add" in entry for entry in log)  # raas's summary, too
    # every rollout said whether max_new_tokens cut it: raas's truncation rate per source
    assert all(0.0 <= entry["truncated_ratio/smoke_add"] <= 1.0 for entry in log)


def test_each_sample_says_whether_its_rollout_was_cut(tmp_path: Path) -> None:
    """``truncated`` is the rollout's own flag: cut at ``max_new_tokens`` or ended by EOS."""
    save_toy(tmp_path / "model", warm_steps=60, hidden=32)
    rows = arithmetic_rows()[:3]
    config = GRPOConfig(
        model=str(tmp_path / "model"),
        data="unused",
        output_dir=str(tmp_path / "run"),
        group_size=6,
        max_new_tokens=2,
        tensorboard=False,
        torch_threads=1,
        reflection="vtriune",
    )
    trainer = GRPOTrainer(config, rows=rows)
    assert trainer.client.reflection == "vtriune"  # --reflection: sent with every request
    groups = trainer._generate(rows)
    flags = [r.truncated for g in groups for r in g.rollouts]
    assert [s["truncated"] for g in groups for s in trainer._samples(g)] == flags
    assert set(flags) == {True, False}  # the warm toy ends short sums within 2 tokens, not all


SCHEDULE = [[0.5, 0.5], [1.0, 0.75]]
ROUTES = [
    {"data_source": "add", "verifier": "math"},
    {
        "data_source": "grounding",
        "verifier": "iou",
        "params": {"threshold": "dynamic", "dynamic_schedule": SCHEDULE},
    },
]


@pytest.mark.slow
def test_routed_mixed_sources_log_raas_curves(tmp_path: Path) -> None:
    """Rows name no verifier: the server routes them by data_source, and raas's per-source
    summary (the threshold in effect, IoU, reflection ratio) reaches raas-train's log."""
    rows = [{k: v for k, v in r.items() if k != "verifier"} for r in arithmetic_rows()]
    rows = [r for r in rows if r["data_source"] == "add"][:20] + grounding_rows()[:20]
    save_toy(tmp_path / "model", warm_steps=40, hidden=32, rows=rows, reflect=0.5)
    (tmp_path / "data.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    server = LiveServer.start(RAAS_POOL_WORKERS="1", RAAS_ROUTES=json.dumps(ROUTES))
    try:
        main(
            [
                "--model",
                str(tmp_path / "model"),
                "--data",
                str(tmp_path / "data.jsonl"),
                "--reward-url",
                server.url,
                "--output-dir",
                str(tmp_path / "run"),
                "--steps",
                "3",
                "--prompts-per-step",
                "4",
                "--group-size",
                "4",
                "--max-new-tokens",
                "18",
                "--torch-threads",
                "1",
                "--no-dynamic-sampling",
                "--no-save-model",
            ]
        )
    finally:
        server.stop()
    log = read_log(tmp_path / "run" / "metrics.jsonl")
    by_step = {e["step"]: e["threshold/grounding"] for e in log if "threshold/grounding" in e}
    # grounding was routed to iou, whose dynamic threshold rose with the step (r = step/3)
    assert by_step == {0: 0.5, 1: 0.5, 2: 0.75}
    assert all("threshold/add" not in e for e in log)  # math has none
    assert any("reflection_ratio/add" in e for e in log)
    assert any("parsed/grounding" in e for e in log)
    assert (tmp_path / "run" / "monitoring_grounding.png").stat().st_size > 0
