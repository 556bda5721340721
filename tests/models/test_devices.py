"""A model worker refuses to start when a model's device or libraries are missing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from reward_service.models.config import ModelSpec
from reward_service.models.devices import device_problems

# a GPU this machine does not have: any CUDA device without CUDA, else one past the last
MISSING_GPU = f"cuda:{torch.cuda.device_count()}" if torch.cuda.is_available() else "cuda"


def spec(device: str, **extra: str) -> ModelSpec:
    return ModelSpec(name="rm", path="/models/rm", kind="bt", device=device, **extra)


@pytest.mark.parametrize("device", ["auto", "cpu"])
def test_devices_every_machine_has_pass(device: str) -> None:
    assert device_problems([spec(device)]) == []


def test_a_missing_gpu_is_named_with_the_reason() -> None:
    (problem,) = device_problems([spec(MISSING_GPU), spec("cpu")])
    assert f"model 'rm' is configured for device {MISSING_GPU!r}, but " in problem
    if not torch.cuda.is_available():
        assert "built without CUDA" in problem or "no GPU is visible" in problem


def test_a_remote_model_needs_no_local_device() -> None:
    remote = spec(MISSING_GPU, remote_url="http://127.0.0.1:9/v1")
    assert device_problems([remote]) == []


def test_missing_torch_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    (problem,) = device_problems([spec("auto")])
    assert "need torch and transformers, not installed" in problem
    assert "make install-models" in problem


@pytest.mark.parametrize("role", [["worker", "model"], ["serve"]])
def test_the_worker_refuses_to_start_with_a_clear_message(role: list[str]) -> None:
    models = json.dumps(
        [{"name": "rm", "path": "/nonexistent", "kind": "bt", "device": MISSING_GPU}]
    )
    result = subprocess.run(
        [sys.executable, "-m", "reward_service.cli", *role, "--port", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        env={"RAAS_MODELS": models, "PATH": ""},
    )
    assert result.returncode == 1
    assert result.stderr.startswith("raas: refusing to start: model 'rm' is configured for device")
    assert "Traceback" not in result.stderr
