"""The OpenAPI document and the docs pages, behind the same guard as the API they describe.

Scoring routes read their body themselves (pydantic-core parses and validates bytes in one
pass), so FastAPI cannot see their request models: :func:`add_docs` writes them into the
document, with the error answers every route may give, so that a client generator or a fuzzer
(schemathesis, in the tests) knows the whole contract. ``/docs`` loads Swagger UI from the
server itself (``/docs/assets``), not from a CDN: a cluster without internet gets the page too.
"""

from __future__ import annotations

import functools
import importlib.resources
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from reward_service.contract.registry import FORMATS, VERIFIERS
from reward_service.contract.schemas import ErrorBody
from reward_service.http.auth import Guard

_REF = "#/components/schemas/{model}"


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each code answered with an :class:`ErrorBody`."""
    return {code: {"model": ErrorBody} for code in codes}


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra=`` for a route that reads ``model`` from its raw body."""
    schema = {"$ref": _REF.format(model=model.__name__)}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def _name_fields(schemas: dict[str, Any]) -> None:
    """``verifier`` and ``format`` fields list the registered names (generated clients and
    fuzzers then send names that exist; the server still checks every name itself)."""
    names = {"verifier": sorted(VERIFIERS), "format": sorted(FORMATS)}
    for schema in schemas.values():
        for field, known in names.items():
            found = schema.get("properties", {}).get(field)
            if found is None or not known:
                continue
            if "anyOf" in found:  # optional: a name or null
                found["anyOf"] = [{"type": "string", "enum": known}, {"type": "null"}]
            elif found.get("type") == "string":
                found["enum"] = known


def _document(app: FastAPI, models: list[type[BaseModel]]) -> dict[str, Any]:
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        _, definitions = models_json_schema([(m, "validation") for m in models], ref_template=_REF)
        known = schema.setdefault("components", {}).setdefault("schemas", {})
        for name, definition in definitions.get("$defs", {}).items():
            known.setdefault(name, definition)
        _name_fields({name: known[name] for name in definitions.get("$defs", {})})
        app.openapi_schema = schema
    return app.openapi_schema


ASSETS_URL = "/docs/assets"
_ASSET_TYPES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon.png": "image/png",
}


@functools.cache
def _asset(name: str) -> bytes:
    """Swagger UI 5 as the ``fastapi-offline`` package ships it (its static folder only)."""
    return (importlib.resources.files("fastapi_offline") / "static" / name).read_bytes()


def add_docs(app: FastAPI, check: Guard, bodies: list[type[BaseModel]]) -> None:
    """``GET /openapi.json`` and ``GET /docs`` behind ``check``. Build the app with
    ``openapi_url=None, docs_url=None, redoc_url=None`` so FastAPI adds no open copies."""
    app.openapi = lambda: _document(app, bodies)  # type: ignore[method-assign]

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(check)])
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=[Depends(check)])
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title} — API",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
        )

    @app.get(ASSETS_URL + "/{name}", include_in_schema=False)
    async def asset(name: str) -> Response:
        """Swagger UI's own files, served from the installed package: a cluster without
        internet gets the page FastAPI would load from a CDN (public files: no key asked)."""
        if name not in _ASSET_TYPES:
            return Response(status_code=404)
        return Response(_asset(name), media_type=_ASSET_TYPES[name])
