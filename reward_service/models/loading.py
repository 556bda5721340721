"""Where a model runs and how it is read from disk (``from_pretrained`` on a local directory).

Models are never downloaded here: ``path`` is a local directory (``local_files_only``), so a
worker in an air-gapped cluster fails fast with a clear error instead of hanging on the Hub.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import AutoTokenizer, PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging

from reward_service.models.config import ModelSpec

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}

hf_logging.disable_progress_bar()  # one bar per shard per model floods worker logs


def resolve_device(spec: ModelSpec) -> torch.device:
    """``auto`` → the (first visible) GPU when there is one, else the CPU.

    Run one worker per GPU and pick it with ``CUDA_VISIBLE_DEVICES``: each worker then sees its
    own GPU as ``cuda:0``.
    """
    if spec.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(spec.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"device {spec.device!r} requested but CUDA is not available")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise RuntimeError(f"device {spec.device!r}: only {torch.cuda.device_count()} GPUs")
    return device


def resolve_dtype(spec: ModelSpec, device: torch.device) -> torch.dtype:
    """``auto`` → bfloat16 on a GPU (RMs are trained in it), float32 on the CPU (exact)."""
    if spec.dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return _DTYPES[spec.dtype]


def load_tokenizer(spec: ModelSpec) -> PreTrainedTokenizerBase:
    """The tokenizer, with a pad token (its EOS when it has none) and the configured side."""
    tokenizer: PreTrainedTokenizerBase = AutoTokenizer.from_pretrained(
        spec.path, local_files_only=True, trust_remote_code=spec.trust_remote_code
    )
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token_id is None:
            raise ValueError(f"tokenizer at {spec.path} has neither a pad nor an EOS token")
        tokenizer.pad_token = tokenizer.eos_token
    if spec.padding_side is not None:
        tokenizer.padding_side = spec.padding_side
    return tokenizer


def load_weights(loader: Any, spec: ModelSpec, device: torch.device) -> Any:
    """``loader.from_pretrained(path)`` in the resolved dtype, on ``device``, in eval mode."""
    model = loader.from_pretrained(
        spec.path,
        dtype=resolve_dtype(spec, device),
        local_files_only=True,
        trust_remote_code=spec.trust_remote_code,
    )
    return model.to(device).eval()
