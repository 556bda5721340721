"""raas as OpenRLHF's Python-file reward function, which sends the training step.

OpenRLHF 0.11.2's HTTP reward call posts ``{"query", "prompts", "labels"}`` and nothing else —
no step, no episode (``openrlhf/utils/agent.py``, ``SingleTurnAgentExecutor``) — so over
``--reward.remote_url http://raas:8000/get_reward`` a schedule (detection's dynamic IoU
threshold) stays at its first value. Given a ``.py`` path instead, OpenRLHF loads the file
(``spec_from_file_location("reward_func", path)``, not in ``sys.modules``) in each vLLM engine
actor and calls ``reward_func(queries, prompts, labels)`` in a thread, one sample per call,
taking ``rewards``, ``scores`` and ``extra_logs`` from what it returns. This file is that
function:

    --reward.remote_url /…/site-packages/trainer_client/openrlhf.py

It counts the samples its process has scored (:mod:`trainer_client.progress`) and posts them to
raas's ``/get_reward`` with ``step`` and ``total_steps``, so the translation (the prompt found
in the decoded query, ``RAAS_OPENRLHF_*`` verifier and format, labels carrying their own spec,
the same ``extra_logs`` keys for every sample) stays on the server. Set in the trainer's
environment (``ray job submit --runtime-env-json '{"env_vars": …}'``):

- ``RAAS_URL`` (default ``http://127.0.0.1:8000``) and ``RAAS_API_KEY`` when raas asks for one;
- ``RAAS_TOTAL_STEPS``: the run's training steps (without it no step is sent);
- ``RAAS_SAMPLES_PER_STEP``: samples *one engine* scores per step, ``--rollout.batch_size ×
  --rollout.n_samples_per_prompt ÷ --vllm.num_engines`` (OpenRLHF spreads prompts over the
  engines by their pending load, so the split is even to within a group);
- ``RAAS_START_STEP`` when resuming.

The count is an estimate of the step: OpenRLHF does not tell evaluation samples or dynamic
filtering's replacement prompts apart from training ones, and both move the count ahead.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import httpx

from trainer_client.client import auth_header
from trainer_client.progress import StepCounter, counter_for
from trainer_client.retry import RETRY_ERRORS, Retrying, RetryPolicy


def _env_int(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    return int(value) if value else None


class OpenRLHFReward:
    """``reward_func`` for one raas: posts to ``/get_reward`` with the counted step. (A plain
    class: OpenRLHF runs this file as a module missing from ``sys.modules``, where a dataclass
    cannot resolve its annotations.)"""

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        total_steps: int | None = None,
        samples_per_step: int | None = None,
        start_step: int = 0,
        retry: RetryPolicy | None = None,
        timeout_s: float = 180.0,  # OpenRLHF's own for its HTTP reward call
    ) -> None:
        if total_steps is not None and samples_per_step is None:
            raise ValueError(
                "RAAS_TOTAL_STEPS needs RAAS_SAMPLES_PER_STEP: OpenRLHF scores one sample per "
                "call (rollout_batch_size × n_samples_per_prompt ÷ vllm_num_engines)"
            )
        self.url, self.total_steps = url, total_steps
        self.samples_per_step, self.start_step = samples_per_step, start_step
        self.retry = retry or RetryPolicy()
        self._http = httpx.Client(timeout=timeout_s, headers=auth_header(api_key))

    def close(self) -> None:
        self._http.close()

    def counter(self) -> StepCounter:
        key = ("openrlhf", self.url, self.total_steps)
        return counter_for(key, self.samples_per_step, self.start_step)

    def body(
        self, queries: Sequence[str], prompts: Sequence[str], labels: Sequence[Any]
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "query": list(queries),
            "prompts": list(prompts),
            "labels": list(labels),
        }
        if self.total_steps is not None:
            body["step"] = self.counter().step(len(body["query"]))
            body["total_steps"] = self.total_steps
        return body

    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """``/get_reward``'s answer; connection errors, timeouts, 429 and 50x are retried for
        the policy's budget (:mod:`trainer_client.retry`)."""
        target = self.url.rstrip("/") + "/get_reward"
        retrying = Retrying(self.retry)
        while True:
            try:
                response = self._http.post(target, json=body)
            except RETRY_ERRORS:
                if (wait := retrying.next_wait()) is None:
                    raise
                time.sleep(wait)
                continue
            retryable = response.status_code in self.retry.retry_statuses
            if retryable and (wait := retrying.next_wait(response)) is not None:
                time.sleep(wait)
                continue
            response.raise_for_status()
            answer: dict[str, Any] = response.json()
            return answer

    def __call__(
        self, queries: Sequence[str], prompts: Sequence[str], labels: Sequence[Any]
    ) -> dict[str, Any]:
        return self.post(self.body(queries, prompts, labels))

    @classmethod
    def from_env(cls) -> OpenRLHFReward:
        return cls(
            os.environ.get("RAAS_URL", "http://127.0.0.1:8000"),
            os.environ.get("RAAS_API_KEY"),
            _env_int("RAAS_TOTAL_STEPS"),
            _env_int("RAAS_SAMPLES_PER_STEP"),
            _env_int("RAAS_START_STEP") or 0,
        )


UNSCORED_LOGS = {"accuracy": 0.0, "format": 0.0, "raas_unscored": 1.0, "raas_no_format": 1.0}
"""``/get_reward``'s ``extra_logs`` for a sample raas did not score (its keys are the same for
every sample, as OpenRLHF's experience batching needs): what the agent gives a turn it does not
send to raas."""

_rewards: dict[tuple[int, tuple[str | None, ...]], OpenRLHFReward] = {}
_ENV = ("RAAS_URL", "RAAS_API_KEY", "RAAS_TOTAL_STEPS", "RAAS_SAMPLES_PER_STEP", "RAAS_START_STEP")


def reward_func(
    queries: Sequence[str], prompts: Sequence[str], labels: Sequence[Any], **_: Any
) -> dict[str, Any]:
    """OpenRLHF's ``reward_func(queries, prompts, labels, **kwargs)``: ``{"rewards", "scores",
    "extra_logs"}`` (lists, one value per query) as ``/get_reward`` answers, configured from the
    environment. Keyword arguments a later OpenRLHF may pass are ignored."""
    key = (os.getpid(), tuple(os.environ.get(name) for name in _ENV))
    if key not in _rewards:
        _rewards[key] = OpenRLHFReward.from_env()
    return _rewards[key](queries, prompts, labels)
