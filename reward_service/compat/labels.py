"""A trainer's label as a raas reward spec: one rule for every protocol whose samples carry a
single ``label`` (OpenRLHF's ``/get_reward``, slime's ``remote_rm``).

A label is the ground truth. A label that is a JSON object naming a ``verifier`` is the sample's
own spec (its ``ground_truth``, ``params``, ``format``, ``weights``, ``data_source``, ``images``,
``meta`` replace the endpoint's defaults); one naming only a ``data_source`` that the server
routes (``RAAS_ROUTES``) takes its route's spec instead of the endpoint's default verifier,
format and weights.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reward_service.routing.routes import RouteTable

SPEC_KEYS = (
    "verifier",
    "ground_truth",
    "params",
    "format",
    "weights",
    "data_source",
    "images",
    "meta",
)
_DEFAULTS = ("verifier", "format", "weights")


def is_spec(label: Any) -> bool:
    """Whether ``label`` is a reward spec rather than a plain ground truth."""
    return isinstance(label, Mapping) and ("verifier" in label or "data_source" in label)


def with_label(
    sample: dict[str, Any], label: Any, routes: RouteTable | None = None
) -> dict[str, Any]:
    """``sample`` (the endpoint's defaults) with ``label`` applied, in place; returned."""
    sample["ground_truth"] = label
    if not is_spec(label):
        return sample
    if "verifier" not in label and _routed(label, routes):
        for key in _DEFAULTS:
            sample.pop(key, None)
    sample.update({key: label[key] for key in SPEC_KEYS if key in label})
    return sample


def _routed(label: Mapping[str, Any], routes: RouteTable | None) -> bool:
    source = label.get("data_source")
    return (
        routes is not None
        and isinstance(source, str)
        and routes.spec_for(source, bool(label.get("images"))) is not None
    )
