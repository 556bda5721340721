"""Routing by task type: a sample without a ``verifier`` gets its route's reward spec.

The table is checked against the registry when it is built (unknown verifier or format, params
that do not validate, the same exact ``data_source`` twice: the service refuses to start). A
route applies to samples that name no verifier or its own verifier: ``params`` are merged (the
sample's keys win), ``format`` and ``weights`` are the sample's when it gives them (an explicit
``"format": null`` drops the route's checker). A sample naming another verifier is its own spec.
"""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase
from typing import Any

from reward_service.contract.admission import admit
from reward_service.contract.errors import detail
from reward_service.contract.schemas import Reflection, Sample
from reward_service.routing.route_spec import Route, RouteSpec

_CACHE_ENTRIES = 65_536
_LISTED = 20


class RouteTable:
    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes = list(routes)
        self._exact: dict[str, Route] = {}
        for index, route in enumerate(self.routes):
            _check(route, index)
            if not route.is_glob:
                if route.data_source in self._exact:
                    raise ValueError(f"RAAS_ROUTES: data_source {route.data_source!r} twice")
                self._exact[route.data_source] = route
        self._globs = [route for route in self.routes if route.is_glob]
        self._found: dict[tuple[str, bool], RouteSpec | None] = {}
        self._reflection: dict[str, Reflection | None] = {}

    def ordered(self) -> list[Route]:
        """The routes in the order they are tried: exact ones, then globs in file order."""
        return [*self._exact.values(), *self._globs]

    def spec_for(self, data_source: str, images: bool) -> RouteSpec | None:
        key = (data_source, images)
        if key not in self._found:
            if len(self._found) >= _CACHE_ENTRIES:  # trainers name few sources; bound it anyway
                self._found.clear()
            route = self._route(data_source)
            self._found[key] = None if route is None else route.spec(images)
        return self._found[key]

    def reflection(self, data_source: str) -> Reflection | None:
        """The reflection mode of ``data_source``'s route, if it names one."""
        if data_source not in self._reflection:
            if len(self._reflection) >= _CACHE_ENTRIES:
                self._reflection.clear()
            route = self._route(data_source) if self.routes else None
            self._reflection[data_source] = None if route is None else route.reflection
        return self._reflection[data_source]

    def _route(self, data_source: str) -> Route | None:
        return self._exact.get(data_source) or next(
            (r for r in self._globs if fnmatchcase(data_source, r.data_source)), None
        )

    def apply(self, sample: Sample) -> bool:
        """Fill ``sample`` from its route, in place; ``False`` if it has no verifier after."""
        spec = self.spec_for(sample.data_source, bool(sample.images)) if self.routes else None
        if spec is None or sample.verifier not in (None, spec.verifier):
            return sample.verifier is not None
        given = sample.model_fields_set
        sample.verifier = spec.verifier
        if spec.params:
            sample.params = {**spec.params, **sample.params}
        if spec.format is not None and "format" not in given:
            sample.format = spec.format
        if spec.weights is not None and "weights" not in given:
            sample.weights = spec.weights
        return True

    def missing(self, sample: Sample, index: int) -> dict[str, Any]:
        """The 422 detail for a sample with neither a verifier nor a route."""
        names = [r.data_source for r in self.ordered()]
        known = ", ".join(repr(n) for n in names[:_LISTED]) + (
            ", …" if len(names) > _LISTED else ""
        )
        where = f"no route matches data_source {sample.data_source!r}"
        msg = (
            f"no verifier given and {where}; routes: {known}"
            if names
            else ("no verifier given, and no routes are configured (RAAS_ROUTES)")
        )
        return detail(["samples", index, "verifier"], msg, "missing")


def _check(route: Route, index: int) -> None:
    """Both variants admitted (:mod:`reward_service.contract.admission`), or a ``ValueError`` naming
    the route. Params a sample may complete (a missing field, a rule across fields such as
    ``normalize_pixels`` needing the sample's ``image_size``) are left to each sample."""
    for images in (False, True):
        spec = route.spec(images)
        variant = " (with_images)" if images else ""
        where = f"RAAS_ROUTES route {index} ({route.data_source!r}){variant}"
        found = admit(spec.verifier, spec.format, spec.params)
        if not isinstance(found, list):
            continue
        if found[0]["type"] == "unknown_name":
            raise ValueError(f"{where}: {found[0]['msg']}")
        wrong = [e for e in found if e["type"] != "missing" and e["loc"][1:]]
        if wrong:
            loc = tuple(wrong[0]["loc"][1:])  # within params
            raise ValueError(f"{where}: params: {loc}: {wrong[0]['msg']}")
