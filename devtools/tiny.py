"""Tiny reward models, and a vision-language policy that writes in their vocabulary, built from
configs and saved with ``save_pretrained`` (tests, benchmark).

Nothing is downloaded: a word-level tokenizer is trained on a small in-memory corpus, wrapped as
a ``PreTrainedTokenizerFast`` with pad/unk/bos/eos, an image placeholder and a chat template,
and saved beside randomly initialised (seeded) models, so loading goes through the real
``from_pretrained`` path.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    AutoModelForSequenceClassification,
    CLIPVisionConfig,
    GPT2Config,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
    PreTrainedTokenizerFast,
    Qwen2Config,
)

from reward_service.models.bt_vision import VisionRewardConfig, VisionRewardModel

SPECIALS = ["<pad>", "<unk>", "<s>", "</s>", "<image>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<s> {{ m['role'] }} : "
    "{% if m['content'] is string %}{{ m['content'] }}"
    "{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<image> {% else %}{{ c['text'] }} {% endif %}"
    "{% endfor %}{% endif %} </s> {% endfor %}"
)
CORPUS = " ".join(
    [
        "the quick brown fox jumps over the lazy dog . what is two plus two ? the answer is four .",
        "a cat sat on the mat and looked at a red ball .",
        "please describe the image in one sentence .",
        "first we add the numbers then we check the result carefully . the final answer is 42 .",
        "this response is helpful honest and harmless . that one is rude wrong and far too long .",
        "user assistant :",
    ]
).split()
WORDS = sorted(set(CORPUS))


def build_tokenizer(extra_words: int = 0) -> PreTrainedTokenizerFast:
    """Word level (one token per word); ``extra_words`` adds ``w0 … wN`` for bigger vocabularies."""
    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    words = WORDS + [f"w{i}" for i in range(extra_words)]
    trainer = trainers.WordLevelTrainer(special_tokens=SPECIALS, vocab_size=len(words) + 10)
    tokenizer.train_from_iterator([" ".join(words)], trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="<pad>",
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        additional_special_tokens=["<image>"],
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def _seeded_head(model: torch.nn.Module, head: torch.nn.Module, seed: int) -> None:
    """Random init gives a near-zero head; a wider one makes scores differ visibly."""
    torch.manual_seed(seed)
    torch.nn.init.normal_(head.weight, std=1.0)  # type: ignore[arg-type]
    model.eval()


def save_bt(
    directory: Path,
    arch: str = "llama",
    *,
    hidden: int = 32,
    layers: int = 2,
    heads: int = 4,
    kv_heads: int | None = None,
    intermediate: int | None = None,
    extra_words: int = 0,
    chat_template: bool = True,
    labels: int = 1,
    seed: int = 0,
) -> Path:
    """A one-label sequence classifier (``llama``: RoPE; ``gpt2``: absolute positions)."""
    tokenizer = build_tokenizer(extra_words)
    if not chat_template:
        tokenizer.chat_template = None
    common: dict[str, Any] = {
        "vocab_size": len(tokenizer),
        "num_labels": labels,
        "pad_token_id": tokenizer.pad_token_id,
    }
    if arch == "gpt2":
        config: Any = GPT2Config(
            n_embd=hidden,
            n_layer=layers,
            n_head=heads,
            n_positions=4096,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            **common,
        )
    else:
        config = LlamaConfig(
            hidden_size=hidden,
            intermediate_size=intermediate or hidden * 2,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            num_key_value_heads=kv_heads or max(1, heads // 2),
            max_position_embeddings=4096,
            **common,
        )
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_config(config)
    _seeded_head(model, model.score, seed)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def _llava(tokenizer: PreTrainedTokenizerFast, eos: bool = False) -> LlavaConfig:
    """A tiny CLIP vision tower (32×32 images, 8×8 patches: 17 image tokens) and a tiny Llama."""
    vision = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=32,
        patch_size=8,
        projection_dim=32,
    )
    ends = {"eos_token_id": tokenizer.eos_token_id, "bos_token_id": tokenizer.bos_token_id}
    text = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        pad_token_id=tokenizer.pad_token_id,
        max_position_embeddings=1024,
        **(ends if eos else {}),
    )
    return LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_layer=-1,
        vision_feature_select_strategy="full",
    )


def _llava_processor(tokenizer: PreTrainedTokenizerFast) -> LlavaProcessor:
    return LlavaProcessor(
        image_processor=_image_processor(),
        tokenizer=tokenizer,
        patch_size=8,
        num_additional_image_tokens=1,
        vision_feature_select_strategy="full",
        image_token="<image>",
        chat_template=CHAT_TEMPLATE,
    )


def save_vision(directory: Path, seed: int = 0) -> Path:
    """A Llava backbone (tiny CLIP vision tower, tiny Llama) with a scalar head, and its processor
    (32×32 images, 8×8 patches: 17 image tokens each)."""
    tokenizer = build_tokenizer()
    torch.manual_seed(seed)
    model = VisionRewardModel(VisionRewardConfig(backbone_config=_llava(tokenizer)))
    _seeded_head(model, model.score, seed)
    model.save_pretrained(directory)
    _llava_processor(tokenizer).save_pretrained(directory)
    return directory


def save_vlm_policy(directory: Path, seed: int = 0) -> Path:
    """A vision-language policy for TRL's ``GRPOTrainer``: ``LlavaForConditionalGeneration``
    on the same tiny backbone, ending at ``</s>``, and its processor. It writes words of the
    shared vocabulary, so the tiny reward models read its answers."""
    tokenizer = build_tokenizer()
    torch.manual_seed(seed)
    LlavaForConditionalGeneration(_llava(tokenizer, eos=True)).save_pretrained(directory)
    _llava_processor(tokenizer).save_pretrained(directory)
    return directory


def _image_processor() -> Any:
    import transformers

    # the PIL variant needs no torchvision (the default class would warn and fall back to it)
    cls = getattr(transformers, "CLIPImageProcessorPil", transformers.CLIPImageProcessor)
    return cls(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})


def png(seed: int, size: tuple[int, int] = (32, 32)) -> bytes:
    """A random RGB PNG."""
    pixels = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


POLICY_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|image_pad|>"]
POLICY_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['content'] is string %}{{ m['content'] }}"
    "{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<|image_pad|>{% elif c['type'] == 'text' %}{{ c['text'] }}"
    "{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def save_policy_tokenizer(directory: Path, corpus: list[str]) -> Path:
    """A policy's tokenizer as a trainer loads it: byte-level BPE (any text round-trips through
    encode and decode, as with Qwen's), ChatML special tokens and template, trained on
    ``corpus``; beside it the ``config.json`` of a tiny Qwen2 causal LM (no weights), which
    trainers read for the architecture."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1000,
        special_tokens=POLICY_SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(corpus, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>", "<|image_pad|>"],
    )
    fast.chat_template = POLICY_TEMPLATE
    fast.save_pretrained(directory)
    Qwen2Config(
        vocab_size=len(fast),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        architectures=["Qwen2ForCausalLM"],
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
    ).save_pretrained(directory)
    return directory
