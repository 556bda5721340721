"""Other trainers' reward protocols, translated onto the same router as ``POST /reward``.

**OpenRLHF** (``--remote_rm_url http://raas:8000/get_reward``): ``POST /get_reward`` takes
``{"query": [prompt+response, …], "prompts": […], "labels": […]}`` and answers
``{"rewards": […], "scores": […], "extra_logs": {name: […]}}``, one float per query. The
response is the query with its prompt prefix removed (the whole query when it does not start
with the prompt). A label is the ground truth for ``RAAS_OPENRLHF_VERIFIER`` (format checker
``RAAS_OPENRLHF_FORMAT`` at weight ``RAAS_OPENRLHF_FORMAT_WEIGHT``), or, when it is a JSON
object with a ``verifier`` key, the sample's own reward spec (sample-level formatting).
``rewards`` is the combined reward (advantages), ``scores`` the accuracy alone (OpenRLHF's
dynamic filtering). OpenRLHF builds tensors from these lists and cannot take ``null``: a sample
raas could not score gets 0.0 there, and ``extra_logs.raas_unscored`` (1.0 for it) plus a
top-level ``status`` list say so — watch that curve.

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
  its iou-first index bug, the ground truth read from ``solution``'s ``<answer>`` block, pixels
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

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from reward_service.errors import RequestError
from reward_service.openapi import errors, json_body
from reward_service.ops import json_response, read_body
from reward_service.registry import FORMATS, VERIFIERS
from reward_service.router import Router
from reward_service.schemas import WEIGHT_MAX, RewardRequest, Status
from reward_service.settings import Settings

_SPEC_KEYS = ("verifier", "ground_truth", "params", "format", "weights", "data_source", "meta")
_JUDGE_VERIFIERS = {
    "mathverify": ("math", "think_answer"), "detection": ("detection", "detection_answer"),
}  # fmt: skip
_RATIOS = {
    "iou_max_label_first": "label_first", "iou_max_iou_first": "iou_first",
    "iou_completeness": "completeness", "map": "map", "map50": "map50", "map75": "map75",
}  # fmt: skip
_TERMS = {
    "label_first": "iou_score_max_label", "iou_first": "iou_score_max_iou",
    "map": "map_score", "map50": "map50_score", "map75": "map75_score",
}  # fmt: skip


class OpenRLHFRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    query: list[str]
    prompts: list[str] | None = None
    labels: list[Any] | None = None

    @model_validator(mode="after")
    def _same_lengths(self) -> OpenRLHFRequest:
        for name in ("prompts", "labels"):
            given = getattr(self, name)
            if given is not None and len(given) != len(self.query):
                raise ValueError(f"{name} has {len(given)} items for {len(self.query)} queries")
        return self


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


class OpenRLHFAnswer(BaseModel):
    rewards: list[float]
    scores: list[float]
    extra_logs: dict[str, list[float]]
    status: list[Status]


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


class Rejected(Exception):
    """A V-Triune payload its own server would have crashed on: all rewards 0."""


def _validated(model: type[BaseModel], data: Any) -> Any:
    """``model`` from ``data``, or the 422 :class:`RequestError` naming the bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)[:100]
        raise RequestError(
            [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in errors]
        ) from None


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestError([{"loc": ["body"], "msg": str(exc), "type": "json_invalid"}]) from None


# --- OpenRLHF -------------------------------------------------------------------------------


def response_part(query: str, prompt: str | None) -> str:
    """OpenRLHF's query is prompt + response: the response is what follows the prompt."""
    return query[len(prompt) :] if prompt and query.startswith(prompt) else query


def openrlhf_samples(request: OpenRLHFRequest, settings: Settings) -> list[dict[str, Any]]:
    samples = []
    for index, query in enumerate(request.query):
        prompt = request.prompts[index] if request.prompts is not None else None
        label = request.labels[index] if request.labels is not None else None
        sample: dict[str, Any] = {
            "data_source": "openrlhf", "prompt": prompt, "response": response_part(query, prompt),
            "verifier": settings.openrlhf_verifier, "ground_truth": label,
        }  # fmt: skip
        if settings.openrlhf_format is not None:
            sample["format"] = settings.openrlhf_format
            sample["weights"] = {"accuracy": 1.0, "format": settings.openrlhf_format_weight}
        if isinstance(label, Mapping) and "verifier" in label:  # a per-sample reward spec
            sample.update({key: label[key] for key in _SPEC_KEYS if key in label})
        samples.append(sample)
    return samples


def openrlhf_response(results: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r["status"] == "ok" for r in results]
    rewards = [r["reward"] if good else 0.0 for r, good in zip(results, ok, strict=True)]
    scores = [r["components"].get("accuracy", 0.0) for r in results]
    logs: dict[str, list[float]] = {
        "accuracy": scores, "raas_unscored": [0.0 if good else 1.0 for good in ok],
    }  # fmt: skip
    if any("format" in r["components"] for r in results):
        logs["format"] = [r["components"].get("format", 0.0) for r in results]
    status = [r["status"] for r in results]
    return {"rewards": rewards, "scores": scores, "extra_logs": logs, "status": status}


# --- V-Triune -------------------------------------------------------------------------------


def _ratio(value: Any, key: str) -> float:
    """V-Triune's reading of one ``det_reward_ratio`` entry: missing or outside [0, 1] → 0."""
    if value is None:
        return 0.0
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise Rejected(f"det_reward_ratio.{key} must be a number")
    return float(value) if 0.0 <= value <= 1.0 else 0.0


