"""``raas-train`` with vision-language policies: row images to the processor, batched generation
with image inputs, log-probabilities with the same inputs, spurious image tokens out of the loss,
and a short run of the tiny VLM on the grounding task against a live server."""

from __future__ import annotations

import base64
import io
import json
import types
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import (
    AutoProcessor,
    LlamaConfig,
    LlavaConfig,
    PreTrainedModel,
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2VLImageProcessorPil,
)
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

from devtools import toy
from devtools.live import LiveServer
from devtools.vlm import build_tokenizer, grounding_rows, save_vlm
from tests.trainer_client.test_grpo import scored
from trainer_client.client import RewardClient, Sample, ScoredBatch
from trainer_client.grpo.config import GRPOConfig
from trainer_client.grpo.loss import make_batch, token_logprobs
from trainer_client.grpo.metrics import read_log
from trainer_client.grpo.rollout import HFGenerator, Prompt
from trainer_client.grpo.spec import row_spec
from trainer_client.grpo.trainer import GRPOTrainer
from trainer_client.grpo.vision import (
    ImageInputError,
    chat_messages,
    load_image,
    placeholder_ids,
    render,
    seen_size,
)
from trainer_client.images import encode_image

CPU = torch.device("cpu")


def png_bytes(seed: int, size: tuple[int, int] = (20, 12)) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def pixels(image: Image.Image) -> list[int]:
    return list(image.convert("RGB").tobytes())


# --- row images ----------------------------------------------------------------------------

FORMS: dict[str, Callable[[bytes, Path], Any]] = {
    "path": lambda data, file: str(file),
    "data URI": lambda data, file: "data:image/png;base64," + base64.b64encode(data).decode(),
    "bare base64": lambda data, file: base64.b64encode(data).decode(),
    "Parquet bytes": lambda data, file: {"bytes": data, "path": None},
    "Parquet path": lambda data, file: {"bytes": None, "path": str(file)},
}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_row_images_read_in_every_form(form: str, tmp_path: Path) -> None:
    data = png_bytes(1)
    (tmp_path / "a.png").write_bytes(data)
    image = load_image(FORMS[form](data, tmp_path / "a.png"))
    assert image.size == (20, 12)
    assert pixels(image) == pixels(Image.open(io.BytesIO(data)))


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ("https://example.com/cat.png", "URLs are not fetched"),
        ("http://127.0.0.1:1/cat.png", "URLs are not fetched"),
        ("ftp://example.com/cat.png", "URLs are not fetched"),
        ("/no/such/file.png", "no file here"),
        ("data:image/png;base64,bm90IGFuIGltYWdl", "not an image"),  # "not an image"
        (b"GIF89a" + b"\0" * 10, "not an image"),
        (b"plain bytes", "not an image"),
        (12, "cannot send a int"),
    ],
)
def test_bad_row_images_are_refused_saying_why(image: Any, message: str) -> None:
    with pytest.raises(ImageInputError, match=message):
        load_image(image)


IMG, TXT = {"type": "image"}, lambda t: {"type": "text", "text": t}


@pytest.mark.parametrize(
    ("prompt", "images", "content"),
    [
        ("Where is it?", 1, [IMG, TXT("Where is it?")]),  # no slot: images before the text
        ("Compare.", 2, [IMG, IMG, TXT("Compare.")]),
        ("Plain text.", 0, [TXT("Plain text.")]),
        ("<image>What is this?", 1, [IMG, TXT("What is this?")]),  # verl's / Orsta's marker
        ("A <image> and B <image>.", 2, [TXT("A "), IMG, TXT(" and B "), IMG, TXT(".")]),
        ([{"role": "user", "content": [TXT("x"), IMG]}], 1, [TXT("x"), IMG]),
    ],
)
def test_images_take_their_slots_in_the_chat(
    prompt: Any, images: int, content: list[dict[str, str]]
) -> None:
    messages = chat_messages(prompt, images)
    assert messages[-1] == {"role": "user", "content": content}


def test_a_slot_count_that_disagrees_with_the_images_is_an_error() -> None:
    with pytest.raises(ImageInputError, match="2 image slots for 1 images"):
        chat_messages("<image><image>two?", 1)


