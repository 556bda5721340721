"""Where ``raas score`` sends its batches: the router in this process, or a deployed raas.

:func:`local_scorer` builds the backends ``create_app`` builds (``app.backends``) and the
:class:`~reward_service.routing.router.Router` over them, so offline verdicts equal the service's; a
422 (``RequestError``) refuses the batch, a 429 is waited out. :class:`RemoteScorer` uses
``trainer_client.RewardClient`` (one request per batch, so a 422's sample indices are the
batch's): 413/422 become ``RequestError``; a raas unreachable through every retry makes the
batch ``unavailable``; other 4xx (a wrong API key) stop the run.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from reward_service.contract.errors import OverloadedError, RequestError
from reward_service.contract.schemas import RewardRequest, Sample
from reward_service.offline.scoring import Result, failure
from reward_service.settings import Settings


class LocalScorer:
    """The router ``create_app`` builds, without HTTP: same backends, same verdicts."""

    def __init__(self, router: Any, step: int | None, total_steps: int | None) -> None:
        self.router, self.step, self.total_steps = router, step, total_steps

    async def score(self, samples: list[Sample]) -> list[Result]:
        request = RewardRequest(samples=samples, step=self.step, total_steps=self.total_steps)
        while True:
            try:
                answer = await self.router.score(request)
            except OverloadedError as exc:  # other work shares the pool: wait as a client would
                await asyncio.sleep(exc.retry_after_s)
                continue
            return list(answer["results"])


@asynccontextmanager
async def local_scorer(
    settings: Settings, step: int | None, total_steps: int | None
) -> AsyncIterator[LocalScorer]:
    from reward_service.contract.task import running
    from reward_service.http.app import backends
    from reward_service.metrics import Metrics
    from reward_service.routing.router import Router
    from reward_service.verifiers import load_verifiers

    load_verifiers()
    metrics = Metrics.for_settings(settings)
    served = backends(settings, metrics)
    async with running(served.values()):
        yield LocalScorer(Router(settings, served, metrics), step, total_steps)


class RemoteScorer:
    """A deployed raas through the trainer client (one request per batch: ``max_batch``)."""

    def __init__(self, client: Any, step: int | None, total_steps: int | None) -> None:
        self.client, self.step, self.total_steps = client, step, total_steps

    async def score(self, samples: list[Sample]) -> list[Result]:
        from trainer_client.client import RequestRejectedError, RewardServiceError

        wire = [s.model_dump(mode="json", exclude_unset=True) for s in samples]
        try:
            batch = await self.client.score(wire, step=self.step, total_steps=self.total_steps)
        except RequestRejectedError as exc:
            if exc.status_code not in (413, 422):
                raise
            detail = exc.detail if isinstance(exc.detail, list) else []
            errors = [d for d in detail if isinstance(d, dict)] or [{"msg": str(exc)}]
            raise RequestError(errors) from None
        except RewardServiceError as exc:  # unreachable through every retry, or a broken answer
            return [failure("unavailable", str(exc)) for _ in samples]
        return [dataclasses.asdict(result) for result in batch.results]
