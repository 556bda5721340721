"""raas-train's V-Triune side: Orsta's rows read as ``raas score`` reads them, ``image_size``
with detection samples, the CoT pool, and the options that change training (warm-up, frozen
modules, LoRA, gradient checkpointing), each run on the tiny text model."""

from __future__ import annotations

import base64
import io
import json
import random
import re
import shlex
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image
from transformers import AutoModelForCausalLM

from devtools.live import LiveServer
from devtools.toy import arithmetic_rows, build_model, build_tokenizer, save_toy
from reward_service.offline.spec import RowMapping, to_sample
from tests.offline.data import DET_GT, VTRIUNE_SCHEMA, vtriune_rows
from tests.trainers.readme import readme_block
from trainer_client.client import RewardClient
from trainer_client.grpo.cli import main, parse_config
from trainer_client.grpo.config import GRPOConfig, iou_threshold
from trainer_client.grpo.data import (
    PromptSampler,
    load_rows,
    longest_prompt,
    prompt_text,
    reward_samples,
)
from trainer_client.grpo.loss import make_batch, policy_loss, token_logprobs
from trainer_client.grpo.metrics import read_log
from trainer_client.grpo.optim import (
    MasterWeights,
    enable_checkpointing,
    freeze,
    freeze_patterns,
    frozen_names,
    is_checkpointing,
    make_optimizer,
    matches,
    set_learning_rate,
    warmup_factor,
)
from trainer_client.grpo.prompts import (
    CLOSEFORM_FIRST,
    CLOSEFORM_SECOND,
    FREEFORM_FIRST,
    FREEFORM_SECOND,
    with_cot,
)
from trainer_client.grpo.spec import image_size, processed_size, row_spec
from trainer_client.grpo.trainer import GRPOTrainer


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(buffer, format="PNG")
    return buffer.getvalue()


def data_uri(width: int, height: int) -> str:
    return "data:image/png;base64," + base64.b64encode(png(width, height)).decode()


RATIOS = {
    "iou_max_label_first": 1.0,
    "iou_max_iou_first": 0.0,
    "iou_completeness": 0.3,
    "map": 0.0,
    "map50": 0.0,
    "map75": 0.0,
}
NATIVE_RATIOS = {
    "label_first": 1.0,
    "iou_first": 0.0,
    "completeness": 0.3,
    "map": 0.0,
    "map50": 0.0,
    "map75": 0.0,
}
VTRIUNE_DET = {"iou_threshold": "dynamic", "vtriune_compat": True, "extra_box_penalty": None}


def orsta(verifier: str, parm: dict[str, Any] | None = None, **model: Any) -> dict[str, Any]:
    """An Orsta row as its Parquet holds it (a struct fills absent keys with ``None``)."""
    truth = DET_GT if verifier == "detection" else "$\\frac{1}{2}$"
    return {
        "data_source": "v3det" if verifier == "detection" else "mm_math",
        "prompt": [{"role": "user", "content": "<image>What is it?"}],
        "images": [{"bytes": png(500, 400), "path": "a.png"}],
        "reward_model": {
            "ground_truth": truth,
            "style": "rule",
            "accuracy_ratio": 1.0,
            "format_ratio": 0.1,
            "verifier": verifier,
            "answer": None,
            "verifier_parm": parm,
            **model,
        },
    }


