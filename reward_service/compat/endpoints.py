"""Mount the compatibility endpoints on an app."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI

from reward_service.compat.nemo_gym import add_nemo_gym_routes
from reward_service.compat.openrlhf import add_openrlhf_route
from reward_service.compat.settings import CompatSettings
from reward_service.compat.slime import add_slime_route
from reward_service.compat.vtriune import add_vtriune_routes
from reward_service.routing.router import Router


def add_compat_routes(
    app: FastAPI,
    router: Router,
    compat: CompatSettings,
    limit: int,
    dependencies: Sequence[Any] = (),
) -> None:
    """``POST /get_reward`` (OpenRLHF), ``POST /judge`` and ``GET /`` (V-Triune), ``POST /slime``
    (slime), ``POST /verify``, ``/seed_session``, ``/close_session`` (NeMo Gym); ``limit``: the
    largest body in bytes (``RAAS_MAX_BODY_BYTES``); ``dependencies`` guard the scoring routes."""
    add_openrlhf_route(app, router, compat, limit, dependencies)
    add_vtriune_routes(app, router, compat, limit, dependencies)
    add_slime_route(app, router, limit, dependencies)
    add_nemo_gym_routes(app, router, limit, dependencies)
