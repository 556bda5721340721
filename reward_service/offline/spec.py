"""A dataset row → the ``/reward`` sample that scores it (a wire dict, validated later).

Three layouts, told apart row by row:

- **raas's own**: columns named as the sample fields (``verifier``, ``ground_truth``, ``params``,
  ``format``, ``weights``, ``data_source``, ``prompt``, ``images``, ``meta``); the response from
  ``--response-column`` (``response``).
- **V-Triune / Orsta**: ``reward_model`` = ``{"ground_truth", "verifier": "mathverify" |
  "detection", "verifier_parm", "accuracy_ratio", "format_ratio", "answer"}``. Mapped by
  ``compat.vtriune.judge_request``, the mapping ``POST /judge`` uses (its verdicts and quirks,
  ``vtriune_compat``), with the reward weighted accuracy_ratio : format_ratio (1 : 0.1 unless
  given) as V-Triune's ``final_reward``. Its ``images`` and chat ``prompt`` are not sent: the
  math and detection verifiers read neither. ``verifier_parm.image_grid_thw`` is only there when
  the dataset holds it (V-Triune's trainer adds it from the processor); without it a
  ``det_verifier_normalized`` row's predicted boxes are not rescaled.
- **routed**: no verifier at all (verl's ``reward_model: {"ground_truth", "style"}`` included):
  the sample goes without one and the server's routes (``RAAS_ROUTES``) decide by
  ``data_source``; a server without a route answers 422 for it, written as ``invalid_input``.

Columns that are not sample fields are ignored; ``id`` is never sent (rows are kept by position).
``params``, ``weights`` and ``meta`` may be JSON text (how Parquet often holds free-form
objects); ``None`` entries of a dict are dropped (a Parquet struct's absent keys). A ``prompt``
that is not a string and ``images`` that are not a list of strings are not sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from reward_service.compat.settings import CompatSettings
from reward_service.compat.vtriune import JudgePayload, Rejected, judge_request
from reward_service.compat.vtriune_rows import row_object
from reward_service.contract.errors import RaasError, RequestError
from reward_service.contract.schemas import Sample

Row = dict[str, Any]
_OBJECT_FIELDS = ("params", "weights", "meta")
_SKIPPED = ("id", "response")  # id: rows are kept by position; response: from its own column
VTRIUNE_VERIFIERS = ("mathverify", "detection")


class SpecError(RaasError):
    """A row whose reward spec cannot be read: written as ``invalid_input``."""


@dataclass(frozen=True, slots=True)
class RowMapping:
    """How rows become samples: the response column and V-Triune's schedule parameters."""

    response_column: str = "response"
    step: int | None = None
    total_steps: int | None = None
    compat: CompatSettings | None = None


def sample_fields() -> tuple[str, ...]:
    return tuple(name for name in Sample.model_fields if name not in _SKIPPED)


def _sendable(name: str, value: Any) -> bool:
    if name == "prompt":
        return isinstance(value, str)
    if name == "images":
        return isinstance(value, list) and all(isinstance(i, str) for i in value)
    return True


def _native(row: Row, response: Any) -> dict[str, Any]:
    sample: dict[str, Any] = {"response": response}
    for name in sample_fields():
        value = row.get(name)
        if value is None:
            continue
        if name in _OBJECT_FIELDS:
            value = row_object(value)
        elif not _sendable(name, value):
            continue
        sample[name] = value
    return sample


def _vtriune(
    row: Row, reward_model: dict[str, Any], response: Any, how: RowMapping
) -> dict[str, Any]:
    parm = row_object(reward_model.get("verifier_parm")) or {}
    if not isinstance(parm, dict):
        raise SpecError("reward_model.verifier_parm must be an object")
    parm = {**parm, "step": how.step or 0, "total_steps": how.total_steps or 1}
    ratios = {
        key: reward_model[key]
        for key in ("accuracy_ratio", "format_ratio")
        if reward_model.get(key) is not None
    }
    prompt = row.get("prompt")
    try:
        payload = JudgePayload.model_validate(
            {
                "response": response if isinstance(response, str) else "",
                "prompt": prompt if isinstance(prompt, str) else "",
                "answer": str(reward_model.get("answer") or ""),
                "solution": str(reward_model.get("ground_truth") or ""),
                "data_source": str(row.get("data_source") or "vtriune"),
                "reward_verifier": reward_model["verifier"],
                "reward_verifier_parm": orjson.dumps(parm).decode(),
                **ratios,
            }
        )
        sample = judge_request(payload, how.compat or CompatSettings()).samples[0]
    except (Rejected, RequestError, ValueError, TypeError) as exc:
        raise SpecError(f"reward_model: {exc}") from None
    wire = sample.model_dump(mode="json", exclude_unset=True)
    wire["response"] = response  # a non-string response fails validation, as it should
    accuracy, fmt = ratios.get("accuracy_ratio", 1.0), ratios.get("format_ratio", 0.1)
    wire["weights"] = {"accuracy": accuracy, "format": fmt}
    return wire


def to_sample(row: Row, how: RowMapping) -> dict[str, Any]:
    """The wire sample for ``row``; :class:`SpecError` when its spec is unreadable."""
    response = row.get(how.response_column)
    reward_model = row_object(row.get("reward_model"))
    vtriune = isinstance(reward_model, dict) and reward_model.get("verifier") in VTRIUNE_VERIFIERS
    if vtriune and row.get("verifier") is None:
        return _vtriune(row, reward_model, response, how)
    sample = _native(row, response)
    if isinstance(reward_model, dict):  # verl's layout: the spec inside reward_model
        for name in ("ground_truth", "verifier"):
            if name not in sample and reward_model.get(name) is not None:
                sample[name] = reward_model[name]
    return sample