@pytest.mark.parametrize(
    ("row", "size", "expected"),
    [
        (
            orsta("mathverify"),
            None,
            {
                "verifier": "math",
                "ground_truth": "$\\frac{1}{2}$",
                "params": {"vtriune_compat": True},
                "format": "think_answer",
                "weights": {"accuracy": 1.0, "format": 0.1},
            },
        ),
        (
            orsta("mathverify", accuracy_ratio=None, format_ratio=0.0),
            None,
            {
                "verifier": "math",
                "ground_truth": "$\\frac{1}{2}$",
                "params": {"vtriune_compat": True},
                "format": "think_answer",
                "weights": {"accuracy": 1.0, "format": 0.0},
            },
        ),
        # normalised: the row's own image gives the size V-Triune's image_grid_thw would
        (
            orsta("detection", {"det_verifier_normalized": True, "det_reward_ratio": RATIOS}),
            None,
            {
                "verifier": "detection",
                "ground_truth": DET_GT[8:-9],
                "format": "detection_answer",
                "params": {
                    **NATIVE_RATIOS,
                    **VTRIUNE_DET,
                    "normalize_pixels": True,
                    "image_size": [500, 400],
                },
                "weights": {"accuracy": 1.0, "format": 0.1},
            },
        ),
        # the size of the processor's input, when the caller knows it, wins over the image's
        (
            orsta("detection", {"det_verifier_normalized": True}),
            [616, 420],
            {
                "verifier": "detection",
                "ground_truth": DET_GT[8:-9],
                "format": "detection_answer",
                "params": {
                    **{k: 0.0 for k in NATIVE_RATIOS},
                    **VTRIUNE_DET,
                    "normalize_pixels": True,
                    "image_size": [616, 420],
                },
                "weights": {"accuracy": 1.0, "format": 0.1},
            },
        ),
        # V-Triune's own grid (T, H, W) wins over both
        (
            orsta("detection", {"det_verifier_normalized": True, "image_grid_thw": [[1, 28, 56]]}),
            [616, 420],
            {
                "verifier": "detection",
                "ground_truth": DET_GT[8:-9],
                "format": "detection_answer",
                "params": {
                    **{k: 0.0 for k in NATIVE_RATIOS},
                    **VTRIUNE_DET,
                    "normalize_pixels": True,
                    "image_size": [56, 28],
                },
                "weights": {"accuracy": 1.0, "format": 0.1},
            },
        ),
        # not normalised: the size goes along, the boxes stay on the grid
        (
            orsta("detection", {"det_verifier_normalized": False, "det_reward_ratio": RATIOS}),
            None,
            {
                "verifier": "detection",
                "ground_truth": DET_GT[8:-9],
                "format": "detection_answer",
                "params": {**NATIVE_RATIOS, **VTRIUNE_DET, "image_size": [500, 400]},
                "weights": {"accuracy": 1.0, "format": 0.1},
            },
        ),
        # verl's layout names no verifier: the routes decide, the ground truth goes along
        (
            {
                "prompt": "q",
                "data_source": "geo",
                "reward_model": {"ground_truth": "3", "style": "rule"},
            },
            None,
            {"ground_truth": "3"},
        ),
        (
            {
                "prompt": "q",
                "data_source": "geo",
                "reward_model": json.dumps({"ground_truth": "3"}),
            },
            None,
            {"ground_truth": "3"},
        ),
        # raas's own detection row: its image's size is added, a size it has is kept
        (
            {
                "prompt": "q",
                "ground_truth": "[]",
                "verifier": "detection",
                "params": {"normalize_pixels": True},
                "images": [data_uri(64, 32)],
            },
            None,
            {
                "ground_truth": "[]",
                "verifier": "detection",
                "images": [data_uri(64, 32)],
                "params": {"normalize_pixels": True, "image_size": [64, 32]},
            },
        ),
        (
            {
                "prompt": "q",
                "ground_truth": "[]",
                "verifier": "detection",
                "params": {"image_size": [10, 10]},
                "images": [data_uri(64, 32)],
            },
            None,
            {
                "ground_truth": "[]",
                "verifier": "detection",
                "images": [data_uri(64, 32)],
                "params": {"image_size": [10, 10]},
            },
        ),
        # a routed row's Parquet images go as data URIs (bytes cannot be sent as JSON)
        (
            {
                "prompt": "q",
                "data_source": "geo",
                "images": [{"bytes": png(8, 4), "path": None}],
                "reward_model": {"ground_truth": "3"},
            },
            None,
            {
                "ground_truth": "3",
                "images": ["data:image/png;base64," + base64.b64encode(png(8, 4)).decode()],
            },
        ),
        # an image that cannot be encoded: the sample goes without images (unscored by a
        # verifier that needs them, never scored on a wrong set)
        (
            {"prompt": "q", "data_source": "rm", "ground_truth": "x", "images": [b"no image"]},
            None,
            {"ground_truth": "x"},
        ),
        # a row naming its verifier is raas's own even with a reward_model column
        (
            {
                "prompt": "q",
                "ground_truth": "4",
                "verifier": "math",
                **{"reward_model": {"verifier": "mathverify", "ground_truth": "5"}},
            },
            None,
            {"ground_truth": "4", "verifier": "math"},
        ),
    ],
)
def test_row_spec(row: dict[str, Any], size: list[int] | None, expected: dict[str, Any]) -> None:
    assert row_spec(row, "dynamic", size) == expected


