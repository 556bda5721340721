"""The HTTP layer every role runs (the router, rule and model workers): the app, the server
and its limits, what every process serves beside its work, and the calls raas makes to
its peers.

``app`` (the router's app: ``create_app(settings, metrics)``, its backends) ·
``server`` (uvicorn, bounded in what one client holds; probes never refused) ·
``shutdown`` (SIGTERM: drain, then 503 with ``Retry-After``) ·
``supervisor`` (``RAAS_ROUTERS`` > 1: N router processes on one port) ·
``siblings`` (what a router does for its siblings: keyed batches, /metrics) ·
``ops`` (what every process serves beside its work: health, readiness, metrics) ·
``auth`` (API keys for trainers, one internal token between router and workers) ·
``openapi`` (the OpenAPI document and the docs pages, behind the same guard) ·
``idempotency`` (``Idempotency-Key``: a retried batch answered once) ·
``memory`` (the RSS ceiling: new work refused with 503 past it) ·
``parsing`` (a ``/reward`` body → request, a few MiB at a time) ·
``outbound`` (the HTTP calls raas makes, without reference cycles).

Importing the package loads nothing: each module is imported by name.
"""