def _detection_params(parm: dict[str, Any], settings: Settings) -> dict[str, Any]:
    ratios = parm.get("det_reward_ratio") or {}
    if not isinstance(ratios, dict):
        raise Rejected("det_reward_ratio must be an object")
    params: dict[str, Any] = {
        native: _ratio(ratios.get(key), key) for key, native in _RATIOS.items()
    }
    params.update(iou_threshold=settings.judge_iou_threshold, vtriune_compat=True)
    grid = parm.get("image_grid_thw")
    if parm.get("det_verifier_normalized") and grid:
        try:
            _, height, width = grid[0]
        except (TypeError, ValueError, KeyError, IndexError):
            raise Rejected("image_grid_thw must be a list of [t, h, w]") from None
        params.update(normalize_pixels=True, image_size=[width, height])
    return params


def _schedule(parm: dict[str, Any]) -> tuple[int, int]:
    """V-Triune's verifiers require ``step`` and ``total_steps`` (r = step/total_steps)."""
    values = (parm.get("step"), parm.get("total_steps"))
    if not all(isinstance(v, int | float) and float(v).is_integer() for v in values):
        raise Rejected("reward_verifier_parm needs whole-number step and total_steps")
    step, total = (int(v) for v in values)  # type: ignore[arg-type]
    if step < 0 or total < 1:
        raise Rejected("reward_verifier_parm needs step ≥ 0 and total_steps ≥ 1")
    return step, total


def answer_block(text: str) -> str:
    """V-Triune's ``re.search(r"<answer>(.*?)</answer>", text, re.DOTALL)``, stripped, in linear
    time: the lazy pattern is quadratic on a text of many ``<answer>`` and no ``</answer>``."""
    start = text.find("<answer>")
    if start < 0:
        return ""
    end = text.find("</answer>", start + len("<answer>"))
    return text[start + len("<answer>") : end].strip() if end >= 0 else ""


def judge_request(payload: JudgePayload, settings: Settings) -> RewardRequest:
    """The native request that reproduces V-Triune's verdict for ``payload``."""
    if payload.reward_verifier not in _JUDGE_VERIFIERS:
        raise Rejected(f"unknown reward_verifier {payload.reward_verifier!r}")
    try:
        parm = orjson.loads(payload.reward_verifier_parm)
    except orjson.JSONDecodeError:
        raise Rejected("reward_verifier_parm is not JSON") from None
    if not isinstance(parm, dict):
        raise Rejected("reward_verifier_parm must be a JSON object")
    step, total = _schedule(parm)
    verifier, fmt = _JUDGE_VERIFIERS[payload.reward_verifier]
    if verifier == "math":
        params: dict[str, Any] = {"vtriune_compat": True}
        ground_truth = payload.solution
    else:
        params = _detection_params(parm, settings)
        ground_truth = answer_block(payload.solution)
    sample = {
        "data_source": payload.data_source[:256] or "vtriune", "prompt": payload.prompt,
        "response": payload.response, "ground_truth": ground_truth, "verifier": verifier,
        "params": params, "format": fmt, "weights": {"accuracy": 1.0, "format": 0.0},
    }  # fmt: skip
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
        "format_reward": fmt, "accuracy_reward": accuracy, "reflection_reward": 0.0,
        "final_reward": final,
    }  # fmt: skip
    return {"rewards": rewards, "status": status, "error": error}


async def judge(router: Router, payload: JudgePayload, settings: Settings) -> dict[str, Any]:
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
            fmt = await router.format_alone(request.samples[0])
        return judge_answer(0.0, fmt or 0.0, payload, outcome.status, outcome.error)
    return judge_answer(0.0, 0.0, payload, outcome.status, outcome.error)


def add_compat_routes(
    app: FastAPI, router: Router, settings: Settings, dependencies: Sequence[Any] = ()
) -> None:
    """``POST /get_reward`` (OpenRLHF), ``POST /judge`` and ``GET /`` (V-Triune, open: it is
    their proxy's liveness probe); ``dependencies`` guard the scoring routes."""
    VERIFIERS.get(settings.openrlhf_verifier)  # a misconfiguration fails at start, by name
    if settings.openrlhf_format is not None:
        FORMATS.get(settings.openrlhf_format)
    latency = router.metrics.request_latency

    @app.get("/", include_in_schema=False)
    async def root() -> dict[str, str]:
        return {"message": "Reward Judge Server"}  # what V-Triune's proxy probes for

    guarded = list(dependencies)

    @app.post(
        "/get_reward", tags=["compat"], dependencies=guarded, response_model=OpenRLHFAnswer,
        responses=errors(401, 413, 422, 429), openapi_extra=json_body(OpenRLHFRequest),
    )  # fmt: skip
    async def get_reward(request: Request) -> Response:
        start = time.perf_counter()
        body = _validated(OpenRLHFRequest, _json(await read_body(request, settings.max_body_bytes)))
        reward_request = _validated(RewardRequest, {"samples": openrlhf_samples(body, settings)})
        results = (await router.score(reward_request))["results"]
        latency.labels("/get_reward").observe(time.perf_counter() - start)
        return json_response(openrlhf_response(results))

    @app.post(
        "/judge", tags=["compat"], dependencies=guarded, response_model=JudgeAnswer,
        responses=errors(401, 413, 422, 429), openapi_extra=json_body(JudgePayload),
    )  # fmt: skip
    async def judge_route(request: Request) -> Response:
        start = time.perf_counter()
        payload = _validated(JudgePayload, _json(await read_body(request, settings.max_body_bytes)))
        answer = await judge(router, payload, settings)
        latency.labels("/judge").observe(time.perf_counter() - start)
        return json_response(answer)
