"""``ModelSpec``: one reward model a model worker serves, as named in ``RAAS_MODELS`` (JSON).

Pure pydantic (no torch) so that settings, the router and the rule pool import it for free.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ModelKind = Literal["bt", "bt_vision", "bmas"]
DType = Literal["auto", "float32", "bfloat16", "float16"]
ImageFormat = Literal["PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF"]


class ModelSpec(BaseModel):
    """A model: where it is, what it is, where it runs and how its batches are formed.

    ``max_tokens_per_batch`` counts padded tokens (longest row × rows), which is what a forward
    pass costs; ``max_wait_ms`` bounds how long the first request of a batch waits for company.
    ``remote_url`` serves a ``bt`` model from a vLLM server (``POST {remote_url}/classify``);
    ``path`` then only needs the tokenizer, because raas formats and counts tokens itself.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:/-]+$")
    path: str = Field(min_length=1)
    kind: ModelKind
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$")
    dtype: DType = "auto"
    max_tokens_per_batch: int = Field(16_384, ge=1)
    max_input_tokens: int = Field(4_096, ge=1)
    max_wait_ms: float = Field(5.0, ge=0, le=10_000)
    max_queue: int = Field(4_096, ge=1)
    max_queue_bytes: int = Field(1 << 30, ge=1)  # what waiting items hold (ids, pixel tensors)
    bias: float = Field(0.0, allow_inf_nan=False)
    padding_side: Literal["left", "right"] | None = None
    trust_remote_code: bool = False
    image_root: str | None = None
    max_images: int = Field(8, ge=0)
    max_image_bytes: int = Field(20 * 1024 * 1024, ge=1)
    max_image_pixels: int = Field(4096 * 4096, ge=1)
    # Pillow opens only these (its names); others never reach a decoder (EPS, PSD, TIFF, …)
    image_formats: tuple[ImageFormat, ...] = ("PNG", "JPEG", "WEBP", "GIF", "BMP")
    remote_url: str | None = Field(None, pattern=r"^https?://")
    remote_model: str | None = None
    remote_timeout_s: float = Field(120.0, gt=0)

    @model_validator(mode="after")
    def _consistent(self) -> ModelSpec:
        if self.max_input_tokens > self.max_tokens_per_batch:
            raise ValueError(
                f"max_input_tokens ({self.max_input_tokens}) exceeds max_tokens_per_batch "
                f"({self.max_tokens_per_batch}): such an input could never be batched"
            )
        if self.remote_url is not None and self.kind != "bt":
            raise ValueError("remote_url (a vLLM /classify server) serves kind 'bt' only")
        return self


def unique_names(specs: list[ModelSpec]) -> list[ModelSpec]:
    """``specs`` unchanged, or a ``ValueError`` naming a model configured twice."""
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise ValueError(f"model {spec.name!r} is configured twice")
        seen.add(spec.name)
    return specs