def test_raas_gets_the_pixels_the_policy_saw(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(png_bytes(2))
    row = {"prompt": "?", "verifier": "iou", "images": [str(tmp_path / "a.png")]}
    (uri,) = row_spec(row)["images"]
    assert uri.startswith("data:image/png;base64,")  # a path raas could not open: the bytes
    assert pixels(load_image(uri)) == pixels(load_image(str(tmp_path / "a.png")))


@pytest.mark.parametrize(("width", "height"), [(64, 64), (48, 32), (100, 30), (37, 61)])
def test_the_size_sent_is_the_image_the_model_saw(width: int, height: int) -> None:
    """A patch-grid processor (Qwen2/2.5-VL) resizes; its model's pixel boxes are of the
    resized image, so that size is sent, as V-Triune's trainer sends it. A fixed-size tower's
    (Llava's) model gets the image's own size."""
    image = Image.open(io.BytesIO(png_bytes(0, (width, height))))
    qwen = Qwen2VLImageProcessorPil(min_pixels=32 * 32, max_pixels=64 * 64, patch_size=8)
    tensors = dict(qwen(images=[image], return_tensors="pt"))
    resized_h, resized_w = smart_resize(
        height, width, factor=16, min_pixels=32 * 32, max_pixels=64 * 64
    )
    processor = types.SimpleNamespace(image_processor=qwen)
    assert seen_size(tensors, processor, image) == [resized_w, resized_h]
    clip = types.SimpleNamespace(image_processor=types.SimpleNamespace(patch_size=None))
    assert seen_size({"pixel_values": torch.zeros(1)}, clip, image) == [width, height]


# --- placeholders and the loss -------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (LlavaConfig(image_token_index=7), {7}),
        (Qwen2_5_VLConfig(image_token_id=5, video_token_id=6), {5, 6}),
        (LlamaConfig(), set()),
    ],
)
def test_placeholder_ids(config: Any, expected: set[int]) -> None:
    assert placeholder_ids(config) == expected


@pytest.mark.parametrize(
    ("completion", "ids", "mask", "masked"),
    [
        ([3, 4], [1, 2, 3, 4], [0, 1, 1], 0),
        ([9, 4], [1, 2, 0, 4], [0, 0, 1], 1),  # the placeholder: padded, not scored
        ([3, 9], [1, 2, 3, 0], [0, 1, 0], 1),
        ([9, 9], [1, 2, 0, 0], [0, 0, 0], 2),
    ],
)
def test_spurious_placeholders_leave_the_loss(
    completion: list[int], ids: list[int], mask: list[int], masked: int
) -> None:
    batch = make_batch([([1, 2], completion, 1.0)], 0, CPU, placeholders=frozenset({9}))
    assert batch.input_ids.tolist() == [ids]
    assert batch.completion_mask.tolist() == [mask]
    assert batch.placeholders_masked == masked


def tiny_qwen_vl() -> tuple[Qwen2_5_VLForConditionalGeneration, Any]:
    """A tiny Qwen2.5-VL (M-RoPE, windowed vision tower, 2×2 patch merger) on the toy tokenizer."""
    tokenizer = build_tokenizer()
    token = tokenizer.convert_tokens_to_ids
    ends = {
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": None,
    }
    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]},
            "tie_word_embeddings": True,
            **ends,
        },
        vision_config={
            "depth": 1,
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_heads": 2,
            "out_hidden_size": 32,
            "patch_size": 8,
            "spatial_merge_size": 2,
            "window_size": 32,
            "fullatt_block_indexes": [0],
        },
        image_token_id=token("<|image_pad|>"),
        video_token_id=tokenizer.unk_token_id,
        vision_start_token_id=token("<|vision_start|>"),
        vision_end_token_id=token("<|vision_end|>"),
        **ends,
    )
    torch.manual_seed(0)
    return Qwen2_5_VLForConditionalGeneration(config).eval(), tokenizer


