"""V-Triune's reward server protocol (``/judge``), reproducing its verdicts on the router.

**V-Triune** (its reward proxy pointed at raas): ``GET /`` answers its liveness probe and
``POST /judge`` takes its one-sample payload (``response``, ``prompt``, ``answer``,
``solution``, ``data_source``, ``reward_verifier`` ∈ {``mathverify``, ``detection``},
``reward_verifier_parm`` — a JSON string with ``step``, ``total_steps``,
``det_verifier_normalized``, ``det_reward_ratio``, ``image_grid_thw`` — and optional
``format_ratio`` (default 0.1) and ``accuracy_ratio`` (1.0)), answering
``{"rewards": {"format_reward", "accuracy_reward", "reflection_reward", "final_reward", …}}``
with V-Triune's own verdicts, quirks included, so Orsta runs can be replayed:
- ``mathverify`` runs ``math`` with ``vtriune_compat`` (no ``$…$`` wrapping of the gold, V-Triune's
  parse configs), format ``think_answer``; ``detection`` runs ``detection`` with the ratios mapped
  (``iou_max_label_first`` → ``label_first``, ``iou_max_iou_first`` → ``iou_first``,
  ``iou_completeness`` → ``completeness``, ``map*``; missing or outside [0, 1] → 0, as there),
  its iou-first index bug, its count penalty for extra boxes and its box reader (natively
  raas pays no hedge over a guess and reads an apostrophe in a label: see ``detection``), the
  ground truth read from ``solution``'s ``<answer>`` block, pixels
  normalised by ``image_grid_thw[0]`` (T, H, W) when ``det_verifier_normalized``, the IoU
  threshold from ``RAAS_JUDGE_IOU_THRESHOLD`` (V-Triune's ``DET_IOU_THRESHOLD``; default
  ``dynamic``, as Orsta was trained), format ``detection_answer``.
- ``final_reward`` = acc·a/(a+f) + fmt·f/(a+f), a/f the accuracy/format ratios, which must be
  numbers in [0, 10⁶] (else 422), so the final reward stays in [0, 1].
- Where V-Triune scored 0 the answer keeps its numbers but adds ``status``/``error``: an unusable
  ground truth or a timeout → accuracy 0, format still counted (as V-Triune did; after a timeout
  the format is scored alone in the pool); a response over ``RAAS_MAX_RESPONSE_CHARS`` →
  ``invalid_input`` with every reward 0 (never scanned, unlike V-Triune); a payload
  V-Triune's code would have crashed on (unknown verifier, bad ``reward_verifier_parm``, no
  ``step``/``total_steps``, zero ratios) or a grader error → all rewards 0. Every answer carries
  ``status`` (``ok`` …). ``is_training``, ``image_path`` and unknown parm keys are ignored;
  only the per-sample diagnostics raas computes (size penalty, the weighted terms) are returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reward_service.compat.settings import CompatSettings
from reward_service.compat.vtriune_rows import (
    VERIFIERS,
    VTriuneSpecError,
    parm_object,
    vtriune_spec,
)
from reward_service.contract.errors import RaasError, RequestError, validated
from reward_service.contract.registry import NoParams
from reward_service.contract.schemas import WEIGHT_MAX, RewardRequest, Sample, Status
from reward_service.contract.task import Task
from reward_service.http.openapi import errors, json_body
from reward_service.http.ops import json_response, parse_json, read_body
from reward_service.routing.router import Router
from reward_service.verifiers.detection import AVERAGE_THRESHOLDS

_TERMS = {
    "label_first": "iou_score_max_label",
    "iou_first": "iou_score_max_iou",
    "map": "map_score",
    "map50": "map50_score",
    "map75": "map75_score",
}


class JudgePayload(BaseModel):
    """V-Triune's ``/judge`` payload, field for field."""

    model_config = ConfigDict(extra="ignore")

    response: str
    prompt: str
    answer: str
    solution: str
    data_source: str
    reward_verifier: str
    reward_verifier_parm: str
    format_ratio: float | None = Field(None, ge=0, le=WEIGHT_MAX, allow_inf_nan=False)
    accuracy_ratio: float | None = Field(None, ge=0, le=WEIGHT_MAX, allow_inf_nan=False)


class JudgeRewards(BaseModel):
    model_config = ConfigDict(extra="allow")  # the detection terms V-Triune reports

    format_reward: float
    accuracy_reward: float
    reflection_reward: float
    final_reward: float = Field(ge=0, le=1)


class JudgeAnswer(BaseModel):
    rewards: JudgeRewards
    status: Status
    error: str | None


class Rejected(RaasError):
    """A V-Triune payload its own server would have crashed on: all rewards 0."""


def _schedule(parm: dict[str, Any]) -> tuple[int, int]:
    """V-Triune's verifiers require ``step`` and ``total_steps`` (r = step/total_steps)."""
    values = (parm.get("step"), parm.get("total_steps"))
    if not all(isinstance(v, int | float) and float(v).is_integer() for v in values):
        raise Rejected("reward_verifier_parm needs whole-number step and total_steps")
    step, total = (int(v) for v in values)  # type: ignore[arg-type]
    if step < 0 or total < 1:
        raise Rejected("reward_verifier_parm needs step ≥ 0 and total_steps ≥ 1")
    return step, total


