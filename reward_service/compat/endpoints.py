"""Mount the compatibility endpoints on an app."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI

from reward_service.compat.nemo_gym import add_nemo_gym_routes
from reward_service.compat.openrlhf import add_openrlhf_route
from reward_service.compat.slime import add_slime_route
from reward_service.compat.vtriune import add_vtriune_routes
from reward_service.router import Router
from reward_service.settings import Settings


def add_compat_routes(
    app: FastAPI, router: Router, settings: Settings, dependencies: Sequence[Any] = ()
) -> None:
    """``POST /get_reward`` (OpenRLHF), ``POST /judge`` and ``GET /`` (V-Triune), ``POST /slime``
    (slime), ``POST /verify``, ``/seed_session``, ``/close_session`` (NeMo Gym);
    ``dependencies`` guard the scoring routes."""
    limit = settings.max_body_bytes
    add_openrlhf_route(app, router, settings, limit, dependencies)
    add_vtriune_routes(app, router, settings, limit, dependencies)
    add_slime_route(app, router, limit, dependencies)
    add_nemo_gym_routes(app, router, limit, dependencies)