@pytest.mark.parametrize("index", range(3))
def test_orsta_rows_read_as_raas_score_reads_them(index: int, tmp_path: Path) -> None:
    """The trainer's spec of an Orsta row is the one ``raas score`` sends (through /judge's
    mapping), read back from the same Parquet file."""
    path = tmp_path / "orsta.parquet"
    pq.write_table(pa.Table.from_pylist(vtriune_rows()[:3], schema=VTRIUNE_SCHEMA), path)
    row = load_rows(path)[index]
    (sample,) = reward_samples(row, "p", [row["response"]])
    offline = to_sample(row, RowMapping())
    for key in ("data_source", "verifier", "ground_truth", "params", "format", "weights"):
        assert sample[key] == offline[key], key


def test_a_broken_reward_model_fails_at_load(tmp_path: Path) -> None:
    row = orsta("detection", {"det_reward_ratio": {"map": "high"}})
    row["images"] = None
    (tmp_path / "rows.jsonl").write_text(json.dumps(row) + "\n")
    with pytest.raises(ValueError, match=r"row 0: reward_model: det_reward_ratio.map"):
        load_rows(tmp_path / "rows.jsonl")


@pytest.mark.parametrize(
    ("grid", "patch", "size"),
    [((1, 34, 46), 14, [644, 476]), ([1, 30, 44], 14, [616, 420]), ((1, 4, 2), 16, [32, 64])],
)
def test_processed_size(grid: Any, patch: int, size: list[int]) -> None:
    """A 640 × 480 image that Qwen2.5-VL's processor resized to 644 × 476 (46 × 34 patches)."""
    assert processed_size(grid, patch) == size


def test_image_size_reads_every_form(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(png(30, 20))
    cases = [
        (png(30, 20), [30, 20]),
        ({"bytes": png(30, 20), "path": None}, [30, 20]),
        ({"bytes": None, "path": str(tmp_path / "a.png")}, [30, 20]),
        (data_uri(30, 20), [30, 20]),
        (str(tmp_path / "a.png"), [30, 20]),
        (Image.new("RGB", (30, 20)), [30, 20]),
        ("https://example.com/a.png", None),  # never fetched
        (str(tmp_path / "missing.png"), None),
        (b"\x89PNG fake", None),
        ("data:image/png;base64,!!!", None),
    ]
    assert [image_size(image) for image, _ in cases] == [size for _, size in cases]


def pixel_answer(width: int, height: int) -> str:
    """DET_GT's box [100, 100, 300, 300] on the 0–1000 grid, written in the image's pixels."""
    box = [100 * width // 1000, 100 * height // 1000, 300 * width // 1000, 300 * height // 1000]
    return f'<think>\nthere\n</think>\n<answer>\n[{{"bbox_2d": {box}, "label": "dog"}}]\n</answer>'


def test_pixel_boxes_of_an_orsta_row_are_paid_through_raas(server: LiveServer) -> None:
    """The policy writes pixels of its 500 × 400 input (Qwen2.5-VL's absolute coordinates): the
    size sent with the sample rescales them to the ground truth's grid, as V-Triune does."""
    normalised = orsta("detection", {"det_verifier_normalized": True, "det_reward_ratio": RATIOS})
    grid = orsta("detection", {"det_verifier_normalized": False, "det_reward_ratio": RATIOS})
    client = RewardClient(server.url)
    try:
        samples = [
            *reward_samples(normalised, "p", [pixel_answer(500, 400), pixel_answer(250, 200)]),
            *reward_samples(grid, "p", [pixel_answer(500, 400)]),
        ]
        results = client.score_sync(samples, step=0, total_steps=10).results
    finally:
        client.close()
    assert [r.status for r in results] == ["ok"] * 3
    assert results[0].components["accuracy"] == pytest.approx(1.0)
    assert results[0].reward == pytest.approx(1.0)  # accuracy 1 : format 0.1, both earned
    assert results[1].components["accuracy"] < 0.5  # half-size boxes: IoU 1/4
    assert results[2].components["accuracy"] < 0.5  # pixels read as grid: not the GT box


def math_row(format_ratio: float, prompt: Any) -> dict[str, Any]:
    model = {"verifier": "mathverify", "ground_truth": "2", "format_ratio": format_ratio}
    return {"prompt": prompt, "reward_model": model}


CLOSEFORM = {a + b for a in CLOSEFORM_FIRST for b in CLOSEFORM_SECOND}
FREEFORM = {a + b for a in FREEFORM_FIRST for b in FREEFORM_SECOND}


@pytest.mark.parametrize(
    ("row", "pool", "instructions"),
    [
        (math_row(0.1, "1+1?"), "vtriune", CLOSEFORM),
        (math_row(0.0, "1+1?"), "vtriune", FREEFORM),
        (
            math_row(0.1, [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}]),
            "vtriune",
            CLOSEFORM,
        ),
        (
            math_row(
                0.1,
                [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "q"}]}],
            ),
            "vtriune",
            CLOSEFORM,
        ),
        (orsta("detection"), "vtriune", None),  # detection prompts carry their own
        ({"prompt": "1+1=", "ground_truth": "2", "verifier": "math"}, "vtriune", None),
        (math_row(0.1, "1+1?"), "none", None),
    ],
)
def test_cot_pool(row: dict[str, Any], pool: Any, instructions: set[str] | None) -> None:
    before = json.dumps(row, default=str)
    drawn = with_cot(row, pool, random.Random(0))
    assert json.dumps(row, default=str) == before  # the data set's row is never changed
    if instructions is None:
        assert drawn is row
        return
    prompt, original = drawn["prompt"], row["prompt"]
    if isinstance(prompt, str):
        suffix = prompt[len(original) :]
    elif isinstance(prompt[-1]["content"], str):
        assert prompt[:-1] == original[:-1]
        suffix = prompt[-1]["content"][len(original[-1]["content"]) :]
    else:
        assert prompt[-1]["content"][:-1] == original[-1]["content"]
        suffix = prompt[-1]["content"][-1]["text"]
    assert suffix.startswith("\n\n")
    assert suffix[2:] in instructions


