"""The shape of ``POST /reward``'s answer, written once: the server builds it, trainers read and
merge it.

This one file is two modules: ``reward_service.contract.shapes`` and, through a symbolic link,
``trainer_client.shapes`` (as ``compat/vtriune_rows.py`` is). The trainer side must not import the
server (nor FastAPI or pydantic) and the server's image holds no trainer side, so neither package
can import the other's copy; the link keeps the shape written once. Hence this file imports only
the standard library, and nothing relative to its package.

TypedDicts, not classes: at run time a result is the plain dict the router builds per sample (no
validation, no copy, no attribute lookups), while the type checker holds every literal that
builds one and every key read from one to these fields, on both sides (mypy checks
``reward_service`` and ``trainer_client``; a TypedDict is structural, so the two modules' classes
are one type to it). The pydantic models in ``reward_service.contract.schemas`` only document the
answer in the OpenAPI schema; ``tests/contract/test_shapes.py`` holds them to these fields and
types.

Fields are declared in the order the server sends them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, Literal, TypedDict

Status = Literal["ok", "invalid_input", "timeout", "error", "unavailable"]
STATUSES: tuple[Status, ...] = ("ok", "invalid_input", "timeout", "error", "unavailable")
# how the source summary finds reflection and correctness (``reward_service.routing.summary``)
Reflection = Literal["raas", "vtriune"]


class SampleResult(TypedDict):
    """One sample's result. ``reward`` is ``None`` unless ``status`` is ``ok`` (then ``error`` is
    ``None``); ``verifier``: what scored it (a routed sample's route's)."""

    id: str | int | None
    reward: float | None
    status: Status
    components: dict[str, float]  # accuracy, and format where a format checker ran
    details: dict[str, Any]
    error: str | None
    verifier: str | None


class PerceptionSummary(TypedDict):
    """Means over a source's ``ok`` perception samples; ``None`` where no verifier reported it."""

    iou_mean: float | None
    map_mean: float | None
    map50_mean: float | None
    threshold: float | None  # the IoU threshold in effect (its mean over the samples)
    parsed_ratio: float | None  # share of answers the verifier could read
    # detection: V-Triune's label-first matching at IoU 0.50/0.75/0.95/0.99: matched IoU per GT
    # box, precision (matches / predicted boxes), recall (matches / GT boxes)
    iou50_mean: float | None
    precision50_mean: float | None
    recall50_mean: float | None
    iou75_mean: float | None
    precision75_mean: float | None
    recall75_mean: float | None
    iou95_mean: float | None
    precision95_mean: float | None
    recall95_mean: float | None
    iou99_mean: float | None
    precision99_mean: float | None
    recall99_mean: float | None


class SourceSummary(TypedDict):
    """V-Triune's source-level monitoring for one ``data_source`` of a batch. ``n`` holds each
    mean's count (keyed as :data:`MEANS` and :data:`PERCEPTION_MEANS` say, and by component
    name), so the summaries of a batch's pieces merge exactly."""

    count: int
    status_counts: dict[str, int]
    reward_mean: float | None
    component_means: dict[str, float]
    response_length_mean: float  # characters
    response_tokens_mean: float | None  # with RAAS_TOKENIZER, over the responses counted
    # ok responses, correct (by the reflection mode's bar) or not
    response_length_correct_mean: float | None
    response_length_incorrect_mean: float | None
    response_tokens_correct_mean: float | None
    response_tokens_incorrect_mean: float | None
    truncated_ratio: float | None  # over the samples that said ``truncated``
    reflection_mode: Reflection
    reflection_ratio: float | None  # None when no response of the source was examined
    reflection_ratio_correct: float | None
    reflection_ratio_incorrect: float | None
    correct_ratio_reflecting: float | None  # share correct among reflecting responses
    correct_ratio_not_reflecting: float | None
    perception: PerceptionSummary | None  # for sources scored by perception verifiers
    n: dict[str, int]


class Summary(TypedDict):
    by_source: dict[str, SourceSummary]


class RewardAnswer(TypedDict):
    """``POST /reward``'s answer: one result per sample in request order, and the summary."""

    results: list[SampleResult]
    summary: Summary


MeanName = Literal[
    "reward_mean",
    "response_tokens_mean",
    "response_length_correct_mean",
    "response_length_incorrect_mean",
    "response_tokens_correct_mean",
    "response_tokens_incorrect_mean",
    "truncated_ratio",
    "reflection_ratio",
    "reflection_ratio_correct",
    "reflection_ratio_incorrect",
    "correct_ratio_reflecting",
    "correct_ratio_not_reflecting",
]
# a source summary's mean → the key of its count in ``n`` (``response_length_mean`` is over
# ``count``; each component's count is keyed by its name)
MEANS: Final[dict[MeanName, str]] = {
    "reward_mean": "reward",
    "response_tokens_mean": "response_tokens",
    "response_length_correct_mean": "length_correct",
    "response_length_incorrect_mean": "length_incorrect",
    "response_tokens_correct_mean": "tokens_correct",
    "response_tokens_incorrect_mean": "tokens_incorrect",
    "truncated_ratio": "truncated",
    "reflection_ratio": "reflection",
    "reflection_ratio_correct": "reflection_correct",
    "reflection_ratio_incorrect": "reflection_incorrect",
    "correct_ratio_reflecting": "correct_reflecting",
    "correct_ratio_not_reflecting": "correct_not_reflecting",
}

PerceptionName = Literal[
    "iou_mean",
    "map_mean",
    "map50_mean",
    "threshold",
    "parsed_ratio",
    "iou50_mean",
    "precision50_mean",
    "recall50_mean",
    "iou75_mean",
    "precision75_mean",
    "recall75_mean",
    "iou95_mean",
    "precision95_mean",
    "recall95_mean",
    "iou99_mean",
    "precision99_mean",
    "recall99_mean",
]
# a perception mean → the detail it is the mean of, which is also its count's key in ``n``
PERCEPTION_MEANS: Final[dict[PerceptionName, str]] = {
    "iou_mean": "iou",
    "map_mean": "map",
    "map50_mean": "map50",
    "threshold": "threshold",
    "parsed_ratio": "parsed",
    "iou50_mean": "iou50",
    "precision50_mean": "precision50",
    "recall50_mean": "recall50",
    "iou75_mean": "iou75",
    "precision75_mean": "precision75",
    "recall75_mean": "recall75",
    "iou95_mean": "iou95",
    "precision95_mean": "precision95",
    "recall95_mean": "recall95",
    "iou99_mean": "iou99",
    "precision99_mean": "precision99",
    "recall99_mean": "recall99",
}


if TYPE_CHECKING:  # for the type checker only: every name in the tables is a field of its shape

    def _named(
        source: SourceSummary, mean: MeanName, perception: PerceptionSummary, name: PerceptionName
    ) -> tuple[float | None, float | None]:
        return source[mean], perception[name]
