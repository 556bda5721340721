"""Every error raas raises on purpose, and the helpers that turn failures into text.

``RaasError``
 ├── ``InvalidInputError``   a sample cannot be scored as given → status ``invalid_input``
 ├── ``UnknownNameError``    no verifier / format checker of that name → HTTP 422
 ├── ``RequestError``        a request is malformed → HTTP 422 naming sample index and field
 │                            (``raas score``: a refused batch, split until its samples are named)
 ├── ``Rejected``            a V-Triune payload its own server would have crashed on → zeros
 ├── ``BodyTooLargeError``   a request body over ``RAAS_MAX_BODY_BYTES`` → HTTP 413
 ├── ``BodyTimeoutError``    a request body that stalled, trickled or took too long → HTTP 408
 ├── ``ClientGoneError``     the client hung up mid-body or before its answer → work dropped (499)
 ├── ``OverloadedError``     more work is queued than the service accepts → HTTP 429
 ├── ``ModelUnavailableError`` a forward pass that cannot run now → status ``unavailable``
 ├── ``SpecError``           a row whose reward spec cannot be read → ``invalid_input`` (offline)
 └── ``TableError``          a file ``raas score``/``filter`` cannot read or continue

Each carries its HTTP ``status`` (``None``: it is not answered as one), its ``details()`` (the
``detail`` list of the answer) and ``headers()``: ``ops`` answers every one that reaches a
handler in one place. Timeouts and crashes are not exceptions a verifier raises: the pool
observes them from outside and reports a :class:`~reward_service.contract.task.Failure`. Three more
stay inside the module that raises them: the pool's ``ChannelClosedError`` (an ``OSError``: a
child's pipe is gone), the remote backend's ``_Retryable``, and ``VTriuneSpecError`` (a
``ValueError`` in ``compat/vtriune_rows.py``, which the trainer client shares and so imports
nothing of the server's).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

MAX_REPORTED = 100  # validation errors listed in one 422
MAX_MESSAGE = 2000  # characters of one sample's ``error``
M = TypeVar("M", bound=BaseModel)


Detail = dict[str, Any]  # one 422-style item: ``{"loc": [...], "msg": ..., "type": ...}``


def detail(loc: Sequence[Any], msg: str, type_: str) -> Detail:
    """One item of an error answer's ``detail`` list (pydantic's and FastAPI's shape)."""
    return {"loc": list(loc), "msg": msg, "type": type_}


class RaasError(Exception):
    """Base of the errors raas raises on purpose. One that reaches an HTTP handler is answered
    by its ``status`` with ``{"detail": details()}`` and ``headers()`` (``ops``: one handler for
    all); ``status`` ``None``: it never should (a bug, answered 500)."""

    status: int | None = None

    def details(self) -> list[Detail]:
        return [detail([], str(self), type(self).__name__)]

    def headers(self) -> dict[str, str]:
        return {}


class InvalidInputError(RaasError, ValueError):
    """The response or ground truth cannot be scored; the sample gets ``invalid_input``."""


class UnknownNameError(RaasError, LookupError):
    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        super().__init__(f"unknown {kind} {name!r}; known: {', '.join(known)}")
        self.kind = kind
        self.name = name


class RequestError(RaasError):
    """A request that fails validation; ``errors`` follow pydantic's ``loc``/``msg``/``type``."""

    status = 422

    def __init__(self, errors: list[Detail]) -> None:
        super().__init__("; ".join(f"{e.get('loc')}: {e.get('msg')}" for e in errors))
        self.errors = errors

    def details(self) -> list[Detail]:
        return self.errors


class BodyTooLargeError(RaasError):
    """A request body over ``limit`` bytes (``RAAS_MAX_BODY_BYTES``)."""

    status = 413

    def __init__(self, limit: int) -> None:
        super().__init__(f"body over {limit} bytes")

    def details(self) -> list[Detail]:
        return [detail(["body"], str(self), "too_large")]


class BodyTimeoutError(RaasError):
    """A request body stalled for ``RAAS_BODY_IDLE_TIMEOUT_S``, came slower than
    ``RAAS_BODY_MIN_BYTES_PER_S`` or took ``RAAS_BODY_TIMEOUT_S``; its connection is closed."""

    status = 408

    def __init__(self) -> None:
        super().__init__(
            "the request body stalled, came too slowly or took too long; the connection is closed"
        )

    def details(self) -> list[Detail]:
        return [detail(["body"], str(self), "timeout")]

    def headers(self) -> dict[str, str]:
        return {"Connection": "close"}


class ClientGoneError(RaasError):
    """The client closed its connection before its answer was ready; ``stage`` says when
    (``body``: mid-body; ``scoring``: while its batch was scored). Answered 499 with no body:
    nobody reads it, the access log shows why."""

    status = 499

    def __init__(self, stage: str) -> None:
        super().__init__(f"client gone during {stage}")
        self.stage = stage


class ModelUnavailableError(RaasError):
    """Raised by a forward pass that cannot run now (a remote server is down): ``unavailable``."""


class OverloadedError(RaasError):
    """The queue is full; the client should retry after ``retry_after_s`` seconds."""

    status = 429

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s

    def details(self) -> list[Detail]:
        return [detail([], str(self), "overloaded")]

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)}


def error_text(exc: BaseException, prefix: str = "") -> str:
    """``[prefix: ]Type: message`` of an unexpected exception, bounded: a sample's ``error``."""
    text = f"{type(exc).__name__}: {exc}"
    return (f"{prefix}: {text}" if prefix else text)[:MAX_MESSAGE]


def validation_errors(exc: ValidationError, prefix: Sequence[Any] = ()) -> list[Detail]:
    """pydantic's errors as 422 details (``loc``, ``msg``, ``type``) under ``prefix``."""
    return [
        detail([*prefix, *e["loc"]], e["msg"], e["type"])
        for e in exc.errors(include_url=False)[:MAX_REPORTED]
    ]


def validated(model: type[M], data: Any, prefix: Sequence[Any] = ()) -> M:
    """``model`` from ``data``, or the :class:`RequestError` (422) naming the bad fields."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestError(validation_errors(exc, prefix)) from None
