"""``raas worker model``: a model worker as its own service, one per GPU.

It speaks the same wire as a rule worker (``POST /v1/tasks``: tasks in, outcomes out, see
``reward_service.workers.wire``), so a router reaches it through the same
:class:`~reward_service.workers.remote.RemoteBackend` (``RAAS_MODEL_WORKERS``), with its
balancing and retries. Pin each worker to its GPU with ``CUDA_VISIBLE_DEVICES``.
"""

from __future__ import annotations

from fastapi import FastAPI

from reward_service.metrics import Metrics
from reward_service.models.worker import ModelWorker
from reward_service.settings import Settings
from reward_service.verifiers import MODEL_MODULES, load_verifiers
from reward_service.workers.service import create_worker_app


def create_model_app(settings: Settings | None = None, metrics: Metrics | None = None) -> FastAPI:
    """The models in ``RAAS_MODELS`` (none: every task is ``unavailable``)."""
    load_verifiers(MODEL_MODULES)
    settings = settings if settings is not None else Settings()
    metrics = metrics if metrics is not None else Metrics.for_settings(settings)
    worker = ModelWorker(settings.models, metrics)
    return create_worker_app("raas model worker", worker, settings, metrics)
