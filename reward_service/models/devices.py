"""Whether this machine can run the models ``RAAS_MODELS`` names, checked before a worker starts.

A model configured for a GPU this machine does not have (or a worker installed without torch)
would otherwise fail only in the background, and the worker would answer every sample
``unavailable``: ``raas`` refuses to start instead, saying what is missing. ``device: auto``
always fits (the GPU when there is one, else the CPU); remote (vLLM) models run elsewhere.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

from reward_service.models.config import ModelSpec

INSTALL_HINT = "install torch for this machine and the models extra (`make install-models`)"


def device_problems(specs: Sequence[ModelSpec]) -> list[str]:
    """One sentence per model that cannot run here; empty when all can."""
    local = [spec for spec in specs if spec.remote_url is None]
    if not local:
        return []
    missing = [m for m in ("torch", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        names = ", ".join(repr(spec.name) for spec in local)
        return [f"models {names} need {' and '.join(missing)}, not installed: {INSTALL_HINT}"]
    on_gpu = [spec for spec in local if spec.device.startswith("cuda")]
    return _gpu_problems(on_gpu) if on_gpu else []


def _gpu_problems(specs: list[ModelSpec]) -> list[str]:
    import torch

    if not torch.cuda.is_available():
        why = (
            f"torch {torch.__version__} is built without CUDA"
            if torch.version.cuda is None
            else "no GPU is visible (driver, CUDA_VISIBLE_DEVICES)"
        )
        return [f"model {s.name!r} is configured for device {s.device!r}, but {why}" for s in specs]
    count = torch.cuda.device_count()
    return [
        f"model {s.name!r} is configured for device {s.device!r}, but {count} GPU(s) are visible"
        for s in specs
        if ":" in s.device and int(s.device.split(":")[1]) >= count
    ]
