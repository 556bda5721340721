"""Admission: the one place where a sample's fields become what a task is made of.

Every boundary a sample crosses calls it — the router for each ``/reward`` sample, a remote
worker for each task it is sent (a worker trusts no caller's checks: it admits every task again,
against its own registry, and derives every key itself), the route table at start-up and the
compat endpoints for their configured names — so the rules below are written once:

- a verifier and a format checker are looked up by name (``unknown_name`` at ``verifier`` or
  ``format``);
- params are validated against the verifier's params model (pydantic's details under
  ``params``) and keyed by their canonical JSON, ``params.model_dump_json()``: equal params,
  however they were written, share one key, so a worker's parse cache and the router's dedupe
  see them as one;
- a value JSON cannot hold (an integer past 64 bits) is ``not_serialisable``;
- a ground truth is keyed by its canonical JSON (sorted keys): the text a task carries;
- the size limits (:func:`too_big`): what a task may hold, checked by every role.

Error details are located within the sample (``["params", "tolerance"]``); each caller puts its
own prefix before them (``["samples", 3, ...]``, ``["tasks", 0, ...]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from reward_service.contract.errors import Detail, UnknownNameError, detail, validation_errors
from reward_service.contract.registry import FORMATS, VERIFIERS, Params, VerifierSpec
from reward_service.contract.task import Outcome
from reward_service.settings import Settings

NOT_SERIALISABLE_GROUND_TRUTH = "ground_truth is not JSON-serialisable"
_SORTED = orjson.OPT_SORT_KEYS


@dataclass(frozen=True, slots=True)
class Admitted:
    """A (verifier, format, params) that may be scored: the verifier, its validated params and
    their canonical JSON (the task's ``params_key``)."""

    spec: VerifierSpec
    params: Params
    params_key: str


Admission = Admitted | list[Detail]
"""Admitted, or the error details (located within the sample) that refuse it."""


def lookup(verifier: str, format_: str | None) -> VerifierSpec:
    """The verifier's spec, the format checker checked too; :class:`UnknownNameError` (its
    ``kind`` says which) for a name the registry does not hold."""
    spec = VERIFIERS.get(verifier)
    if format_ is not None:
        FORMATS.get(format_)
    return spec


def admit(verifier: str, format_: str | None, params: Mapping[str, Any]) -> Admission:
    """Names looked up, then params validated: :class:`Admitted`, or the details that refuse
    it. Uncached: a batch goes through :class:`Admissions`."""
    try:
        spec = lookup(verifier, format_)
    except UnknownNameError as exc:
        field = "verifier" if exc.kind == "verifier" else "format"
        return [detail([field], str(exc), "unknown_name")]
    try:
        validated = spec.params.model_validate(params)
    except ValidationError as exc:
        return validation_errors(exc, ["params"])
    return Admitted(spec, validated, validated.model_dump_json())


class Admissions:
    """One batch's admissions, by (verifier, format, params as sent in canonical JSON): a batch
    repeats a few specs over thousands of samples, so each is validated once and the same
    :class:`Admitted` (or the same details) is answered for every repeat. A fresh one per batch:
    it is not bounded, and a registry reloaded between batches is seen."""

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str | None, str], Admission] = {}

    def admit(self, verifier: str, format_: str | None, params: Mapping[str, Any]) -> Admission:
        """:func:`admit`, cached; params JSON cannot hold are refused first, at ``params``
        (nothing else about them can be keyed). Empty params skip the encoding (most samples)."""
        text = "{}"
        if params:
            try:
                text = orjson.dumps(params, option=_SORTED).decode()
            except orjson.JSONEncodeError as exc:  # an integer past 64 bits
                return [detail(["params"], str(exc), "not_serialisable")]
        key = (verifier, format_, text)
        if (found := self._seen.get(key)) is None:
            found = self._seen[key] = admit(verifier, format_, params)
        return found


def canonical(value: Any) -> str:
    """A ground truth's canonical JSON (sorted keys): the text a task carries and its parse is
    keyed by. :class:`orjson.JSONEncodeError` (a ``TypeError``) for a value JSON cannot hold."""
    return orjson.dumps(value, option=_SORTED).decode()


def located(details: list[Detail], prefix: list[Any]) -> list[Detail]:
    """``details`` with ``prefix`` (where the sample is in its request) before each ``loc``."""
    return [{**item, "loc": [*prefix, *item["loc"]]} for item in details]


def too_big(
    response: str, ground_truth: str, prompt: str | None, reads_prompt: bool, settings: Settings
) -> Outcome | None:
    """``invalid_input`` for a task past a size limit, else ``None``: the response, the ground
    truth's canonical JSON, and the prompt where the verifier reads it (model verifiers tokenise
    it: past ``RAAS_MAX_PROMPT_CHARS`` it is not read). The router and every worker apply it."""
    if len(response) > (limit := settings.max_response_chars):
        return Outcome("invalid_input", error=f"response longer than {limit} characters")
    if len(ground_truth) > (limit := settings.max_ground_truth_chars):
        return Outcome("invalid_input", error=f"ground_truth longer than {limit} characters")
    if reads_prompt and prompt is not None and len(prompt) > (limit := settings.max_prompt_chars):
        return Outcome("invalid_input", error=f"prompt longer than {limit} characters")
    return None
