"""``bt_vision``: batched = unbatched, the image matters, and images are read safely."""

from __future__ import annotations

import base64
import io
import math
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image
from transformers import AutoModel, AutoProcessor

from devtools.tiny import data_uri, png
from reward_service.contract.errors import InvalidInputError
from reward_service.models.bt_vision import VisionRewardModel, VisionScorer
from tests.models.conftest import Tiny
from tests.models.helpers import rm_task, sentence, spec

TOLERANCE = 1e-5


@cache
def reference_model(path: Path) -> tuple[Any, Any]:
    """An independent processor and model, used the plain transformers way."""
    return AutoProcessor.from_pretrained(path), AutoModel.from_pretrained(path).eval()


def reference(path: Path, prompt: str, response: str, images: list[bytes]) -> float:
    """One sample, unbatched."""
    processor, model = reference_model(path)
    content = [{"type": "image"}] * len(images) + [{"type": "text", "text": prompt}]
    turns = [{"role": "user", "content": content}, {"role": "assistant", "content": response}]
    text = processor.apply_chat_template(turns, tokenize=False)
    pil = [Image.open(io.BytesIO(data)).convert("RGB") for data in images]
    inputs = processor(
        text=[text], images=pil or None, return_tensors="pt", add_special_tokens=False
    )
    with torch.inference_mode():
        return float(model(**inputs).logits[0, 0])


@pytest.mark.parametrize("side", ["left", "right"])
def test_batched_scores_equal_the_unbatched_reference(tiny: Tiny, side: str) -> None:
    scorer = VisionScorer.load(spec("v", tiny.vision, "bt_vision", padding_side=side))
    samples = [
        ("describe the image", sentence(3), [png(1)]),
        ("what is this", sentence(12, 2), [png(2), png(3)]),
        ("what is two plus two ?", "four", []),
        ("describe the image", sentence(30, 1), [png(4)]),
    ]
    tasks = [
        rm_task("v", response, prompt, tuple(data_uri(i) for i in images))
        for prompt, response, images in samples
    ]
    expected = [reference(tiny.vision, *sample) for sample in samples]
    items = [scorer.prepare(task) for task in tasks]
    for order in ([0, 1, 2, 3], [3, 2, 1, 0], [1, 2], [3]):
        got = scorer.forward([items[i] for i in order])
        assert got == pytest.approx([expected[i] for i in order], abs=TOLERANCE)


def test_the_score_changes_with_the_image(tiny: Tiny) -> None:
    scorer = VisionScorer.load(spec("v", tiny.vision, "bt_vision"))
    items = [
        scorer.prepare(rm_task("v", "a cat", "describe it", (data_uri(png(s)),))) for s in (10, 11)
    ]
    first, second = scorer.forward(items)
    assert abs(first - second) > 1e-3


def test_every_image_adds_its_tokens(tiny: Tiny) -> None:
    scorer = VisionScorer.load(spec("v", tiny.vision, "bt_vision"))
    zero, one, two = (
        scorer.prepare(rm_task("v", "x", "y", tuple(data_uri(png(i)) for i in range(n)))).tokens
        for n in (0, 1, 2)
    )
    assert one - zero == two - one == 17  # 16 patches + CLS for a 32×32 image, 8×8 patches


class TestImageInputs:
    @pytest.fixture
    def root(self, tmp_path: Path) -> Path:
        (tmp_path / "images").mkdir()
        (tmp_path / "images" / "a.png").write_bytes(png(5))
        (tmp_path / "secret.png").write_bytes(png(6))
        (tmp_path / "images" / "link.png").symlink_to(tmp_path / "secret.png")
        return tmp_path / "images"

    def score(self, tiny: Tiny, image: str, **options: object) -> float:
        scorer = VisionScorer.load(spec("v", tiny.vision, "bt_vision", **options))
        return scorer.forward([scorer.prepare(rm_task("v", "a", "b", (image,)))])[0]

    def test_data_uri_bare_base64_and_path_are_the_same_image(self, tiny: Tiny, root: Path) -> None:
        bare = base64.b64encode(png(5)).decode()
        scores = [
            self.score(tiny, data_uri(png(5))),
            self.score(tiny, bare),
            self.score(tiny, "a.png", image_root=str(root)),
        ]
        assert scores == pytest.approx([scores[0]] * 3, abs=TOLERANCE)

    @pytest.mark.parametrize(
        ("image", "match"),
        [
            ("../secret.png", "escapes"),
            ("link.png", "escapes"),  # a symlink pointing out of the root
            ("/etc/passwd", "escapes"),
            ("missing.png", "no image file"),
            ("data:image/png,notbase64", "must be base64"),
            ("data:image/png;base64,!!!", "not valid base64"),
            (data_uri(b"not an image at all"), "cannot be decoded"),
        ],
    )
    def test_bad_images_are_invalid_input(
        self, tiny: Tiny, root: Path, image: str, match: str
    ) -> None:
        with pytest.raises(InvalidInputError, match=match):
            self.score(tiny, image, image_root=str(root))

    @staticmethod
    def encoded(fmt: str) -> str:
        buffer = io.BytesIO()
        Image.new("RGB", (8, 8), (10, 200, 30)).save(buffer, format=fmt)
        return data_uri(buffer.getvalue())

    @pytest.mark.parametrize("fmt", ["TIFF", "ICO", "PPM"])
    def test_formats_outside_the_accepted_list_never_reach_a_decoder(
        self, tiny: Tiny, fmt: str
    ) -> None:
        with pytest.raises(InvalidInputError, match="as one of PNG, JPEG, WEBP, GIF, BMP"):
            self.score(tiny, self.encoded(fmt))

    @pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF", "BMP"])
    def test_accepted_formats_decode(self, tiny: Tiny, fmt: str) -> None:
        assert math.isfinite(self.score(tiny, self.encoded(fmt)))

    def test_the_accepted_list_is_a_setting(self, tiny: Tiny) -> None:
        assert math.isfinite(self.score(tiny, self.encoded("TIFF"), image_formats=["TIFF"]))
        with pytest.raises(InvalidInputError, match="as one of TIFF"):
            self.score(tiny, self.encoded("PNG"), image_formats=["TIFF"])

    def test_paths_need_an_image_root(self, tiny: Tiny) -> None:
        with pytest.raises(InvalidInputError, match="no image_root"):
            self.score(tiny, "a.png")

    def test_too_many_pixels_is_invalid_input(self, tiny: Tiny) -> None:
        with pytest.raises(InvalidInputError, match="pixels"):
            self.score(tiny, data_uri(png(7, (64, 64))), max_image_pixels=64 * 63)

    def test_too_many_bytes_is_invalid_input(self, tiny: Tiny) -> None:
        with pytest.raises(InvalidInputError, match="bytes"):
            self.score(tiny, data_uri(png(7)), max_image_bytes=100)

    def test_too_many_images_is_invalid_input(self, tiny: Tiny) -> None:
        scorer = VisionScorer.load(spec("v", tiny.vision, "bt_vision", max_images=1))
        with pytest.raises(InvalidInputError, match="2 images"):
            scorer.prepare(rm_task("v", "a", "b", (data_uri(png(1)), data_uri(png(2)))))


def test_saved_model_round_trips(tiny: Tiny) -> None:
    model = AutoModel.from_pretrained(tiny.vision)
    assert isinstance(model, VisionRewardModel)
    assert model.config.backbone_config.model_type == "llava"


def test_a_text_checkpoint_is_refused(tiny: Tiny) -> None:
    with pytest.raises(ValueError, match="needs a processor"):
        VisionScorer.load(spec("v", tiny.llama, "bt_vision"))
