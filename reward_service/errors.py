"""Errors raised inside raas.

``RaasError``
 ├── ``InvalidInputError``   a sample cannot be scored as given → status ``invalid_input``
 ├── ``UnknownNameError``    no verifier / format checker of that name → HTTP 422
 ├── ``RequestError``        a request is malformed → HTTP 422 naming sample index and field
 └── ``OverloadedError``     more work is queued than the service accepts → HTTP 429

Timeouts and crashes are not exceptions a verifier raises: the pool observes them from outside.
"""

from __future__ import annotations

from typing import Any


class RaasError(Exception):
    """Base of the errors raas raises on purpose."""


class InvalidInputError(RaasError, ValueError):
    """The response or ground truth cannot be scored; the sample gets ``invalid_input``."""


class UnknownNameError(RaasError, LookupError):
    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        super().__init__(f"unknown {kind} {name!r}; known: {', '.join(known)}")
        self.kind = kind
        self.name = name


class RequestError(RaasError):
    """A request that fails validation; ``errors`` follow pydantic's ``loc``/``msg``/``type``."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(f"{e['loc']}: {e['msg']}" for e in errors))
        self.errors = errors


class OverloadedError(RaasError):
    """The queue is full; the client should retry after ``retry_after_s`` seconds."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
