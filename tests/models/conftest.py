from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from devtools.tiny import save_bt, save_vision


@dataclass(frozen=True)
class Tiny:
    """Directories of tiny saved models."""

    llama: Path  # RoPE sequence classifier with a chat template
    gpt2: Path  # absolute-position sequence classifier (left padding needs position ids)
    plain: Path  # no chat template
    two_labels: Path  # not a BT model
    vision: Path  # Llava backbone + scalar head, with its processor
    broken: Path  # config.json that is not JSON


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Tiny:
    root = tmp_path_factory.mktemp("models")
    broken = root / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    return Tiny(
        llama=save_bt(root / "llama"),
        gpt2=save_bt(root / "gpt2", "gpt2", seed=1),
        plain=save_bt(root / "plain", chat_template=False, seed=2),
        two_labels=save_bt(root / "two", labels=2),
        vision=save_vision(root / "vision"),
        broken=broken,
    )
