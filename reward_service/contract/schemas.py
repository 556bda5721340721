"""The wire contract (v1) shared by trainer, router and workers.

The answer's models (:class:`SampleResult` … :class:`RewardResponse`) document ``POST /reward``
in the OpenAPI schema; the shape itself is :mod:`reward_service.contract.shapes` (TypedDicts the
server builds and the trainer side reads), and ``tests/contract/test_shapes.py`` holds these models
to it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)

# re-exported: the request's and the contract's modules name them from here
from reward_service.contract.shapes import STATUSES as STATUSES
from reward_service.contract.shapes import Reflection as Reflection
from reward_service.contract.shapes import Status as Status

ID_MIN, ID_MAX = -(2**63), 2**64 - 1  # what fits 64 bits, signed or not (what orjson writes)
WEIGHT_MAX = 1e6  # larger weights add nothing but overflow: only their ratio matters
SampleId = StrictStr | Annotated[int, Field(ge=ID_MIN, le=ID_MAX)]


class Weights(BaseModel):
    """How accuracy and format combine: ``(w_acc·acc + w_fmt·fmt) / (w_acc + w_fmt)``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    accuracy: float = Field(1.0, ge=0, le=WEIGHT_MAX, allow_inf_nan=False)
    format: float = Field(0.0, ge=0, le=WEIGHT_MAX, allow_inf_nan=False)

    @model_validator(mode="after")
    def _positive_sum(self) -> Weights:
        if self.accuracy + self.format <= 0:
            raise ValueError("weights must not both be 0")
        return self


DEFAULT_WEIGHTS = Weights()
SHARED_WEIGHTS_MAX = 1024  # distinct pairs kept; past that, weights are validated each time
_shared: dict[tuple[type, float, type, float], Weights] = {}
_NUMBERS = frozenset({int, float})


def shared_weights(value: Any, handler: ValidatorFunctionWrapHandler) -> Weights:
    """A sample's weights given as the two numbers (``int`` or ``float``) of a pair seen before
    are the :class:`Weights` made for it then (frozen: shared safely): a batch repeats a few
    pairs over thousands of samples (the model's validation cost each 1.1–1.5 µs, the call into
    this 0.75). Keyed by the numbers and their types; anything else is validated as it is,
    errors and all."""
    if type(value) is dict and len(value) == 2:
        accuracy, format_ = value.get("accuracy", value), value.get("format", value)
        kinds = type(accuracy), type(format_)
        if kinds[0] in _NUMBERS and kinds[1] in _NUMBERS:
            key = (kinds[0], accuracy, kinds[1], format_)
            if (found := _shared.get(key)) is not None:
                return found
            weights: Weights = handler(value)
            if len(_shared) < SHARED_WEIGHTS_MAX:
                _shared[key] = weights
            return weights
    return handler(value)  # type: ignore[no-any-return]


class Sample(BaseModel):
    """One rollout to score. ``id``: a string or an integer that fits 64 bits, echoed back.
    ``verifier`` may be left out where the server's routes (``RAAS_ROUTES``) map the sample's
    ``data_source`` to a reward spec; the fields a sample gives override the route's."""

    model_config = ConfigDict(extra="forbid")

    id: SampleId | None = None
    data_source: StrictStr = Field("default", min_length=1, max_length=256)
    prompt: StrictStr | None = None
    response: StrictStr
    ground_truth: Any = None
    verifier: StrictStr | None = Field(None, min_length=1, max_length=128)
    params: dict[str, Any] = Field(default_factory=dict)
    format: StrictStr | None = Field(None, max_length=128)
    weights: Annotated[Weights, WrapValidator(shared_weights)] = DEFAULT_WEIGHTS
    images: list[StrictStr] = Field(default_factory=list)
    meta: dict[str, Any] = Field(default_factory=dict)
    truncated: StrictBool | None = None  # cut at the trainer's max length (source summary)


class RewardRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    samples: list[Sample]
    step: int | None = Field(None, ge=0, le=ID_MAX)
    total_steps: int | None = Field(None, ge=1, le=ID_MAX)
    reflection: Reflection | None = None  # the summary's reflection mode; else each route's


class SampleResult(BaseModel):
    """One sample's result. ``verifier``: what scored it (a routed sample's route's)."""

    id: SampleId | None = None
    reward: float | None
    status: Status
    components: dict[str, float] = Field(default_factory=dict)
    details: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    verifier: str | None = None


class PerceptionSummary(BaseModel):
    """Means over a source's ``ok`` perception samples; ``None`` where no verifier reported it."""

    iou_mean: float | None
    map_mean: float | None
    map50_mean: float | None
    threshold: float | None  # the IoU threshold in effect (its mean over the samples)
    parsed_ratio: float | None  # share of answers the verifier could read
    # detection: V-Triune's label-first matching at IoU 0.50/0.75/0.95/0.99: matched IoU per GT
    # box, precision (matches / predicted boxes), recall (matches / GT boxes)
    iou50_mean: float | None = None
    precision50_mean: float | None = None
    recall50_mean: float | None = None
    iou75_mean: float | None = None
    precision75_mean: float | None = None
    recall75_mean: float | None = None
    iou95_mean: float | None = None
    precision95_mean: float | None = None
    recall95_mean: float | None = None
    iou99_mean: float | None = None
    precision99_mean: float | None = None
    recall99_mean: float | None = None


class SourceSummary(BaseModel):
    """V-Triune's source-level monitoring for one ``data_source`` of a batch. ``n`` holds each
    mean's count (see ``reward_service.routing.summary``), so summaries of pieces merge exactly."""

    count: int
    status_counts: dict[str, int]
    reward_mean: float | None
    component_means: dict[str, float]
    response_length_mean: float  # characters
    response_tokens_mean: float | None  # with RAAS_TOKENIZER, over the responses counted
    # ok responses, correct (by the reflection mode's bar) or not
    response_length_correct_mean: float | None = None
    response_length_incorrect_mean: float | None = None
    response_tokens_correct_mean: float | None = None
    response_tokens_incorrect_mean: float | None = None
    truncated_ratio: float | None = None  # over the samples that said ``truncated``
    reflection_mode: Reflection = "raas"
    reflection_ratio: float | None  # None when no response of the source was examined
    reflection_ratio_correct: float | None
    reflection_ratio_incorrect: float | None
    correct_ratio_reflecting: float | None = None  # share correct among reflecting responses
    correct_ratio_not_reflecting: float | None = None
    perception: PerceptionSummary | None  # for sources scored by perception verifiers
    n: dict[str, int]


class Summary(BaseModel):
    by_source: dict[str, SourceSummary]


class RewardResponse(BaseModel):
    results: list[SampleResult]
    summary: Summary


class VerifierInfo(BaseModel):
    name: str
    kind: Literal["verifier", "format"]
    summary: str
    params_schema: dict[str, Any]
    reads_prompt: bool = False  # the sample's prompt reaches it (math, model verifiers)


class VerifierList(BaseModel):
    verifiers: list[VerifierInfo]


class ErrorItem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorBody(BaseModel):
    """Every 4xx answer: a list naming where and what (422, 413, 429), or one message (401)."""

    detail: list[ErrorItem] | str
