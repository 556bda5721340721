"""OpenRLHF's remote reward protocol, translated onto the router.

**OpenRLHF** 0.11.2 (``--reward.remote_url http://raas:8000/get_reward``): ``POST /get_reward``
takes ``{"query": [prompt+response, …], "prompts": […], "labels": […]}`` — one sample per
request from each vLLM engine, the query decoded from the tokens with the special ones kept —
and answers ``{"rewards": […], "scores": […], "extra_logs": {name: […]}}``, one float per
query. The response is what follows the prompt in the query, found as
:mod:`reward_service.compat.query` describes (vision placeholders expanded by the processor,
end-of-turn tokens); a query that does not hold its prompt is not scored (``invalid_input``,
say so) rather than scored whole. A label is the ground truth for ``RAAS_OPENRLHF_VERIFIER``
(format checker ``RAAS_OPENRLHF_FORMAT`` at weight ``RAAS_OPENRLHF_FORMAT_WEIGHT``), or, when
it is a JSON object with a ``verifier`` key, the sample's own reward spec; one naming a routed
``data_source`` takes its route's spec.

``rewards`` is the combined reward (advantages), ``scores`` the accuracy alone (OpenRLHF's
dynamic filtering). OpenRLHF turns each answer into tensors and batches samples from many
requests, so it takes no ``null`` and every sample must carry the same ``extra_logs`` keys
(its ``split_experience_batch`` raises on a key some samples lack). So every answer has all of
:data:`LOG_KEYS`; a value raas does not have is :data:`NEUTRAL` (0.0) with a mask saying so:
``raas_unscored`` (1.0: raas could not score the sample, whose reward, score, accuracy and
format are then 0.0 — logged as a warning), ``raas_no_format`` (1.0: no format score, its
``format`` is 0.0). The true means are Σformat / Σ(1 − raas_no_format) and so on. Top-level
``status`` and ``errors`` lists, which OpenRLHF ignores, say why per sample.

OpenRLHF posts no step (its body is those three lists), so schedules such as detection's
dynamic IoU threshold stay at their first value under an HTTP ``--reward.remote_url``. The body
may carry ``step`` and ``total_steps`` as ``/reward``'s do; :mod:`trainer_client.openrlhf`
(OpenRLHF's Python-file ``reward_func`` mode) counts the step on the trainer side and sends them.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from reward_service.compat.labels import with_label
from reward_service.compat.query import response_of
from reward_service.compat.settings import CompatSettings
from reward_service.contract.admission import lookup
from reward_service.contract.errors import validated
from reward_service.contract.schemas import ID_MAX, RewardRequest, Sample, Status
from reward_service.contract.shapes import SampleResult
from reward_service.contract.task import Outcome
from reward_service.http.openapi import errors, json_body
from reward_service.http.ops import json_response, parse_json, read_body
from reward_service.routing.results import result
from reward_service.routing.router import Router
from reward_service.routing.routes import RouteTable

logger = logging.getLogger("raas.compat.openrlhf")
NEUTRAL = 0.0
"""What OpenRLHF holds where raas has no value (it takes no ``null``); a mask key says so."""
LOG_KEYS = ("accuracy", "format", "raas_unscored", "raas_no_format")
"""``extra_logs``' keys, the same for every sample (OpenRLHF batches samples' logs by key)."""
NOT_LOCATED = (
    "the prompt is not at the start of the query (OpenRLHF cut it to fit --data.max_len, or the "
    "tokenizer does not decode it back as written): not scored, rather than score the prompt"
)


class OpenRLHFRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    query: list[str]
    prompts: list[str] | None = None
    labels: list[Any] | None = None
    step: int | None = Field(None, ge=0, le=ID_MAX)  # not OpenRLHF's: raas' reward_func sends it
    total_steps: int | None = Field(None, ge=1, le=ID_MAX)

    @model_validator(mode="after")
    def _same_lengths(self) -> OpenRLHFRequest:
        for name in ("prompts", "labels"):
            given = getattr(self, name)
            if given is not None and len(given) != len(self.query):
                raise ValueError(f"{name} has {len(given)} items for {len(self.query)} queries")
        return self


class OpenRLHFAnswer(BaseModel):
    rewards: list[float]
    scores: list[float]
    extra_logs: dict[str, list[float]]
    status: list[Status]
    errors: list[str | None]


def openrlhf_samples(
    request: OpenRLHFRequest, settings: CompatSettings, routes: RouteTable | None = None
) -> tuple[list[dict[str, Any]], set[int]]:
    """One ``/reward`` sample per query, and the indices of those whose prompt the query does
    not hold (their ``response`` is the whole query, for validation only). A label object with
    a ``verifier`` is the sample's own spec; one with a ``data_source`` the server routes
    (``RAAS_ROUTES``) takes its route's spec, the ``RAAS_OPENRLHF_*`` defaults otherwise."""
    samples, not_located = [], set()
    for index, query in enumerate(request.query):
        prompt = request.prompts[index] if request.prompts is not None else None
        label = request.labels[index] if request.labels is not None else None
        response = response_of(query, prompt)
        if response is None:
            not_located.add(index)
        sample: dict[str, Any] = {
            "data_source": "openrlhf",
            "prompt": prompt,
            "response": query if response is None else response,
            "verifier": settings.openrlhf_verifier,
        }
        if settings.openrlhf_format is not None:
            sample["format"] = settings.openrlhf_format
            sample["weights"] = {"accuracy": 1.0, "format": settings.openrlhf_format_weight}
        samples.append(with_label(sample, label, routes))
    return samples, not_located


