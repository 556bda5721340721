"""Who may call what: API keys for trainers, one internal token between router and workers.

``RAAS_API_KEYS`` (comma-separated) guards the router's scoring endpoints (``/reward``,
``/get_reward``, ``/judge``, ``/v1/verifiers``) and its API docs; ``RAAS_INTERNAL_TOKEN`` guards a
worker's ``POST /v1/tasks`` and docs, and the router sends it. Health probes (``/healthz``,
``/readyz``) stay open; ``/metrics`` is open unless ``RAAS_METRICS_NEED_KEY`` (then any API key
or the internal token opens it). Unset, nothing is asked for.

A key travels as ``Authorization: Bearer <key>``, or as the password of HTTP Basic auth for
clients that cannot set headers but take a URL (OpenRLHF's ``--remote_rm_url
http://raas:<key>@host:8000/get_reward``: requests turns the URL's user info into that header).
Every configured key is compared in constant time, all of them on every call, so neither a
partial match nor which key matched shows in the timing.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated

from fastapi import HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from reward_service.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="an API key (router) or the internal token")
Guard = Callable[..., Awaitable[None]]


def presented(request: Request) -> str | None:
    """The secret the request presents: a bearer token, or a Basic auth password."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if scheme == "bearer" and value:
        return value
    if scheme == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return None


def matches(secret: str | None, keys: Sequence[bytes]) -> bool:
    """Whether ``secret`` is one of ``keys``, comparing with every key in constant time."""
    if secret is None:
        return False
    given = secret.encode("utf-8")
    found = False
    for key in keys:
        found |= hmac.compare_digest(given, key)
    return found


def _unauthorised() -> HTTPException:
    return HTTPException(
        401,
        "missing or wrong credentials: send Authorization: Bearer <key>",
        headers={"WWW-Authenticate": "Bearer"},
    )


def guard(keys: Sequence[bytes]) -> Guard:
    """A FastAPI dependency that lets a request through when it presents one of ``keys``;
    with no keys configured it lets everything through. A coroutine: FastAPI runs a plain
    function dependency in a worker thread, a hand-off per request (comparing a key is
    microseconds of work)."""

    async def check(
        request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)]
    ) -> None:
        if keys and not matches(presented(request), keys):
            raise _unauthorised()

    return check


def api_keys(settings: Settings) -> list[bytes]:
    return [key.get_secret_value().encode("utf-8") for key in settings.api_keys]


def internal_keys(settings: Settings) -> list[bytes]:
    token = settings.internal_token
    return [] if token is None else [token.get_secret_value().encode("utf-8")]


def metrics_keys(settings: Settings) -> list[bytes]:
    """What opens ``/metrics``: nothing asked unless ``RAAS_METRICS_NEED_KEY``."""
    if not settings.metrics_need_key:
        return []
    return api_keys(settings) + internal_keys(settings)


def internal_headers(settings: Settings) -> dict[str, str]:
    """What the router sends to its workers."""
    token = settings.internal_token
    return {} if token is None else {"authorization": f"Bearer {token.get_secret_value()}"}
