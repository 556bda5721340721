"""NeMo Gym's resources-server protocol (``nemo_gym/base_resources_server.py``, nemo-gym 0.7.0), so
that a NeMo Gym agent — NeMo RL's rollouts — uses raas as its verifier.

- ``POST /verify`` takes the flat verify body an agent's ``/run`` sends (and an environment
  server's ``single_agent_turn``): the dataset row's fields, ``responses_create_params`` (the
  Responses-API request) and ``response`` (the Responses-API answer). It answers that body
  echoed with ``reward`` (``BaseVerifyResponse``) and ``reward_components``
  (``BaseMultiRewardVerifyResponse``).
- ``POST /seed_session``: an agent's legacy seed (the row) gets ``{}``; an environment server's
  ``ResourcesSeedSessionRequest`` gets its ``resources_session_id`` back and a session cookie
  (it refuses a seed without one). ``POST /close_session`` confirms. raas keeps no session.

The request as a raas sample:

=================  ==========================================================================
raas               from the verify body
=================  ==========================================================================
``response``       the final turn of ``response.output`` (the items after the last
                   ``function_call_output``): its assistant messages' ``output_text`` joined,
                   after its reasoning items' text (``content``, else ``summary``) as
                   ``<think>\\n…\\n</think>\\n`` — the tags vLLM's reasoning parser removed, so
                   format checkers and the reflection ratio see the thinking
``prompt``         ``responses_create_params.input``: a string, or its messages' text parts
``images``         its messages' ``input_image`` parts' ``image_url`` (data URIs or base64)
``ground_truth``   ``ground_truth``, else ``expected_answer`` (NeMo Gym's math datasets)
``data_source``    ``data_source``, else ``nemo_gym``
``truncated``      ``response.incomplete_details.reason`` ``max_output_tokens``: true;
                   ``response.status`` ``completed``: false; else not sent
``verifier``,      the row's fields of those names; a row without ``verifier`` is scored by the
``params``, …      server's routes (``RAAS_ROUTES``) for its ``data_source``
=================  ==========================================================================

The answer adds ``reward`` (raas's reward), ``reward_components`` (``accuracy`` and, with a format
checker, ``format``: each component's weighted share, so that they sum to ``reward`` as NeMo RL
checks for GDPO), ``raas_status``, ``raas_accuracy`` and ``raas_format`` (the raw scores, top-level
numbers for NeMo Gym's metrics). A sample raas could not score answers ``reward`` 0.0 with
``mask_sample: true`` (NeMo RL zeroes its loss), ``failure_kind`` and ``failure_reason``. A body
that is not a verify request, or a reward spec that does not validate, is 422.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from reward_service.compat.chat import chat_text, content_text, input_images
from reward_service.contract.errors import validated
from reward_service.contract.schemas import RewardRequest, Sample
from reward_service.http.openapi import errors, json_body
from reward_service.http.ops import json_response, parse_json, read_body
from reward_service.routing.router import Router

Handler = Callable[[Request], Awaitable[Response]]
SESSION_COOKIE = "raas_session"
ROLLOUT_PREFIX = "/ng-rollout/{rollout_id}"  # NeMo Gym's prefix with observability_enabled
_SPEC_FIELDS = ("verifier", "params", "format", "weights")
# raas statuses in NeMo Gym's failure vocabulary (nemo_gym/failure_kinds.py), else namespaced
FAILURE_KINDS = {
    "timeout": "raas:timeout",
    "invalid_input": "raas:invalid_input",
    "error": "verifier_error",
    "unavailable": "provider_unavailable",
}


class GymResponse(BaseModel):
    """The Responses-API answer: its ``output``, and whether generation stopped at the token
    limit (``status`` ``incomplete`` with ``incomplete_details.reason`` ``max_output_tokens``)."""

    model_config = ConfigDict(extra="allow")

    output: list[dict[str, Any]]
    status: StrictStr | None = None
    incomplete_details: dict[str, Any] | None = None

    def truncated(self) -> bool | None:
        """Cut at ``max_output_tokens``: True; ``completed``: False; otherwise not said."""
        if (self.incomplete_details or {}).get("reason") == "max_output_tokens":
            return True
        return False if self.status == "completed" else None


class GymVerifyRequest(BaseModel):
    """NeMo Gym's flat verify body: the row's fields, the request and the response."""

    model_config = ConfigDict(extra="allow")

    responses_create_params: dict[str, Any]
    response: GymResponse
    ground_truth: Any = None
    expected_answer: Any = None
    data_source: StrictStr | None = None
    verifier: StrictStr | None = None
    params: dict[str, Any] | None = None
    format: StrictStr | None = None
    weights: dict[str, Any] | None = None


class GymVerifyAnswer(BaseModel):
    """``BaseMultiRewardVerifyResponse``'s fields and raas's (the request's are echoed too)."""

    model_config = ConfigDict(extra="allow")

    reward: float
    reward_components: dict[str, float]
    mask_sample: bool
    failure_kind: str | None
    failure_reason: str | None
    raas_status: str
    raas_accuracy: float | None
    raas_format: float | None


class GymSeed(BaseModel):
    """A legacy seed (any row) or an environment server's ``ResourcesSeedSessionRequest``."""

    model_config = ConfigDict(extra="allow")

    resources_session_id: StrictStr | None = Field(None, min_length=1, max_length=256)


class GymSession(BaseModel):
    resources_session_id: StrictStr | None = None


def final_turn(output: Sequence[Mapping[str, Any]]) -> Sequence[Mapping[str, Any]]:
    """The items after the last tool result: what the model said last."""
    last = max(
        (i for i, item in enumerate(output) if item.get("type") == "function_call_output"),
        default=-1,
    )
    return output[last + 1 :]


def _parts(item: Mapping[str, Any], key: str = "content") -> list[Mapping[str, Any]]:
    parts = item.get(key)
    return [p for p in parts if isinstance(p, Mapping)] if isinstance(parts, list) else []


def _reasoning_text(item: Mapping[str, Any]) -> str:
    return content_text(_parts(item) or _parts(item, "summary"))


def response_text(output: Sequence[Mapping[str, Any]]) -> str:
    """The final turn as raas scores it: thinking in ``<think>`` tags, then the answer text."""
    turn = final_turn(output)
    thinking = "\n".join(
        text for item in turn if item.get("type") == "reasoning" if (text := _reasoning_text(item))
    )
    answer = "".join(
        content_text([p for p in _parts(item) if p.get("type") == "output_text"])
        for item in turn
        if item.get("type") == "message" and item.get("role", "assistant") == "assistant"
    )
    return f"<think>\n{thinking}\n</think>\n{answer}" if thinking else answer


def gym_sample(body: GymVerifyRequest) -> dict[str, Any]:
    given = body.responses_create_params.get("input")
    ground_truth = body.ground_truth if body.ground_truth is not None else body.expected_answer
    sample: dict[str, Any] = {
        "data_source": body.data_source or "nemo_gym",
        "prompt": chat_text(given),
        "response": response_text(body.response.output),
        "ground_truth": ground_truth,
        "images": input_images(given),
    }
    sample.update({k: getattr(body, k) for k in _SPEC_FIELDS if getattr(body, k) is not None})
    if (truncated := body.response.truncated()) is not None:
        sample["truncated"] = truncated
    return sample


def reward_terms(sample: Sample, result: Mapping[str, Any]) -> dict[str, float]:
    """Each component's weighted share of the reward; they sum to it (0.0 each if unscored)."""
    accuracy, fmt = result["components"].get("accuracy"), result["components"].get("format")
    if accuracy is None:
        return dict.fromkeys(("accuracy", "format") if sample.format else ("accuracy",), 0.0)
    if fmt is None:
        return {"accuracy": float(result["reward"])}
    w = sample.weights
    total = w.accuracy + w.format
    return {"accuracy": w.accuracy * accuracy / total, "format": w.format * fmt / total}


def verify_answer(
    body: Mapping[str, Any], sample: Sample, result: Mapping[str, Any]
) -> dict[str, Any]:
    ok = result["status"] == "ok"
    return {
        **body,
        "reward": result["reward"] if ok else 0.0,
        "reward_components": reward_terms(sample, result),
        "mask_sample": not ok,
        "failure_kind": None if ok else FAILURE_KINDS[result["status"]],
        "failure_reason": result["error"],
        "raas_status": result["status"],
        "raas_accuracy": result["components"].get("accuracy"),
        "raas_format": result["components"].get("format"),
    }


async def verify(router: Router, raw: bytes | bytearray) -> dict[str, Any]:
    body = parse_json(raw)
    request = validated(RewardRequest, {"samples": [gym_sample(validated(GymVerifyRequest, body))]})
    result = (await router.score(request))["results"][0]
    return verify_answer(body, request.samples[0], result)


def _seeded(seed: GymSeed) -> Response:
    if seed.resources_session_id is None:
        return json_response({})  # an agent's legacy seed: BaseSeedSessionResponse
    response = json_response({"resources_session_id": seed.resources_session_id})
    # the id may hold any character; a cookie value may not: its digest stands for it
    digest = hashlib.sha256(seed.resources_session_id.encode("utf-8", "surrogatepass")).hexdigest()
    response.set_cookie(SESSION_COOKIE, digest[:32], httponly=True)
    return response


def add_nemo_gym_routes(
    app: FastAPI, router: Router, max_body_bytes: int, dependencies: Sequence[Any]
) -> None:
    """``POST /verify``, ``/seed_session``, ``/close_session``, also under NeMo Gym's
    ``/ng-rollout/{rollout_id}`` prefix (undocumented twins)."""

    @router.metrics.timed("/verify")
    async def verify_route(request: Request) -> Response:
        return json_response(await verify(router, await read_body(request, max_body_bytes)))

    async def seed_route(request: Request) -> Response:
        raw = parse_json(await read_body(request, max_body_bytes))
        return _seeded(validated(GymSeed, raw))

    async def close_route(request: Request) -> Response:
        raw = parse_json(await read_body(request, max_body_bytes))
        return json_response(validated(GymSession, raw).model_dump(exclude_none=True))

    routes: list[tuple[str, Handler, type[BaseModel], type[BaseModel]]] = [
        ("/verify", verify_route, GymVerifyRequest, GymVerifyAnswer),
        ("/seed_session", seed_route, GymSeed, GymSession),
        ("/close_session", close_route, GymSession, GymSession),
    ]
    for path, handler, body, answer in routes:
        app.post(
            path,
            tags=["compat"],
            dependencies=list(dependencies),
            response_model=answer,
            responses=errors(401, 413, 422, 429),
            openapi_extra=json_body(body),
        )(handler)
        app.post(ROLLOUT_PREFIX + path, dependencies=list(dependencies), include_in_schema=False)(
            handler
        )
