"""``ModelSpec`` and the model settings: what a configuration may say."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from reward_service.models.config import ModelSpec
from reward_service.settings import Settings

BASE = {"name": "rm", "path": "/models/rm", "kind": "bt"}


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"kind": "ppo"}, "kind"),
        ({"device": "gpu"}, "device"),
        ({"device": "cuda:x"}, "device"),
        ({"dtype": "int8"}, "dtype"),
        ({"max_input_tokens": 9000, "max_tokens_per_batch": 8192}, "could never be batched"),
        ({"kind": "bmas", "remote_url": "http://vllm:8000"}, "kind 'bt' only"),
        ({"remote_url": "vllm:8000"}, "remote_url"),
        ({"name": "a b"}, "name"),
        ({"temperature": 1.0}, "temperature"),
    ],
)
def test_invalid_specs_are_refused(options: dict[str, Any], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        ModelSpec.model_validate({**BASE, **options})


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:1"])
def test_devices(device: str) -> None:
    assert ModelSpec.model_validate({**BASE, "device": device}).device == device


def test_models_come_from_json_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    models = [BASE, {"name": "emb", "path": "/models/rm", "kind": "bmas", "max_wait_ms": 2}]
    monkeypatch.setenv("RAAS_MODELS", json.dumps(models))
    monkeypatch.setenv("RAAS_MODEL_WORKERS", "http://gpu-0:8002, http://gpu-1:8002")
    settings = Settings()
    assert [m.name for m in settings.models] == ["rm", "emb"]
    assert settings.models[1].max_wait_ms == 2
    assert settings.model_workers == ["http://gpu-0:8002", "http://gpu-1:8002"]


def test_a_model_name_may_be_configured_once() -> None:
    with pytest.raises(ValidationError, match="configured twice"):
        Settings(models=[ModelSpec.model_validate(BASE), ModelSpec.model_validate(BASE)])


def test_no_models_by_default() -> None:
    assert Settings().models == []
    assert Settings().model_workers == []