def qwen_prompts(tokenizer: Any) -> list[Prompt]:
    """Two prompts of different lengths and image sizes (16 and 6 merged patches), tokenized as
    Qwen2.5-VL's processor does: one ``<|image_pad|>`` per merged patch."""
    processor = Qwen2VLImageProcessorPil(
        min_pixels=32 * 32, max_pixels=64 * 64, patch_size=8, merge_size=2
    )
    prompts = []
    for seed, (size, question) in enumerate([((64, 64), "where?"), ((48, 32), "where is it?")]):
        image = Image.open(io.BytesIO(png_bytes(seed, size)))
        inputs = dict(processor(images=[image], return_tensors="pt"))
        count = int(inputs["image_grid_thw"].prod()) // 4
        text = f"<|im_start|>user\n<|vision_start|>{'<|image_pad|>' * count}<|vision_end|>"
        text += f"{question}<|im_end|>\n<|im_start|>assistant\n"
        prompts.append(Prompt(tokenizer(text, add_special_tokens=False)["input_ids"], inputs))
    return prompts


def test_qwen_vl_prompts_generate_together_and_score_with_their_images() -> None:
    model, tokenizer = tiny_qwen_vl()
    prompts = qwen_prompts(tokenizer)
    assert len(prompts[0].ids) != len(prompts[1].ids)  # one is left-padded
    config = GRPOConfig(model="unused", data="unused", max_new_tokens=6)
    groups = HFGenerator(model, tokenizer, config).generate_batch(prompts, 3)
    assert [len(group) for group in groups] == [3, 3]
    for prompt, group in zip(prompts, groups, strict=True):
        for rollout in group:
            assert rollout.prompt_ids == prompt.ids  # no padding kept in the prompt
            assert rollout.images is prompt.images  # the loss sees the images sampled with
            assert 0 < len(rollout.completion_ids) <= 6
    # completions that wrote an image placeholder (a spurious image token) and then text
    image_pad = model.config.image_token_id
    sequences = [(r.prompt_ids, [*r.completion_ids, image_pad, 5], 1.0) for g in groups for r in g]
    images = [r.images for g in groups for r in g]
    pad = tokenizer.pad_token_id
    with pytest.raises(ValueError, match="Image features and image tokens do not match"):
        token_logprobs(model, make_batch(sequences, pad, CPU, images))  # as it was
    batch = make_batch(sequences, pad, CPU, images, placeholder_ids(model.config))
    logp = token_logprobs(model, batch)
    assert batch.placeholders_masked == 6
    assert torch.isfinite(logp).all()
    # one sequence alone and in the batch: the same log-probabilities (images follow their row)
    alone = make_batch(sequences[4:5], pad, CPU, images[4:5], placeholder_ids(model.config))
    width = alone.completion_mask.shape[1]
    mask = alone.completion_mask[0].bool()
    expected = token_logprobs(model, alone)[0][mask]
    assert torch.allclose(logp[4, :width][mask], expected, atol=1e-4)


# --- a short run against raas --------------------------------------------------------------