def judge_request(payload: JudgePayload, settings: CompatSettings) -> RewardRequest:
    """The native request that reproduces V-Triune's verdict for ``payload``."""
    if payload.reward_verifier not in VERIFIERS:  # checked first, as V-Triune did
        raise Rejected(f"unknown reward_verifier {payload.reward_verifier!r}")
    try:
        parm = parm_object(payload.reward_verifier_parm)
        step, total = _schedule(parm)
        spec = vtriune_spec(
            payload.reward_verifier, payload.solution, parm, settings.judge_iou_threshold
        )
    except VTriuneSpecError as exc:
        raise Rejected(str(exc)) from None
    sample = {
        "data_source": payload.data_source[:256] or "vtriune",
        "prompt": payload.prompt,
        "response": payload.response,
        **spec,
        "weights": {"accuracy": 1.0, "format": 0.0},
    }
    try:
        return RewardRequest.model_validate(
            {"samples": [sample], "step": step, "total_steps": total}
        )
    except ValidationError as exc:
        raise Rejected(str(exc.errors(include_url=False)[0]["msg"])) from None


def _diagnostics(details: dict[str, Any]) -> dict[str, float]:
    """V-Triune's per-term detection rewards that raas computed for this sample."""
    penalty = details.get("count_penalty")
    if penalty is None:
        return {}
    found = {"size_penalty_reward": float(penalty)}
    for native, name in _TERMS.items():
        if native in details.get("terms", {}):
            pure = float(details["terms"][native])
            found |= {f"pure_{name}_reward": pure, f"weighted_{name}_reward": pure * penalty}
    return found


def judge_answer(
    accuracy: float, fmt: float, payload: JudgePayload, status: str, error: str | None
) -> dict[str, Any]:
    a = 1.0 if payload.accuracy_ratio is None else payload.accuracy_ratio
    f = 0.1 if payload.format_ratio is None else payload.format_ratio
    if a + f == 0:
        accuracy, fmt, a, f = 0.0, 0.0, 1.0, 0.0
        status, error = "invalid_input", "accuracy_ratio + format_ratio is 0"
    final = min(1.0, max(0.0, accuracy * (a / (a + f)) + fmt * (f / (a + f))))
    rewards = {
        "format_reward": fmt,
        "accuracy_reward": accuracy,
        "reflection_reward": 0.0,
        "final_reward": final,
    }
    return {"rewards": rewards, "status": status, "error": error}


async def judge(router: Router, payload: JudgePayload, settings: CompatSettings) -> dict[str, Any]:
    try:
        request = judge_request(payload, settings)
        outcome = (await router.run(request))[0]
    except (Rejected, RequestError) as exc:
        return judge_answer(0.0, 0.0, payload, "invalid_input", str(exc))
    if outcome.status == "ok" and outcome.accuracy is not None:
        answer = judge_answer(outcome.accuracy, outcome.format or 0.0, payload, "ok", None)
        answer["rewards"] |= _diagnostics(outcome.details)
        return answer
    if outcome.status in ("invalid_input", "timeout"):  # V-Triune: accuracy 0, format counted
        fmt = outcome.format
        if fmt is None:  # the child was killed before it reported the format: score it alone
            fmt = await format_alone(router, request.samples[0])
        return judge_answer(0.0, fmt or 0.0, payload, outcome.status, outcome.error)
    return judge_answer(0.0, 0.0, payload, outcome.status, outcome.error)


async def format_alone(router: Router, sample: Sample) -> float | None:
    """The format score of a sample whose accuracy could not be had (``/judge`` counts it as
    V-Triune did), scored in the rule pool; ``None`` for a response over the size limit."""
    if sample.format is None or len(sample.response) > router.settings.max_response_chars:
        return None
    task = Task(
        sample.verifier or "", NoParams(), sample.response, format=sample.format, format_only=True
    )
    return (await router.run_on("rules", [task]))[0].format


def add_vtriune_routes(
    app: FastAPI,
    router: Router,
    settings: CompatSettings,
    max_body_bytes: int,
    dependencies: Sequence[Any],
) -> None:
    """``POST /judge``, and ``GET /`` (open: it is V-Triune's proxy's liveness probe). A
    ``RAAS_JUDGE_IOU_THRESHOLD`` V-Triune does not know fails here, at start."""
    threshold = settings.judge_iou_threshold
    if isinstance(threshold, float) and threshold not in AVERAGE_THRESHOLDS:
        raise ValueError(f"RAAS_JUDGE_IOU_THRESHOLD must be a V-Triune threshold: {threshold}")
    guarded = list(dependencies)

    @app.get("/", include_in_schema=False)
    async def root() -> dict[str, str]:
        return {"message": "Reward Judge Server"}  # what V-Triune's proxy probes for

    @app.post(
        "/judge",
        tags=["compat"],
        dependencies=guarded,
        response_model=JudgeAnswer,
        responses=errors(401, 413, 422, 429),
        openapi_extra=json_body(JudgePayload),
    )
    @router.metrics.timed("/judge")
    async def judge_route(request: Request) -> Response:
        payload = validated(JudgePayload, parse_json(await read_body(request, max_body_bytes)))
        answer = await judge(router, payload, settings)
        return json_response(answer)
