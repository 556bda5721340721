"""raas as a NeMo Gym resources server: the server NeMo Gym's launcher starts (``gym env start``,
NeMo RL's NemoGym actor), whose ``/verify`` is raas's.

NeMo Gym 0.7.0 runs only the servers it starts itself: an agent's ``resources_server`` must name
a config entry with an ``entrypoint``, else the launcher stops with ``ServerRefNotFoundError``
(``GlobalConfigDictParser.validate_and_populate_defaults``). This is that entrypoint. It runs in
the per-server virtual environment NeMo Gym builds from ``requirements.txt`` — nemo-gym alone —
so it imports nothing but nemo-gym and its dependencies (not raas-client).

``POST /verify`` forwards the body the agent sent, unchanged, to raas's ``POST /verify`` (raas
maps it to a sample: see ``reward_service/compat/nemo_gym.py`` or the README) and answers raas's
answer, validated as :class:`RaasVerifyResponse` — NeMo Gym's ``BaseMultiRewardVerifyResponse``
(``reward``, ``reward_components``, ``mask_sample``, ``failure_kind``, ``failure_reason``) with
raas's ``raas_status``, ``raas_accuracy`` and ``raas_format``, the row's fields echoed. Sessions
(``/seed_session``, ``/close_session``) are NeMo Gym's defaults: raas keeps no state per rollout.

When raas does not answer a verdict:

- 429, 502, 503, 504 (raas overloaded or restarting, a proxy without a healthy pod) and dropped
  connections are retried for ``retry_budget_s`` (120 s) from the first failure, waiting raas's
  ``Retry-After`` (at most 60 s) or a jittered exponential backoff (0.5 s base, 5 s cap), the
  last wait cut short to try once more when the budget ends — the policy of raas-client's
  ``RetryPolicy`` (long enough to outlast a router restart), which cannot be imported here;
- another 4xx (a row whose reward spec does not validate: 422; a wrong key: 401; a body over
  raas's limit: 413) is answered with the same status and raas's detail, so the rollout fails
  with the reason (NeMo Gym's agent answers its ``/run`` with a 500 holding that detail);
- anything else, and retries used up, is a 502 naming raas's answer: the rollout fails (NeMo RL
  retries it as an infrastructure failure) rather than train on a made-up reward.

At most ``max_concurrent_requests`` verifications are in flight to raas at once, so a run with
thousands of concurrent rollouts does not open thousands of connections to it.
"""

from __future__ import annotations

import asyncio
import random
from email.utils import parsedate_to_datetime
from time import monotonic, time
from typing import Any, ClassVar

import orjson
from aiohttp import ClientConnectionError, ClientResponse
from fastapi import HTTPException, Request
from nemo_gym.base_resources_server import (
    BaseMultiRewardVerifyResponse,
    BaseResourcesServerConfig,
    BaseVerifyRequest,
    ReverifyMode,
    SimpleResourcesServer,
)
from nemo_gym.server_utils import is_nemo_gym_fastapi_entrypoint
from nemo_gym.server_utils import request as gym_request
from pydantic import ConfigDict, Field, PrivateAttr

RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_RETRY_AFTER_S = 60.0
BACKOFF_BASE_S, BACKOFF_MAX_S = 0.5, 5.0
DETAIL_CHARS = 2000  # of raas's answer in an error: enough to read, bounded


class RaasResourcesServerConfig(BaseResourcesServerConfig):  # type: ignore[misc]
    raas_url: str = Field(description="raas's base URL, e.g. http://raas:8000 (/verify is added)")
    raas_api_key: str | None = Field(None, description="sent as a Bearer token (RAAS_API_KEYS)")
    max_concurrent_requests: int = Field(256, ge=1)
    retry_budget_s: float = Field(
        120.0, ge=0, description="seconds from a verification's first failure it is retried for"
    )
    # raas's verifiers are functions of the request: a stored rollout re-verifies to its verdict
    REVERIFY_MODE: ClassVar[ReverifyMode] = ReverifyMode.STATELESS