class RecordingClient(RewardClient):
    """The real client, keeping a copy of every sample it sends."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.sent: list[Sample] = []

    def submit(
        self, samples: Sequence[Sample], *, step: int | None = None, total_steps: int | None = None
    ) -> Future[ScoredBatch]:
        self.sent += samples
        return super().submit(samples, step=step, total_steps=total_steps)


def tempt_image_tokens(model: PreTrainedModel, row: dict[str, Any], processor: Any) -> None:
    """Make ``<|image_pad|>`` a likely next token (about one in five), so the policy writes
    spurious image tokens as a real one sometimes does: its output row is set along the mean
    final hidden state (its input embedding is replaced by image features anyway)."""
    rendered = render(row, processor)
    with torch.no_grad():
        inputs = {"input_ids": torch.tensor([rendered.ids]), **(rendered.images or {})}
        hidden = model(**inputs, output_hidden_states=True).hidden_states[-1][0, -1]
        head = model.get_output_embeddings().weight  # type: ignore[union-attr]
        typical = (hidden @ head.T).std()
        token = model.config.image_token_index
        head[token] = hidden / hidden.norm() ** 2 * (float(typical) + 5.0)


def test_raas_train_runs_a_vision_language_policy_against_a_live_server(
    server: LiveServer, tmp_path: Path
) -> None:
    save_vlm(tmp_path / "model", hidden=32)
    rows = grounding_rows(tmp_path / "images", 8)
    for row in rows[::2]:  # half the rows carry their image inline, half as a path
        row["images"] = [FORMS["data URI"](Path(row["images"][0]).read_bytes(), Path())]
    (tmp_path / "data.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    config = GRPOConfig(
        model=str(tmp_path / "model"),
        data=str(tmp_path / "data.jsonl"),
        reward_url=server.url,
        output_dir=str(tmp_path / "run"),
        steps=2,
        prompts_per_step=4,
        group_size=4,
        prompts_per_generate=2,
        max_new_tokens=10,
        learning_rate=1e-3,
        micro_batch_size=6,
        dynamic_sampling=False,
        torch_threads=1,
        tensorboard=False,
    )
    client = RecordingClient(server.url)
    before = scored(server.url, "grounding")
    trainer = GRPOTrainer(config, client=client)  # loaded from the directory, as the CLI does
    assert type(trainer.model).__name__ == "LlavaForConditionalGeneration"
    tempt_image_tokens(trainer.model, rows[1], trainer.processor)

    image_pad = trainer.model.config.image_token_index
    towers: list[tuple[bool, int]] = []  # (for the loss, images) per call of the vision tower
    forwards: list[tuple[int, int]] = []  # (placeholders, images) per forward of the loss

    def pixels_in(module: torch.nn.Module, args: Any, kwargs: dict[str, Any]) -> None:
        towers.append((torch.is_grad_enabled(), (args or [kwargs.get("pixel_values")])[0].shape[0]))

    def forward(module: torch.nn.Module, args: Any, kwargs: dict[str, Any]) -> None:
        if torch.is_grad_enabled():
            images = kwargs.get("pixel_values")
            count = 0 if images is None else images.shape[0]
            forwards.append((int((kwargs["input_ids"] == image_pad).sum()), count))

    trainer.model.model.vision_tower.register_forward_pre_hook(pixels_in, with_kwargs=True)
    trainer.model.register_forward_pre_hook(forward, with_kwargs=True)
    history = trainer.train()

    # images reached the policy: the vision tower saw 2 prompts × 4 rollouts per generate call
    # (2 steps × 4 prompts, 2 a call) and every sequence of the update (2 steps × 16); each loss
    # forward had exactly 65 placeholders per image (no spurious one left in)
    assert [images for grad, images in towers if not grad] == [2 * 4] * 4
    assert sum(images for grad, images in towers if grad) == 2 * 16
    assert forwards
    assert all(count == 65 * images and images > 0 for count, images in forwards)
    # the policy did write image tokens; they were taken out of the loss
    assert sum(entry["image_tokens_masked"] for entry in history) > 0
    # images reached raas: each sample carries its row's image, as a data URI, and was scored
    assert len(client.sent) == 2 * 4 * 4
    by_row = {
        (r["prompt"], str(r["ground_truth"])): [encode_image(i) for i in r["images"]] for r in rows
    }
    assert len(by_row) == len(rows)
    for sample in client.sent:
        question = sample["prompt"].split("<|vision_end|>")[1].split("<|im_end|>")[0]
        assert sample["images"] == by_row[question, str(sample["ground_truth"])]
    assert scored(server.url, "grounding") - before == len(client.sent)
    log = read_log(tmp_path / "run" / "metrics.jsonl")
    assert all(entry["parsed/grounding"] == 0.0 for entry in log)  # raas's monitoring: none yet
    assert AutoProcessor.from_pretrained(tmp_path / "run" / "final").image_processor is not None


def test_detection_samples_carry_the_size_the_policy_saw(tmp_path: Path) -> None:
    """The rendered prompt's size goes with each detection sample, over the file's own."""
    save_vlm(tmp_path / "model", hidden=32)
    row = {
        **grounding_rows(tmp_path / "images", 1)[0],
        "verifier": "detection",
        "params": {"normalize_pixels": True},
    }
    config = GRPOConfig(
        model=str(tmp_path / "model"),
        data="unused",
        output_dir=str(tmp_path / "run"),
        group_size=2,
        max_new_tokens=2,
        tensorboard=False,
    )
    trainer = GRPOTrainer(config, rows=[row])
    (group,) = trainer._generate([row])
    assert group.image_size == [64, 64]  # Llava: the image's own size
    group.image_size = [56, 28]  # as a Qwen2.5-VL processor that resized it would say
    samples = trainer._samples(group)
    expected = {"normalize_pixels": True, "image_size": [56, 28]}
    assert [s["params"] for s in samples] == [expected, expected]


def test_a_bfloat16_policy_trains_through_float32_master_weights(tmp_path: Path) -> None:
    """The precision a CUDA run takes (``dtype`` auto there), on CPU: the policy loaded in
    bfloat16 samples and recomputes log-probabilities with float32 pixel values from its
    processor, and its trained weights move through float32 copies (random rewards: a random
    policy earns no IoU, so raas's would give no group a signal)."""
    save_vlm(tmp_path / "model", hidden=32)
    rows = grounding_rows(tmp_path / "images", 4)
    config = GRPOConfig(
        model=str(tmp_path / "model"),
        data="unused",
        output_dir=str(tmp_path / "run"),
        steps=2,
        prompts_per_step=2,
        group_size=4,
        prompts_per_generate=2,
        max_new_tokens=6,
        learning_rate=1e-3,
        dtype="bfloat16",
        reward_mode="none",
        dynamic_sampling=False,
        torch_threads=1,
        tensorboard=False,
        save_model=False,
    )
    trainer = GRPOTrainer(config, rows=rows)
    assert {p.dtype for p in trainer.model.parameters()} == {torch.bfloat16}
    masters = {p.dtype for group in trainer.optimizer.param_groups for p in group["params"]}
    assert masters == {torch.float32}
    before = [p.detach().clone() for p in trainer.model.parameters()]
    history = trainer.train()
    assert all(np.isfinite(entry["loss"]) and entry["sequences"] == 8 for entry in history)
    after = list(trainer.model.parameters())
    moved = sum(not torch.equal(a, p) for a, p in zip(before, after, strict=True))
    assert moved > len(before) // 2


def test_a_row_with_an_image_url_stops_the_run_saying_which(
    server: LiveServer, tmp_path: Path
) -> None:
    save_vlm(tmp_path / "model", hidden=32)
    row = {**grounding_rows(tmp_path / "images", 1)[0], "images": ["https://example.com/a.png"]}
    config = GRPOConfig(
        model=str(tmp_path / "model"),
        data="unused",
        reward_url=server.url,
        output_dir=str(tmp_path / "run"),
        steps=1,
        prompts_per_step=1,
        group_size=2,
        tensorboard=False,
    )
    trainer = GRPOTrainer(config, rows=[row])
    with pytest.raises(ImageInputError, match=r"'grounding'.*URLs are not fetched"):
        trainer.train()


def test_text_prompts_generate_several_a_call(tmp_path: Path) -> None:
    """A text-only policy with ``prompts_per_generate`` > 1: left-padded prompts of different
    lengths sampled together, each group's rollouts keep their own unpadded prompt."""
    tokenizer = toy.build_tokenizer()
    model = toy.build_model(tokenizer, hidden=32, layers=1)
    rows = [{"prompt": p, "ground_truth": "1", "verifier": "math"} for p in ("1+0=", "10+20+3=")]
    config = GRPOConfig(
        model="unused",
        data="unused",
        output_dir=str(tmp_path),
        steps=1,
        prompts_per_step=5,
        group_size=2,
        prompts_per_generate=3,
        max_new_tokens=4,
        reward_mode="none",
        dynamic_sampling=False,
        tensorboard=False,
        save_model=False,
    )
    trainer = GRPOTrainer(config, model=model, tokenizer=tokenizer, rows=rows)
    prefills: list[int] = []

    def seen(module: torch.nn.Module, args: Any, kwargs: dict[str, Any]) -> None:
        if not torch.is_grad_enabled() and kwargs["input_ids"].shape[1] > 1:
            prefills.append(kwargs["input_ids"].shape[0])

    model.register_forward_pre_hook(seen, with_kwargs=True)
    groups, _ = trainer.rollout(trainer.sampler.take(5), 0)
    assert prefills == [3 * 2, 2 * 2]  # 5 prompts: a call of 3, a call of 2
    for group in groups:
        ids = tokenizer(group.row["prompt"], add_special_tokens=True)["input_ids"]
        assert all(r.prompt_ids == ids and r.images is None for r in group.rollouts)
