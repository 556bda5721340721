"""What every part speaks: the router, the pool, remote workers, reward models, the compat
endpoints and offline scoring. Light (pydantic and the standard library): every role
imports it before anything heavy.

``task`` (``Task``, ``Outcome``, ``Failure``, ``Backend``, ``running``) ·
``schemas`` (the wire contract, v1: requests, samples, the doc models) ·
``shapes`` (the answer's TypedDicts, linked into ``trainer_client``) ·
``admission`` (a sample → a ``Task``: names, params, canonical keys) ·
``registry`` (verifiers and format checkers by name, with their params) ·
``errors`` (every error raas raises on purpose, one tree) ·
``monitoring`` (what a scorer measures beside the reward).

Importing the package loads nothing: each module is imported by name.
"""
