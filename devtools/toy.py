"""A toy task small enough for GRPO on a laptop CPU: one-digit arithmetic, ``\\boxed{}`` answers.

Everything is built locally, nothing downloaded: a character-level tokenizer (``\\boxed{`` is one
token), a tiny Llama, the prompts (``"7+5="`` → ``\\boxed{12}``, two data sources: ``add`` and
``sub``) with their raas reward spec, and a brief supervised warm start. A policy initialised at
random never writes ``\\boxed{…}``, so every reward would be 0 and GRPO would have no signal;
the warm start teaches the format and some of the sums (deliberately too few steps to learn
them all), leaving RL the rest to find through the verifier's reward.
"""

from __future__ import annotations

import random
import string
from pathlib import Path
from typing import Any

import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

SPECIAL = ("<pad>", "<eos>", "<unk>")
BOXED = "\\boxed{"
QWEN3_TAGS = ("think", "tool_call", "tool_response")
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['content'] }}{% endfor %}"
    "{% if add_generation_prompt %}{% endif %}"
)


def build_tokenizer() -> PreTrainedTokenizerFast:
    """Characters are tokens (printable ASCII and newline), ``\\boxed{`` is one more; decoding
    concatenates them back (no spaces inserted)."""
    chars = [c for c in string.printable if c not in "\t\r\x0b\x0c"]
    vocab = {token: i for i, token in enumerate([*SPECIAL, BOXED, *chars])}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"\\boxed\{|[\s\S]"), behavior="isolated")
    core.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>"
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_chat_tokenizer() -> PreTrainedTokenizerFast:
    """The character tokenizer with Qwen3's chat template, its special tokens (``<|im_end|>``
    ends a turn; ``<think>``, ``<tool_call>``, … are one token each) and the response template
    TRL sets for it, so TRL's ``parse_response`` splits a reply into ``reasoning_content``,
    ``content`` and ``tool_calls`` as it does for Qwen3."""
    from trl.chat_template_utils import add_response_schema, qwen3_chat_template

    tokenizer = build_tokenizer()
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tokenizer.add_tokens([f"<{s}{tag}>" for tag in QWEN3_TAGS for s in ("", "/")])
    tokenizer.eos_token = "<|im_end|>"
    tokenizer.chat_template = qwen3_chat_template
    return add_response_schema(tokenizer)


def build_model(
    tokenizer: PreTrainedTokenizerFast, hidden: int = 64, layers: int = 2, seed: int = 0
) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=256,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    return LlamaForCausalLM(config)


def arithmetic_rows(seed: int = 0) -> list[dict[str, Any]]:
    """Every a+b and a−b (a ≥ b) over one-digit numbers, each with its raas reward spec."""
    rows = []
    for a in range(10):
        for b in range(10):
            rows.append({"prompt": f"{a}+{b}=", "ground_truth": str(a + b), "data_source": "add"})
            if a >= b:
                rows.append(
                    {"prompt": f"{a}-{b}=", "ground_truth": str(a - b), "data_source": "sub"}
                )
    for row in rows:
        row["verifier"] = "math"
    random.Random(seed).shuffle(rows)
    return rows


GRID, SIDE = 10, 40  # grounding: an object in cell (a, b) has the box [10a, 10b, 10a+40, 10b+40]


def grounding_rows(seed: int = 0) -> list[dict[str, Any]]:
    """``box 3,7=`` → ``\\boxed{[30,70,70,110]}``: a toy grounding task (data source
    ``grounding``) whose answers earn a continuous IoU. No verifier: the server routes it."""
    rows = [
        {"prompt": f"box {a},{b}=", "ground_truth": box(a, b), "data_source": "grounding"}
        for a in range(10)
        for b in range(10)
    ]
    random.Random(seed).shuffle(rows)
    return rows


def box(a: int, b: int) -> list[int]:
    return [GRID * a, GRID * b, GRID * a + SIDE, GRID * b + SIDE]


def answer_text(row: dict[str, Any], rng: random.Random, noise: float, reflect: float) -> str:
    """The supervised answer of ``row``: with probability ``noise`` a near miss (a number ±1, a
    box shifted by one cell on one axis: IoU 0.6), and with probability ``reflect`` (apart)
    prefixed by ``wait, ``."""
    truth = row["ground_truth"]
    if isinstance(truth, list):
        coords = list(truth)
        if rng.random() < noise:
            axis, shift = rng.choice((0, 1)), rng.choice((-GRID, GRID))
            coords[axis] += shift
            coords[axis + 2] += shift
        answer = "[" + ",".join(str(c) for c in coords) + "]"
    else:
        value = int(truth)
        answer = str(abs(value + rng.choice((-1, 1))) if rng.random() < noise else value)
    prefix = "wait, " if reflect and rng.random() < reflect else ""  # no draw: same stream
    return f"{prefix}{BOXED}{answer}}}"


def warm_start(
    model: LlamaForCausalLM,
    tokenizer: PreTrainedTokenizerFast,
    rows: list[dict[str, Any]],
    steps: int,
    batch_size: int = 32,
    learning_rate: float = 3e-3,
    noise: float = 0.0,
    seed: int = 0,
    reflect: float = 0.0,
) -> float:
    """Supervised steps on ``prompt`` → ``\\boxed{answer}<eos>`` (loss on the answer only),
    the answer a near miss with probability ``noise`` and prefixed by ``wait, `` with
    probability ``reflect`` (:func:`answer_text`); returns the last loss."""
    rng = random.Random(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    model.train()
    loss = torch.tensor(0.0)
    for _ in range(steps):
        batch = rng.sample(rows, min(batch_size, len(rows)))
        ids, labels = [], []
        for row in batch:
            prompt = tokenizer(row["prompt"], add_special_tokens=False)["input_ids"]
            text = answer_text(row, rng, noise, reflect)
            answer = tokenizer(text, add_special_tokens=False)
            target = [*answer["input_ids"], tokenizer.eos_token_id]
            ids.append(prompt + target)
            labels.append([-100] * len(prompt) + target)
        width = max(map(len, ids))
        pad = tokenizer.pad_token_id
        input_ids = torch.tensor([x + [pad] * (width - len(x)) for x in ids])
        label_ids = torch.tensor([y + [-100] * (width - len(y)) for y in labels])
        loss = model(input_ids=input_ids, attention_mask=input_ids.ne(pad), labels=label_ids).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return loss.detach().item()


def save_toy(
    directory: Path,
    warm_steps: int = 0,
    noise: float = 0.0,
    hidden: int = 64,
    layers: int = 2,
    seed: int = 0,
    rows: list[dict[str, Any]] | None = None,
    reflect: float = 0.0,
) -> Path:
    """Build, optionally warm-start (on ``rows``, by default the arithmetic ones), and save the
    tiny model with its tokenizer."""
    tokenizer = build_tokenizer()
    model = build_model(tokenizer, hidden, layers, seed)
    if warm_steps:
        rows = arithmetic_rows(seed) if rows is None else rows
        warm_start(model, tokenizer, rows, warm_steps, noise=noise, seed=seed, reflect=reflect)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
