"""OpenRLHF's remote reward protocol, translated onto the router.

Other trainers' reward protocols, translated onto the same router as ``POST /reward``.

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

OpenRLHF posts no step (its body is those three lists), so schedules such as detection's
dynamic IoU threshold stay at their first value under ``--remote_rm_url http://…/get_reward``.
The body may carry ``step`` and ``total_steps`` as ``/reward``'s do; :mod:`trainer_client.openrlhf`
(OpenRLHF's Python-file ``reward_func`` mode) counts the step on the trainer side and sends them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from reward_service.compat.labels import with_label
from reward_service.compat.settings import CompatSettings
from reward_service.errors import validated
from reward_service.openapi import errors, json_body
from reward_service.ops import json_response, parse_json, read_body
from reward_service.registry import FORMATS, VERIFIERS
from reward_service.router import Router
from reward_service.routes import RouteTable
from reward_service.schemas import ID_MAX, RewardRequest, Status


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


def response_part(query: str, prompt: str | None) -> str:
    """OpenRLHF's query is prompt + response: the response is what follows the prompt."""
    return query[len(prompt) :] if prompt and query.startswith(prompt) else query


def openrlhf_samples(
    request: OpenRLHFRequest, settings: CompatSettings, routes: RouteTable | None = None
) -> list[dict[str, Any]]:
    """One ``/reward`` sample per query. A label object with a ``verifier`` is the sample's own
    spec; one with a ``data_source`` the server routes (``RAAS_ROUTES``) takes its route's
    spec, the ``RAAS_OPENRLHF_*`` defaults otherwise."""
    samples = []
    for index, query in enumerate(request.query):
        prompt = request.prompts[index] if request.prompts is not None else None
        label = request.labels[index] if request.labels is not None else None
        sample: dict[str, Any] = {
            "data_source": "openrlhf", "prompt": prompt, "response": response_part(query, prompt),
            "verifier": settings.openrlhf_verifier,
        }  # fmt: skip
        if settings.openrlhf_format is not None:
            sample["format"] = settings.openrlhf_format
            sample["weights"] = {"accuracy": 1.0, "format": settings.openrlhf_format_weight}
        samples.append(with_label(sample, label, routes))
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


def add_openrlhf_route(
    app: FastAPI, router: Router, settings: CompatSettings, max_body_bytes: int,
    dependencies: Sequence[Any],
) -> None:  # fmt: skip
    """``POST /get_reward``; a misconfigured verifier or format fails at start, by name."""
    VERIFIERS.get(settings.openrlhf_verifier)
    if settings.openrlhf_format is not None:
        FORMATS.get(settings.openrlhf_format)
    latency = router.metrics.request_latency
    guarded = list(dependencies)

    @app.post(
        "/get_reward", tags=["compat"], dependencies=guarded, response_model=OpenRLHFAnswer,
        responses=errors(401, 413, 422, 429), openapi_extra=json_body(OpenRLHFRequest),
    )  # fmt: skip
    async def get_reward(request: Request) -> Response:
        start = time.perf_counter()
        body = validated(OpenRLHFRequest, parse_json(await read_body(request, max_body_bytes)))
        schedule = {"step": body.step, "total_steps": body.total_steps}
        reward_request = validated(
            RewardRequest, {"samples": openrlhf_samples(body, settings, router.routes), **schedule}
        )
        results = (await router.score(reward_request))["results"]
        latency.labels("/get_reward").observe(time.perf_counter() - start)
        return json_response(openrlhf_response(results))