async def score_located(
    router: Router, request: RewardRequest, not_located: set[int]
) -> list[SampleResult]:
    """``/reward``'s results for the samples whose response was found; ``invalid_input`` for the
    others, counted in the metrics as the router counts its samples."""
    located = [s for i, s in enumerate(request.samples) if i not in not_located]
    scored = iter(
        (await router.score(request.model_copy(update={"samples": located})))["results"]
        if located
        else ()
    )
    failed: Counter[tuple[str, str, str]] = Counter()
    results = []
    for index, sample in enumerate(request.samples):
        if index in not_located:
            failed[(sample.data_source, sample.verifier or "", "invalid_input")] += 1
            results.append(_not_located(sample))
        else:
            results.append(next(scored))
    if failed:
        router.metrics.record_samples(failed, {})
    return results


def _not_located(sample: Sample) -> SampleResult:
    return result(sample, Outcome("invalid_input", error=NOT_LOCATED), None)


def openrlhf_response(results: list[SampleResult]) -> dict[str, Any]:
    """``/get_reward``'s answer: every :data:`LOG_KEYS` for every sample (see the module)."""
    ok = [r["status"] == "ok" for r in results]
    components = [r["components"] for r in results]
    logs: dict[str, list[float]] = {
        "accuracy": [c.get("accuracy", NEUTRAL) for c in components],
        "format": [c.get("format", NEUTRAL) for c in components],
        "raas_unscored": [0.0 if good else 1.0 for good in ok],
        "raas_no_format": [0.0 if "format" in c else 1.0 for c in components],
    }
    if not all(ok):
        statuses = Counter(r["status"] for r in results if r["status"] != "ok")
        logger.warning(
            "/get_reward: %d of %d samples unscored, answered as %s with raas_unscored 1: %s",
            sum(statuses.values()),
            len(results),
            NEUTRAL,
            dict(statuses),
        )
    return {
        "rewards": [r["reward"] if good else NEUTRAL for r, good in zip(results, ok, strict=True)],
        "scores": logs["accuracy"],
        "extra_logs": logs,
        "status": [r["status"] for r in results],
        "errors": [r["error"] for r in results],
    }


def add_openrlhf_route(
    app: FastAPI,
    router: Router,
    settings: CompatSettings,
    max_body_bytes: int,
    dependencies: Sequence[Any],
) -> None:
    """``POST /get_reward``; a misconfigured verifier or format fails at start, by name."""
    lookup(settings.openrlhf_verifier, settings.openrlhf_format)
    guarded = list(dependencies)

    @app.post(
        "/get_reward",
        tags=["compat"],
        dependencies=guarded,
        response_model=OpenRLHFAnswer,
        responses=errors(401, 413, 422, 429),
        openapi_extra=json_body(OpenRLHFRequest),
    )
    @router.metrics.timed("/get_reward")
    async def get_reward(request: Request) -> Response:
        body = validated(OpenRLHFRequest, parse_json(await read_body(request, max_body_bytes)))
        samples, not_located = openrlhf_samples(body, settings, router.routes)
        schedule = {"step": body.step, "total_steps": body.total_steps}
        reward_request = validated(RewardRequest, {"samples": samples, **schedule})
        results = await score_located(router, reward_request, not_located)
        return json_response(openrlhf_response(results))
