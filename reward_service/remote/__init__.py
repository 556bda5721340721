"""Workers as services of their own: the wire format, the router's client backend (balancing,
retries, ejection) and the worker app that serves a pool or reward models behind it.

``wire`` (tasks and outcomes as JSON) · ``backend`` (``RemoteBackend``, the router's side) ·
``worker`` (``POST /v1/tasks``: ``raas worker rules`` and ``raas worker model``).
"""
