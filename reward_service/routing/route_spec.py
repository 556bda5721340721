"""``RAAS_ROUTES``: which reward spec a sample gets from its ``data_source`` (routing by task type).

Pure pydantic (and PyYAML for files), so settings read it before any verifier is loaded; the
router checks names and params against the registry when it is built
(:mod:`reward_service.routing.routes`).

``RAAS_ROUTES`` is a path to a YAML or JSON file, or inline JSON. Either holds a list of routes,
or ``{"routes": [...]}``::

    routes:
      - data_source: mm_math              # exact, or a glob: "orsta/det_*", "*"
        verifier: math
        format: think_answer
        weights: {accuracy: 1.0, format: 0.1}
      - data_source: "rlhf/*"
        verifier: rm
        params: {model: rm-text}
        with_images: {params: {model: rm-vision}}   # samples that carry images

``reflection`` (``raas`` or ``vtriune``, see ``reward_service.routing.summary``) picks how the
source summary finds reflection and correctness for a route's samples; set at the top of a file, it
is the default of every route there (``routes/orsta.yaml``: V-Triune's). A request's own
``reflection`` wins.

An exact ``data_source`` wins over globs; globs are tried in file order (the first match wins), so
list the narrow ones first and a catch-all ``"*"`` last. ``with_images`` replaces the fields it
names (``params`` whole, not merged) for samples with at least one image.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from reward_service.contract.schemas import Reflection, Weights

MAX_ROUTES = 1024
GLOB_CHARS = frozenset("*?[")


class RouteSpec(BaseModel):
    """A default reward spec: the ``/reward`` sample fields a route fills in."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    verifier: StrictStr = Field(min_length=1, max_length=128)
    params: dict[str, Any] = Field(default_factory=dict)
    format: StrictStr | None = Field(None, max_length=128)
    weights: Weights | None = None


class ImageVariant(BaseModel):
    """The fields that change for samples with images; the others come from the route."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    verifier: StrictStr | None = Field(None, min_length=1, max_length=128)
    params: dict[str, Any] | None = None
    format: StrictStr | None = Field(None, max_length=128)
    weights: Weights | None = None


class Route(RouteSpec):
    data_source: StrictStr = Field(min_length=1, max_length=256)
    with_images: ImageVariant | None = None
    reflection: Reflection | None = None  # the source summary's mode (else the file's, raas)

    @property
    def is_glob(self) -> bool:
        return not GLOB_CHARS.isdisjoint(self.data_source)

    def spec(self, images: bool) -> RouteSpec:
        """The spec for a sample with or without images."""
        base = RouteSpec(
            verifier=self.verifier, params=self.params, format=self.format, weights=self.weights
        )
        if not images or self.with_images is None:
            return base
        variant = self.with_images
        return base.model_copy(update={k: getattr(variant, k) for k in variant.model_fields_set})


class RoutesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    routes: list[Route] = Field(max_length=MAX_ROUTES)
    reflection: Reflection | None = None  # the default of every route that sets none

    def resolved(self) -> list[Route]:
        """The routes, each with the file's ``reflection`` where it sets none."""
        if self.reflection is None:
            return self.routes
        return [
            r if r.reflection is not None else r.model_copy(update={"reflection": self.reflection})
            for r in self.routes
        ]


def read_routes(value: Any) -> Any:
    """``RAAS_ROUTES`` as given → a list for pydantic to validate: inline JSON (``[`` or ``{``),
    else a path to a ``.yaml``/``.yml``/``.json`` file; lists and dicts pass through."""
    if not isinstance(value, str):
        if isinstance(value, dict) and "routes" in value:
            return RoutesFile.model_validate(value).resolved()
        return value
    text = value.strip()
    if not text:
        return []
    if text[0] in "[{":
        loaded = json.loads(text)
    else:
        path = Path(text)
        if not path.is_file():
            raise ValueError(f"RAAS_ROUTES: no file {text!r} (a path, or inline JSON)")
        loaded = _load_file(path)
    if isinstance(loaded, dict):
        return RoutesFile.model_validate(loaded).resolved()
    return loaded


def _load_file(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        return yaml.safe_load(text)
    return json.loads(text)


class RouteList(BaseModel):
    """``GET /v1/routes``: the routes in the order they are tried (exact ones first)."""

    routes: list[Route]
