"""When and how long :class:`~trainer_client.RewardClient` waits before resending a batch.

Resending is safe because every batch carries an ``Idempotency-Key``: a batch the router already
scored (its answer lost on the way back) is replayed from the router's memory, and one still
being scored is waited for, so no retry is ever scored twice.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Every setting with the reason for its default."""

    # 1 try + 5 retries spans ~30 s of backoff: enough to ride out a router restart or a
    # rolling deploy (pods come back in seconds), short enough that a real outage surfaces
    # as an exception in the trainer instead of a silent stall.
    attempts: int = 6
    # Full-jitter exponential backoff (AWS Architecture Blog, "Exponential Backoff and
    # Jitter"): sleep uniform(0, min(cap, base·2^n)). Many trainer ranks fail at the same
    # moment when the router restarts; jitter spreads their retries instead of having them
    # stampede the fresh pod in lockstep.
    backoff_base_s: float = 0.5
    backoff_max_s: float = 15.0
    # 429 (rate limited) and 502/503/504 (a proxy or load balancer found no healthy router,
    # or one timed out) are transient by definition. 500 is not retried: it is a bug, and
    # sending the same batch again would fail the same way.
    retry_statuses: frozenset[int] = frozenset({429, 502, 503, 504})
    # A server's Retry-After is honoured (it knows its load better than our backoff does),
    # but capped: a misconfigured proxy asking for an hour must not freeze training.
    max_retry_after_s: float = 60.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if self.backoff_base_s < 0 or self.backoff_max_s < 0 or self.max_retry_after_s < 0:
            raise ValueError("waits must not be negative")

    def backoff(self, retry: int, rng: random.Random | None = None) -> float:
        """Seconds to sleep before retry number ``retry`` (0-based), with full jitter."""
        ceiling = min(self.backoff_max_s, self.backoff_base_s * 2.0**retry)
        return (rng or random).uniform(0.0, ceiling)

    def wait(self, retry: int, response: httpx.Response | None) -> float:
        """The server's Retry-After when it sent one (plus a little jitter so that ranks told
        the same instant do not return together), else the jittered backoff."""
        after = retry_after(response) if response is not None else None
        if after is None:
            return self.backoff(retry)
        return min(after, self.max_retry_after_s) + random.uniform(0.0, self.backoff_base_s)


# Errors on the way to or from the router. A connect error never reached it; a dropped
# connection or a timeout may have, and the idempotency key makes resending those safe (a read
# timeout's retry joins the original scoring on the router instead of starting another). Not
# retried: a bad URL or a request httpx itself refuses to send (fixing those needs a person).
RETRY_ERRORS: tuple[type[Exception], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)


def retry_after(response: httpx.Response) -> float | None:
    """Retry-After as seconds: ``"120"`` or an HTTP date; ``None`` when absent or unreadable."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
