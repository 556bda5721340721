"""When and how long :class:`~trainer_client.RewardClient` waits before resending a batch.

Resending is safe because every batch carries an ``Idempotency-Key``: a batch the router already
scored (its answer lost on the way back) is replayed from the router's memory, and one still
being scored is waited for, so no retry is ever scored twice.

A request is retried for ``budget_s`` seconds counted from its first failure, however many tries
that takes: the last wait is cut short so that a last try is made when the budget ends, and the
request gives up at the first failure after that. So a router that is back within the budget
always gets the request, and one that is not surfaces as an error no later than the budget plus
one try. (A budget in tries hides its length in the jitter: 6 tries with 0.5 s base and 15 s cap
span 7.7 s on average and 15.5 s at most, less than a router restart.)
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Every setting with the reason for its default."""

    # Long enough to outlast a router restart on Kubernetes: the kubelet restarts a crashed
    # container at once (10 s, then 20 s, 40 s later if it keeps crashing: CrashLoopBackOff),
    # `raas serve` is ready 3–6 s after it starts (measured) and the readiness probe looks every
    # 5 s (k8s/base/router.yaml), so a plain restart is back in about 10–20 s and a second crash
    # in a row in about 30 s; a pod rescheduled onto a node that has the image starts in 20–60 s.
    # Two minutes covers those with room; a router gone for longer is an outage, which should
    # surface in the trainer as RewardUnavailableError instead of a silent stall.
    budget_s: float = 120.0
    # A cap on tries besides the budget (None: the budget alone decides).
    attempts: int | None = None
    # Full-jitter exponential backoff (AWS Architecture Blog, "Exponential Backoff and
    # Jitter"): sleep uniform(0, min(cap, base·2^n)). Many trainer ranks fail at the same
    # moment when the router restarts; jitter spreads their retries instead of having them
    # stampede the fresh pod in lockstep. The 5 s cap: a router back from a restart is found
    # 2.5 s later on average, while a thousand ranks retrying cost it (or a Service with no
    # ready pod, which refuses the connection) a few hundred connection attempts a second.
    backoff_base_s: float = 0.5
    backoff_max_s: float = 5.0
    # 429 (rate limited) and 502/503/504 (a proxy or load balancer found no healthy router,
    # or one timed out; a router shutting down answers 503) are transient by definition. 500
    # is not retried: it is a bug, and sending the same batch again would fail the same way.
    retry_statuses: frozenset[int] = frozenset({429, 502, 503, 504})
    # A server's Retry-After is honoured (it knows its load better than our backoff does),
    # but capped: a misconfigured proxy asking for an hour must not freeze training.
    max_retry_after_s: float = 60.0

    def __post_init__(self) -> None:
        if self.attempts is not None and self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        waits = (self.budget_s, self.backoff_base_s, self.backoff_max_s, self.max_retry_after_s)
        if min(waits) < 0:
            raise ValueError("the budget and waits must not be negative")

    def backoff(self, retry: int, rng: random.Random | None = None) -> float:
        """Seconds to sleep before retry number ``retry`` (0-based), with full jitter."""
        ceiling = min(self.backoff_max_s, self.backoff_base_s * 2.0**retry)
        return (rng or random).uniform(0.0, ceiling)

    def wait(
        self, retry: int, response: httpx.Response | None, rng: random.Random | None = None
    ) -> float:
        """The server's Retry-After when it sent one (plus a little jitter so that ranks told
        the same instant do not return together), else the jittered backoff."""
        after = retry_after(response) if response is not None else None
        if after is None:
            return self.backoff(retry, rng)
        jitter = (rng or random).uniform(0.0, self.backoff_base_s)
        return min(after, self.max_retry_after_s) + jitter


@dataclass(slots=True)
class Retrying:
    """The retries of one request under ``policy``: after each failure, how long to sleep
    before the next try, or ``None`` once the budget (or the cap on tries) is spent."""

    policy: RetryPolicy
    clock: Callable[[], float] = time.monotonic
    rng: random.Random | None = None
    failures: int = 0
    first_failure: float | None = None

    def next_wait(self, response: httpx.Response | None = None) -> float | None:
        now = self.clock()
        if self.first_failure is None:
            self.first_failure = now
        self.failures += 1
        left = self.first_failure + self.policy.budget_s - now
        capped = self.policy.attempts is not None and self.failures >= self.policy.attempts
        if left <= 0 or capped:
            return None
        return min(self.policy.wait(self.failures - 1, response, self.rng), left)

    @property
    def spent_s(self) -> float:
        """Seconds since the first failure (0 before it)."""
        return 0.0 if self.first_failure is None else self.clock() - self.first_failure


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