class RaasVerifyRequest(BaseVerifyRequest):  # type: ignore[misc]
    """The agent's verify body; the row's fields (``ground_truth``, ``verifier`` …) are kept."""

    model_config = ConfigDict(extra="allow")


class RaasVerifyResponse(BaseMultiRewardVerifyResponse):  # type: ignore[misc]
    model_config = ConfigDict(extra="allow")

    raas_status: str
    raas_accuracy: float | None = None
    raas_format: float | None = None


def retry_after(response: ClientResponse) -> float | None:
    """Retry-After as seconds (``"120"`` or an HTTP date), ``None`` when absent or unreadable."""
    value = response.headers.get("Retry-After", "").strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time())
    except (TypeError, ValueError):
        return None


def backoff(retry: int, response: ClientResponse | None) -> float:
    after = retry_after(response) if response is not None else None
    if after is not None:
        return min(after, MAX_RETRY_AFTER_S) + random.uniform(0.0, BACKOFF_BASE_S)
    return random.uniform(0.0, min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2.0**retry))


def refused(status: int, content: bytes) -> HTTPException:
    """raas's refusal as the agent sees it: its 4xx with its detail, anything else as a 502."""
    try:
        detail: Any = orjson.loads(content).get("detail")
    except (orjson.JSONDecodeError, AttributeError):
        detail = content[:DETAIL_CHARS].decode("utf-8", "replace")
    if 400 <= status < 500 and status not in RETRY_STATUSES:
        return HTTPException(status, detail={"raas": detail})
    return HTTPException(502, detail={"raas_status_code": status, "raas": detail})


class RaasResourcesServer(SimpleResourcesServer):  # type: ignore[misc]
    ray_enabled = False
    config: RaasResourcesServerConfig
    _slots: asyncio.Semaphore = PrivateAttr()

    def model_post_init(self, context: Any) -> None:
        self._slots = asyncio.Semaphore(self.config.max_concurrent_requests)
        super().model_post_init(context)

    async def verify(self, request: Request, body: RaasVerifyRequest) -> RaasVerifyResponse:
        """``body`` is parsed for NeMo Gym's validation and schema; raas gets the agent's bytes."""
        answer: RaasVerifyResponse = RaasVerifyResponse.model_validate_json(
            await self.forward(await request.body())
        )
        return answer

    async def forward(self, raw: bytes) -> bytes:
        """raas's answer to ``raw``, after the retries the module docstring lists."""
        url = f"{self.config.raas_url.rstrip('/')}/verify"
        headers = {"Content-Type": "application/json"}
        if self.config.raas_api_key:
            headers["Authorization"] = f"Bearer {self.config.raas_api_key}"
        retry, give_up = 0, None
        while True:
            left = None if give_up is None else give_up - monotonic()
            last = left is not None and left <= 0
            response: ClientResponse | None = None
            try:
                async with self._slots:
                    # one try here: the retries are this loop's, bounded and spaced
                    response = await gym_request(
                        "POST", url, data=raw, headers=headers, _max_connection_retries=1
                    )
                    content: bytes = await response.read()
            except (ClientConnectionError, TimeoutError) as error:
                if last:
                    raise HTTPException(502, detail=f"raas at {url}: {error!r}") from error
                response = None
            else:
                if response.status == 200:
                    return content
                if last or response.status not in RETRY_STATUSES:
                    raise refused(response.status, content)
            give_up = give_up or monotonic() + self.config.retry_budget_s
            await asyncio.sleep(max(0.0, min(backoff(retry, response), give_up - monotonic())))
            retry += 1


if __name__ == "__main__":
    RaasResourcesServer.run_webserver()
elif is_nemo_gym_fastapi_entrypoint(__file__):  # a worker of num_workers > 1 imports this module
    app = RaasResourcesServer.run_webserver()