def test_cot_pool_is_vtriunes_text() -> None:
    assert (len(FREEFORM_FIRST), len(FREEFORM_SECOND)) == (19, 20)  # its missing comma kept
    assert (len(CLOSEFORM_FIRST), len(CLOSEFORM_SECOND)) == (10, 10)
    assert CLOSEFORM_SECOND[0] == (
        "Moreover, the final answer should be inside \\boxed{}. For example: <think>\nreasoning "
        "process here\n</think>\n<answer>\n\\boxed{answer here}\n</answer>."
    )


def test_the_sampler_draws_an_instruction_each_time_a_row_is_read() -> None:
    sampler = PromptSampler([math_row(0.1, "q")], seed=0, cot="vtriune")
    prompts = {row["prompt"] for row in sampler.take(40)}
    assert len(prompts) > 10  # 100 combinations, drawn anew each epoch
    assert all(p.startswith("q\n\n") for p in prompts)


@pytest.mark.parametrize(
    ("name", "pattern", "expected"),
    [
        ("visual.blocks.0.attn.qkv.weight", "visual.blocks", True),  # Qwen2.5-VL, old layout
        ("model.visual.blocks.0.attn.qkv.weight", "visual.blocks", True),  # transformers ≥ 4.52
        ("base_model.model.model.visual.merger.mlp.0.weight", "visual.merger", True),  # peft
        ("model.visual.merger.mlp.0.weight", "visual.blocks", False),
        ("visual_merger.mlp.0.weight", "visual.merger", False),  # whole components only
        ("model.language_model.layers.0.mlp.up_proj.weight", "visual", False),
        ("model.layers.1.self_attn.q_proj.weight", "layers.*.self_attn", True),
        ("model.layers.1.self_attn.q_proj.weight", "layers.1", True),
        ("model.layers.10.self_attn.q_proj.weight", "layers.1", False),
    ],
)
def test_freeze_patterns_match_whole_components(name: str, pattern: str, expected: bool) -> None:
    assert matches(name, pattern) is expected


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("vit,connector", ("visual.blocks", "visual.patch_embed", "visual.merger")),
        (" connector ", ("visual.merger",)),
        ("", ()),
        ("lm_head,layers.0", ("lm_head", "layers.0")),
    ],
)
def test_freeze_presets(spec: str, expected: tuple[str, ...]) -> None:
    assert freeze_patterns(spec) == expected


