"""A tiny vision-language policy and a synthetic grounding task, built locally (no download).

The policy: a Llava (a small CLIP vision tower, a projector, a small Llama) whose tokenizer is
the toy arithmetic task's character tokenizer (:mod:`devtools.toy`) plus Qwen2.5-VL's chat and
vision tokens (``<|im_start|>``, ``<|im_end|>`` ends a turn, ``<|vision_start|>``,
``<|image_pad|>``, ``<|vision_end|>``) and a Qwen2.5-VL-style chat template; its processor
(CLIP's image processor, Pillow only) expands each ``<|image_pad|>`` to the tower's 65 features
(64×64 images, 8×8 patches, plus CLS). Saved with ``save_pretrained`` beside its processor, so
raas-train loads it through the real ``from_pretrained`` path. (A Qwen2.5-VL processor needs a
video processor, hence torchvision, which this environment does not install; the Qwen2.5-VL
model itself is checked with its image processor in the tests.)

The task: a 64×64 image with two or three shapes (square, circle, triangle) of distinct colours
on a grey ground, each in a 16×16 box on an 8-pixel grid; the prompt names one ("the red
circle"); the answer is its bounding box in pixels, ``\\boxed{[x1,y1,x2,y2]}``, scored by raas's
``iou`` verifier (continuous IoU).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageDraw
from transformers import (
    CLIPVisionConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
    PreTrainedTokenizerFast,
)

from devtools.toy import BOXED
from devtools.toy import build_tokenizer as build_char_tokenizer

SIZE, PATCH = 64, 8  # image side and patch side: (64/8)² + 1 = 65 image features
SIDE, STEP = 16, 8  # a shape's box side and the grid it sits on
VISION_TOKENS = [
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['content'] is string %}{{ m['content'] }}"
    "{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 180, 60),
    "blue": (40, 70, 220),
    "yellow": (230, 210, 40),
}
SHAPES = ("square", "circle", "triangle")


def build_tokenizer() -> PreTrainedTokenizerFast:
    """The toy task's characters and ``\\boxed{``, plus the chat and vision special tokens."""
    tokenizer = build_char_tokenizer()
    tokenizer.add_special_tokens({"additional_special_tokens": VISION_TOKENS})
    tokenizer.eos_token = "<|im_end|>"
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_processor(tokenizer: PreTrainedTokenizerFast) -> LlavaProcessor:
    import transformers

    image_processor = transformers.CLIPImageProcessorPil(
        size={"shortest_edge": SIZE}, crop_size={"height": SIZE, "width": SIZE}
    )
    return LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=PATCH,
        num_additional_image_tokens=1,
        vision_feature_select_strategy="full",
        image_token="<|image_pad|>",
        chat_template=CHAT_TEMPLATE,
    )


def build_model(
    tokenizer: PreTrainedTokenizerFast, hidden: int = 64, layers: int = 2, seed: int = 0
) -> LlavaForConditionalGeneration:
    vision = CLIPVisionConfig(
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=SIZE,
        patch_size=PATCH,
        projection_dim=hidden,
    )
    text = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=tokenizer.convert_tokens_to_ids("<|image_pad|>"),
        vision_feature_layer=-1,
        vision_feature_select_strategy="full",
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model


def save_vlm(directory: Path, hidden: int = 64, layers: int = 2, seed: int = 0) -> Path:
    """Build and save the tiny policy with its processor (and so its tokenizer)."""
    tokenizer = build_tokenizer()
    model = build_model(tokenizer, hidden, layers, seed)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    build_processor(tokenizer).save_pretrained(directory)
    return directory


