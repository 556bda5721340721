"""A request's way through the router: plan, dispatch to the backends, combine, and the
source summary; the ``RAAS_ROUTES`` table that gives a sample its reward spec.

``router`` (validate → plan → dispatch → combine → metrics → summary) ·
``route_spec`` (``RAAS_ROUTES`` as read: pure pydantic) ·
``routes`` (the route table, checked against the registry) ·
``results`` (one sample's combined reward, checked, and its result) ·
``summary`` (source-level monitoring per ``data_source``).

Importing the package loads nothing: each module is imported by name.
"""