def test_vtriune_presets_freeze_qwen25_vl_vision_tower_and_connector() -> None:
    """On a (tiny) Qwen2.5-VL built by this transformers: ``vit,connector`` freezes every
    parameter of the vision tower and merger and nothing of the language model."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    vision = {
        "depth": 2,
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_heads": 2,
        "out_hidden_size": 32,
        "fullatt_block_indexes": [1],
    }
    text = {
        "vocab_size": 64,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "bos_token_id": 0,
        "eos_token_id": 1,
        "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]},
    }
    model = Qwen2_5_VLForConditionalGeneration(
        Qwen2_5_VLConfig(vision_config=vision, text_config=text)
    )
    frozen = set(freeze(model, "vit,connector"))
    visual = {name for name, _ in model.named_parameters() if ".visual." in f".{name}"}
    assert frozen == visual
    assert {n.split(".visual.")[1].split(".")[0] for n in visual} == {
        "blocks",
        "patch_embed",
        "merger",
    }
    assert all(p.requires_grad for n, p in model.named_parameters() if n not in visual)
    assert len(visual) < len(list(model.parameters()))


def test_a_pattern_matching_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"no parameter matches \[.visual\.merger.\]"):
        frozen_names(["model.layers.0.weight"], ("layers.0", "visual.merger"))


@pytest.mark.parametrize(
    ("warmup", "factors"),
    [(0, [1.0, 1.0, 1.0]), (1, [1.0, 1.0, 1.0]), (4, [0.25, 0.5, 0.75, 1.0, 1.0])],
)
def test_warmup_factor(warmup: int, factors: list[float]) -> None:
    assert [warmup_factor(step, warmup) for step in range(len(factors))] == factors


@pytest.mark.parametrize(
    ("value", "expected"),
    [("dynamic", "dynamic"), ("average", "average"), ("0.5", 0.5), ("1", 1.0)],
)
def test_iou_threshold(value: str, expected: str | float) -> None:
    assert iou_threshold(value) == expected


@pytest.mark.parametrize("value", ["0", "1.5", "high", "nan"])
def test_iou_threshold_refused(value: str) -> None:
    with pytest.raises(ValueError, match="vtriune_iou_threshold"):
        GRPOConfig(model="m", data="d", vtriune_iou_threshold=value)


def test_the_readme_vtriune_command_sets_the_recipe() -> None:
    command = shlex.split(readme_block("raas-train-vtriune").replace("\\\n", " "))
    assert command[0] == "raas-train"
    config = parse_config(command[1:])
    assert (config.lr_warmup_steps, config.freeze, config.cot_prompts) == (
        10,
        "vit,connector",
        "vtriune",
    )
    assert (config.eps_low, config.eps_high, config.beta) == (0.2, 0.28, 0.0)
    assert config.learning_rate == 1e-6
    assert iou_threshold(config.vtriune_iou_threshold) == "dynamic"
    assert config.reflection == "vtriune"  # raas's summary monitors as V-Triune's
    assert freeze_patterns(config.freeze) == (
        "visual.blocks",
        "visual.patch_embed",
        "visual.merger",
    )


def test_lora_rolls_out_with_transformers() -> None:
    assert GRPOConfig(model="m", data="d", lora_rank=8).rollout == "hf"
    with pytest.raises(ValueError, match="rollout hf"):
        GRPOConfig(model="m", data="d", lora_rank=8, rollout="vllm")


# --- short CPU runs on the tiny text model -------------------------------------------------


def trainer_for(tmp_path: Path, **options: Any) -> GRPOTrainer:
    """A trainer of the tiny text model on random local rewards (``reward_mode="none"``: the
    update path as it is, no server)."""
    tokenizer = build_tokenizer()
    config = GRPOConfig(
        model="tiny",
        data="rows",
        output_dir=str(tmp_path / "run"),
        prompts_per_step=4,
        group_size=4,
        max_new_tokens=4,
        learning_rate=1e-2,
        reward_mode="none",
        dynamic_sampling=False,
        tensorboard=False,
        save_model=False,
        device="cpu",
        torch_threads=1,
        **options,
    )
    return GRPOTrainer(
        config,
        model=build_model(tokenizer, hidden=32),
        tokenizer=tokenizer,
        rows=arithmetic_rows()[:16],
        client=RewardClient("http://127.0.0.1:9"),
    )


def run(tmp_path: Path, steps: int, **options: Any) -> tuple[GRPOTrainer, list[Any]]:
    trainer = trainer_for(tmp_path, steps=steps, **options)
    try:
        return trainer, [trainer.step(step) for step in range(steps)]
    finally:
        trainer.client.close()


def snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def changed(before: dict[str, torch.Tensor], model: torch.nn.Module) -> set[str]:
    return {n for n, p in model.named_parameters() if not torch.equal(before[n], p.detach())}


def test_warmup_sets_each_steps_learning_rate(tmp_path: Path) -> None:
    _, history = run(tmp_path, steps=3, lr_warmup_steps=4)
    assert [entry["lr"] for entry in history] == pytest.approx([2.5e-3, 5e-3, 7.5e-3])
    _, plain = run(tmp_path, steps=2)
    assert [entry["lr"] for entry in plain] == pytest.approx([1e-2, 1e-2])


def test_frozen_parameters_are_unchanged_after_a_step(tmp_path: Path) -> None:
    trainer = trainer_for(tmp_path, freeze="embed_tokens,layers.0")
    before = snapshot(trainer.model)
    trainer.step(0)
    trainer.client.close()
    frozen = {n for n in before if "embed_tokens" in n or ".layers.0." in n}
    assert frozen  # the tied embedding (and so the output layer) and the first block
    assert not changed(before, trainer.model) & frozen
    assert changed(before, trainer.model) == set(before) - frozen  # the rest all trained
    trained = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    assert trained == {id(p) for n, p in trainer.model.named_parameters() if n not in frozen}


@pytest.mark.parametrize("checkpointing", [False, True])
def test_lora_adapters_are_the_only_parameters_trained(tmp_path: Path, checkpointing: bool) -> None:
    trainer = trainer_for(tmp_path, lora_rank=4, lora_alpha=8, gradient_checkpointing=checkpointing)
    before = snapshot(trainer.model)
    trainer.step(0)
    trainer.client.close()
    moved = changed(before, trainer.model)
    assert moved
    assert all("lora_" in name for name in moved)
    assert any("lora_B" in name for name in moved)  # B starts at 0: the adapter now acts
    trainable = {n for n, p in trainer.model.named_parameters() if p.requires_grad}
    assert trainable == {n for n in before if "lora_" in n}
    trainer.model.save_pretrained(tmp_path / "adapter")
    assert (tmp_path / "adapter" / "adapter_config.json").exists()


def test_a_lora_kl_reference_is_the_base_model_not_a_copy(tmp_path: Path) -> None:
    """With LoRA and β > 0 no frozen copy is made: π_ref is the policy with its adapters
    switched off, which is the untouched base model however far the adapters have moved."""
    trainer = trainer_for(tmp_path, lora_rank=4, lora_alpha=8, beta=0.1)
    assert trainer.reference is None
    history = [trainer.step(step) for step in range(2)]
    trainer.client.close()
    assert history[0]["kl"] == pytest.approx(0.0, abs=1e-7)  # B starts at 0: π = π_ref
    assert history[1]["kl"] > 0  # the adapters act now
    base = build_model(build_tokenizer(), hidden=32)  # the same seed: the base weights
    sequences = [([5, 6, 7], [8, 9, 10], 1.0), ([5, 6], [7, 8], -1.0)]
    plan = [[make_batch(sequences, 0, torch.device("cpu"))]]
    ((reference,),) = trainer._reference_logprobs(plan) or [[None]]
    with torch.no_grad():
        expected = token_logprobs(base, plan[0][0])
    assert reference is not None
    assert torch.allclose(reference, expected, atol=1e-5)
    with torch.no_grad():
        policy = token_logprobs(trainer.model, plan[0][0])
    assert not torch.allclose(policy, expected, atol=1e-5)


def test_gradient_checkpointing_gives_the_same_gradient() -> None:
    tokenizer = build_tokenizer()
    sequences = [([5, 6, 7], [8, 9], 1.0), ([5, 6], [7, 8, 9, 10], -0.5)]

    def gradient(checkpointing: bool) -> torch.Tensor:
        model = build_model(tokenizer, hidden=32, seed=3).train()
        if checkpointing:
            enable_checkpointing(model)
        batch = make_batch(sequences, 0, torch.device("cpu"))
        logp = token_logprobs(model, batch)
        loss, _ = policy_loss(logp, logp.detach(), batch, 0.2, 0.28, 6.0)
        loss.backward()  # type: ignore[no-untyped-call]
        assert is_checkpointing(model) is checkpointing
        return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])

    assert torch.allclose(gradient(True), gradient(False), atol=1e-6)


def test_gradient_checkpointing_option_trains(tmp_path: Path) -> None:
    trainer, history = run(tmp_path, steps=1, gradient_checkpointing=True)
    assert is_checkpointing(trainer.model)
    assert history[0]["grad_norm"] > 0


def lm_loss_step(model: torch.nn.Module, optimizer: Any, seed: int) -> None:
    ids = torch.randint(5, 90, (4, 24), generator=torch.Generator().manual_seed(seed))
    optimizer.zero_grad()
    model(input_ids=ids, labels=ids).loss.backward()
    optimizer.step()


def test_master_weights_step_as_adamw_does() -> None:
    """On float32 weights the master copy is the weights: the same three steps as AdamW."""
    tokenizer = build_tokenizer()
    plain, mastered = build_model(tokenizer, hidden=32), build_model(tokenizer, hidden=32)
    adamw = torch.optim.AdamW(plain.parameters(), lr=1e-2, weight_decay=0.1)
    master = MasterWeights(list(mastered.parameters()), lr=1e-2, weight_decay=0.1)
    for seed in range(3):
        lm_loss_step(plain, adamw, seed)
        lm_loss_step(mastered, master, seed)
    for a, b in zip(plain.parameters(), mastered.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)


def moved_share(model: torch.nn.Module, before: dict[str, torch.Tensor]) -> float:
    moved = sum(int((before[n] != p.detach()).sum()) for n, p in model.named_parameters())
    return moved / sum(p.numel() for p in model.parameters())


def test_bfloat16_weights_learn_at_lr_1e6_only_through_master_weights() -> None:
    """At V-Triune's lr 1e-6 AdamW on bf16 weights loses nearly every update to rounding; the
    float32 copies keep them, and the bf16 model is their rounding."""
    tokenizer = build_tokenizer()
    plain = build_model(tokenizer, hidden=64).to(torch.bfloat16)
    before = snapshot(plain)
    lm_loss_step(plain, torch.optim.AdamW(plain.parameters(), lr=1e-6), 0)
    assert moved_share(plain, before) < 0.1
    mastered = build_model(tokenizer, hidden=64).to(torch.bfloat16)
    master = MasterWeights(list(mastered.parameters()), lr=1e-6, weight_decay=0.0)
    start = [m.clone() for m in master.master]
    for seed in range(20):
        lm_loss_step(mastered, master, seed)
    changed_fp32 = sum(int((a != b).sum()) for a, b in zip(start, master.master, strict=True))
    assert changed_fp32 / sum(m.numel() for m in start) > 0.9
    for param, copy in zip(mastered.parameters(), master.master, strict=True):
        assert param.dtype == torch.bfloat16
        assert torch.equal(param, copy.to(torch.bfloat16))
    assert moved_share(mastered, before) > moved_share(plain, before)


@pytest.mark.parametrize(("option", "kind"), [(True, MasterWeights), (False, torch.optim.AdamW)])
def test_a_bfloat16_policy_gets_master_weights(option: bool, kind: type) -> None:
    tokenizer = build_tokenizer()
    config = GRPOConfig(model="m", data="d", fp32_master_weights=option, lr_warmup_steps=2)
    optimizer = make_optimizer(build_model(tokenizer).to(torch.bfloat16), config)
    assert isinstance(optimizer, kind)
    assert set_learning_rate(optimizer, config, 0) == pytest.approx(0.5e-6)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.5e-6)  # the warm-up drives it
    assert set_learning_rate(optimizer, config, 1) == pytest.approx(1e-6)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-6)
    assert isinstance(make_optimizer(build_model(tokenizer), config), torch.optim.AdamW)


def samples_by(url: str, source: str) -> dict[tuple[str, str], float]:
    """raas's ``raas_samples_total`` of ``source``, by (verifier, status)."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    pattern = r"^raas_samples_total\{([^}]*)\} (\S+)$"
    found: dict[tuple[str, str], float] = {}
    for labels, value in re.findall(pattern, text, re.M):
        fields = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        if fields.get("data_source") == source:
            key = (fields["verifier"], fields["status"])
            found[key] = found.get(key, 0.0) + float(value)
    return found