def _draw(draw: ImageDraw.ImageDraw, shape: str, box: list[int], fill: tuple[int, ...]) -> None:
    x1, y1, x2, y2 = box
    if shape == "square":
        draw.rectangle((x1, y1, x2 - 1, y2 - 1), fill=fill)
    elif shape == "circle":
        draw.ellipse((x1, y1, x2 - 1, y2 - 1), fill=fill)
    else:
        draw.polygon([(x1, y2 - 1), ((x1 + x2) // 2, y1), (x2 - 1, y2 - 1)], fill=fill)


def _boxes(rng: random.Random, count: int) -> list[list[int]]:
    """``count`` non-overlapping 16×16 boxes on an 8-pixel grid (7×7 places): few enough that a
    tiny policy can learn them, and a box one step off still earns IoU 1/3."""
    boxes: list[list[int]] = []
    while len(boxes) < count:
        x, y = rng.randrange(0, SIZE - SIDE + 1, STEP), rng.randrange(0, SIZE - SIDE + 1, STEP)
        box = [x, y, x + SIDE, y + SIDE]
        if all(box[2] <= b[0] or b[2] <= box[0] or box[3] <= b[1] or b[3] <= box[1] for b in boxes):
            boxes.append(box)
    return boxes


def scene(
    rng: random.Random, objects: tuple[int, int] = (2, 3)
) -> tuple[Image.Image, list[tuple[str, list[int]]]]:
    """An image and its objects (between ``objects`` many), each "<colour> <shape>" and box."""
    count = rng.randint(*objects)
    colours = rng.sample(sorted(COLOURS), count)
    shapes = [rng.choice(SHAPES) for _ in range(count)]
    image = Image.new("RGB", (SIZE, SIZE), (128, 128, 128))
    draw = ImageDraw.Draw(image)
    objects = []
    for colour, shape, box in zip(colours, shapes, _boxes(rng, count), strict=True):
        _draw(draw, shape, box, COLOURS[colour])
        objects.append((f"{colour} {shape}", box))
    return image, objects


def grounding_rows(
    directory: Path, count: int, seed: int = 0, objects: tuple[int, int] = (2, 3)
) -> list[dict[str, Any]]:
    """``count`` grounding rows, their images written as PNG files under ``directory``: the
    prompt names one object, the ground truth is its box, the ``iou`` verifier scores it."""
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    rows = []
    for index in range(count):
        image, shown = scene(rng, objects)
        name, box = rng.choice(shown)
        path = directory / f"scene_{seed}_{index}.png"
        image.save(path)
        rows.append(
            {
                "prompt": f"Where is the {name}? Answer \\boxed{{[x1,y1,x2,y2]}}.",
                "images": [str(path)],
                "ground_truth": box,
                "verifier": "iou",
                "data_source": "grounding",
            }
        )
    return rows


def answer_text(row: dict[str, Any]) -> str:
    return BOXED + "[" + ",".join(str(c) for c in row["ground_truth"]) + "]}"


def warm_start(
    model: LlavaForConditionalGeneration,
    processor: Any,
    rows: list[dict[str, Any]],
    steps: int,
    batch_size: int = 16,
    learning_rate: float = 2e-3,
    noise: float = 0.0,
    seed: int = 0,
) -> list[float]:
    """Supervised steps on image + prompt → ``\\boxed{[x1,y1,x2,y2]}<|im_end|>`` (loss on the
    answer only), with probability ``noise`` the taught box a grid step off on one axis (IoU
    1/3): the format is learnt, the boxes only partly, leaving RL the rest. Runs where the model
    is. Returns the loss per step."""
    from trainer_client.grpo.vision import render

    rng = random.Random(seed)
    tokenizer = processor.tokenizer
    rendered = [render(row, processor) for row in rows]
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    model.train()
    losses = []
    for _ in range(steps):
        picks = rng.sample(range(len(rows)), min(batch_size, len(rows)))
        ids, labels = [], []
        for index in picks:
            truth = list(rows[index]["ground_truth"])
            if rng.random() < noise:
                axis, shift = rng.choice((0, 1)), rng.choice((-STEP, STEP))
                truth[axis] += shift
                truth[axis + 2] += shift
            answer = answer_text({"ground_truth": truth})
            target = [
                *tokenizer(answer, add_special_tokens=False)["input_ids"],
                tokenizer.eos_token_id,
            ]
            ids.append(rendered[index].ids + target)
            labels.append([-100] * len(rendered[index].ids) + target)
        width = max(map(len, ids))
        pad = tokenizer.pad_token_id
        device = model.device
        input_ids = torch.tensor([x + [pad] * (width - len(x)) for x in ids], device=device)
        label_ids = torch.tensor([y + [-100] * (width - len(y)) for y in labels], device=device)
        pixels = torch.cat([rendered[i].images["pixel_values"] for i in picks])  # type: ignore[index]
        pixels = pixels.to(device)
        loss = model(
            input_ids=input_ids,
            attention_mask=input_ids.ne(pad),
            pixel_values=pixels,
            labels=label_ids,
        ).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    model.eval()
    return losses
