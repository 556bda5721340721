"""slime's remote reward model (``--rm-type remote_rm --rm-url URL``), scored on the router.

slime posts each sample alone, ``{"prompt", "response", "label"}`` (``prompt``: text, or chat
messages when no chat template was applied), and stores the JSON answer as the sample's reward:
a number, or an object read with ``--reward-key``. Its rewards become tensors, so ``null`` cannot
be answered. ``POST /slime`` answers one object, always with the same keys:

    {"reward": r, "accuracy": a, "format": f, "raas_unscored": 0.0, "status": "ok", "error": null}

run with ``--reward-key reward``. A sample raas could not score answers ``reward`` 0.0 (the
neutral value), ``raas_unscored`` 1.0, its ``status`` and ``error`` (and the server logs a
warning); ``format`` is 0.0 where no format checker ran. ``trainer_client.slime.mask_unscored``
(``--rollout-sample-filter-path``) then zeroes those samples' loss masks.

The reward spec: the query string (``?verifier=math&format=think_answer&format_weight=0.1&
data_source=dapo``) gives the defaults, the server's routes (``RAAS_ROUTES``) score a
``data_source`` the query names without a verifier, and a label that is a spec object is the
sample's own (:mod:`reward_service.compat.labels`).

Errors. slime retries any failure, HTTP errors included, 10 times with backoff (about 2.5
minutes) and then raises, stopping the run. So a 422 is kept for what fails every request alike:
a body that is not slime's (no string ``response``), a bad query (unknown verifier or format),
or a plain label whose URL and routes give no verifier. A label that is its own spec and does not
validate fails that sample only: ``invalid_input``, unscored, with the 422 detail as ``error``.

slime posts no step, so schedules (detection's dynamic IoU threshold) stay at their first value
here; the body may carry ``step`` and ``total_steps``, and ``trainer_client.slime.rm``
(``--custom-rm-path``) sends slime's rollout id.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from reward_service.compat.chat import chat_text
from reward_service.compat.labels import is_spec, with_label
from reward_service.contract.errors import MAX_MESSAGE, RequestError, detail, validated
from reward_service.contract.registry import FORMATS, VERIFIERS
from reward_service.contract.schemas import ID_MAX, WEIGHT_MAX, RewardRequest, Status
from reward_service.http.openapi import errors, json_body
from reward_service.http.ops import json_response, parse_json, read_body
from reward_service.routing.router import Router

log = logging.getLogger(__name__)


class SlimePayload(BaseModel):
    """What slime's ``remote_rm`` posts (``slime/rollout/rm_hub/__init__.py``)."""

    model_config = ConfigDict(extra="ignore")

    prompt: StrictStr | list[dict[str, Any]] | None = None
    response: StrictStr
    label: Any = None
    step: int | None = Field(None, ge=0, le=ID_MAX)  # not slime's: for schedules
    total_steps: int | None = Field(None, ge=1, le=ID_MAX)


class SlimeAnswer(BaseModel):
    reward: float
    accuracy: float
    format: float
    raas_unscored: float
    status: Status
    error: str | None


class SlimeQuery(BaseModel):
    """The reward spec a ``/slime`` URL gives every sample it scores."""

    verifier: str | None = None
    data_source: str = "slime"
    format: str | None = None
    format_weight: float = 0.1

    def checked(self) -> SlimeQuery:
        """Itself, or the 422 naming an unknown verifier or format."""
        for field, registry in (("verifier", VERIFIERS), ("format", FORMATS)):
            name = getattr(self, field)
            if name is not None and name not in registry:
                msg = f"unknown {field} {name!r}; known: {', '.join(sorted(registry))}"
                raise RequestError([detail(["query", field], msg, "unknown_name")])
        return self


def slime_sample(payload: SlimePayload, query: SlimeQuery, router: Router) -> dict[str, Any]:
    sample: dict[str, Any] = {
        "data_source": query.data_source,
        "prompt": chat_text(payload.prompt),
        "response": payload.response,
    }
    if query.verifier is not None:
        sample["verifier"] = query.verifier
    if query.format is not None:
        sample["format"] = query.format
        sample["weights"] = {"accuracy": 1.0, "format": query.format_weight}
    return with_label(sample, payload.label, router.routes)


def slime_answer(result: Mapping[str, Any]) -> dict[str, Any]:
    ok = result["status"] == "ok"
    components = result["components"]
    return {
        "reward": result["reward"] if ok else 0.0,
        "accuracy": components.get("accuracy", 0.0),
        "format": components.get("format", 0.0),
        "raas_unscored": 0.0 if ok else 1.0,
        "status": result["status"],
        "error": result["error"],
    }


def unscored(exc: RequestError) -> dict[str, Any]:
    """The answer for a sample whose own spec (its label) does not validate."""
    error = f"the label's reward spec does not validate: {exc}"[:MAX_MESSAGE]
    result: dict[str, Any] = {
        "status": "invalid_input",
        "components": {},
        "reward": None,
        "error": error,
    }
    return slime_answer(result)


async def score_slime(router: Router, payload: SlimePayload, query: SlimeQuery) -> dict[str, Any]:
    sample = slime_sample(payload, query, router)
    schedule = {"step": payload.step, "total_steps": payload.total_steps}
    try:
        request = validated(RewardRequest, {"samples": [sample], **schedule})
        answer = slime_answer((await router.score(request))["results"][0])
    except RequestError as exc:
        if not is_spec(payload.label):
            raise  # the URL or the routes are wrong for every sample: say so at once
        answer = unscored(exc)
    if answer["raas_unscored"]:
        log.warning("slime sample unscored (%s): %s", answer["status"], answer["error"])
    return answer


def add_slime_route(
    app: FastAPI, router: Router, max_body_bytes: int, dependencies: Sequence[Any]
) -> None:
    """``POST /slime``, its reward spec in the query string."""

    @app.post(
        "/slime",
        tags=["compat"],
        dependencies=list(dependencies),
        response_model=SlimeAnswer,
        responses=errors(401, 413, 422, 429),
        openapi_extra=json_body(SlimePayload),
    )
    @router.metrics.timed("/slime")
    async def slime(
        request: Request,
        verifier: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
        data_source: Annotated[str, Query(min_length=1, max_length=256)] = "slime",
        format: Annotated[str | None, Query(min_length=1, max_length=128)] = None,  # noqa: A002
        format_weight: Annotated[float, Query(ge=0, le=WEIGHT_MAX, allow_inf_nan=False)] = 0.1,
    ) -> Response:
        """Score one sample of slime's ``remote_rm``; run slime with ``--reward-key reward``."""
        query = SlimeQuery(
            verifier=verifier, data_source=data_source, format=format, format_weight=format_weight
        ).checked()
        payload = validated(SlimePayload, parse_json(await read_body(request, max_body_bytes)))
        answer = await score_slime(router, payload, query)
        return json_response(answer)