def test_raas_train_on_orsta_parquet_rows(server: LiveServer, tmp_path: Path) -> None:
    """Orsta-layout Parquet (chat prompt, reward_model struct, no verifier column) driven through
    the command line with V-Triune's options: every rollout reaches raas and is scored by
    ``math`` (before, the column was ignored: no verifier, no ground truth), the warm-up sets
    each step's lr, the frozen block is saved as it was."""
    source = "orsta_smoke_math"
    rows = [
        {
            "data_source": source,
            "prompt": [{"role": "user", "content": r["prompt"]}],
            "reward_model": {
                "ground_truth": f"${r['ground_truth']}$",
                "style": "rule",
                "accuracy_ratio": 1.0,
                "format_ratio": 0.1,
                "verifier": "mathverify",
            },
        }
        for r in arithmetic_rows()[:8]
    ]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "orsta.parquet")
    model = save_toy(tmp_path / "model", hidden=32)
    before = samples_by(server.url, source)
    main(
        [
            "--model",
            str(model),
            "--data",
            str(tmp_path / "orsta.parquet"),
            "--reward-url",
            server.url,
            "--output-dir",
            str(tmp_path / "run"),
            "--steps",
            "2",
            "--prompts-per-step",
            "2",
            "--group-size",
            "2",
            "--max-new-tokens",
            "4",
            "--learning-rate",
            "1e-3",
            "--lr-warmup-steps",
            "4",
            "--freeze",
            "layers.0",
            "--no-dynamic-sampling",
            "--torch-threads",
            "1",
            "--no-tensorboard",
        ]
    )
    after = samples_by(server.url, source)
    sent = {key: after[key] - before.get(key, 0.0) for key in after}
    assert sent == {("math", "ok"): 2 * 2 * 2}  # 2 steps × 2 prompts × 2 rollouts, all math
    log = read_log(tmp_path / "run" / "metrics.jsonl")
    assert [entry["lr"] for entry in log] == pytest.approx([2.5e-4, 5e-4])
    assert all(entry[f"unscored/{source}"] == 0.0 for entry in log)
    initial = AutoModelForCausalLM.from_pretrained(model).state_dict()
    final = AutoModelForCausalLM.from_pretrained(tmp_path / "run" / "final").state_dict()
    assert all(torch.equal(initial[k], final[k]) for k in final if ".layers.0." in k)


@pytest.mark.parametrize("format_ratio", [0.1, 0.0])
def test_the_prompt_budget_makes_room_for_the_longest_instruction(format_ratio: float) -> None:
    """vLLM's max_model_len comes from the longest prompt: with the CoT pool that is the row with
    its longest instruction (the toy tokenizer is a character one: the bound is exact)."""
    tokenizer = build_tokenizer()
    rows = [math_row(format_ratio, [{"role": "user", "content": "what is 1+1?"}])]
    pools = (
        (CLOSEFORM_FIRST, CLOSEFORM_SECOND) if format_ratio else (FREEFORM_FIRST, FREEFORM_SECOND)
    )
    every = [
        len(tokenizer(prompt_text({"prompt": p}, tokenizer), add_special_tokens=False).input_ids)
        for p in (
            [{"role": "user", "content": f"what is 1+1?\n\n{a}{b}"}]
            for a in pools[0]
            for b in pools[1]
        )
    ]
    assert longest_prompt(rows, tokenizer, "vtriune") == max(every)
    assert longest_prompt(rows, tokenizer) == len("what is 1+1?")
