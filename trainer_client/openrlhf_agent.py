"""raas as OpenRLHF's agent function: episodes whose final turn raas scores.

OpenRLHF 0.11.2 loads the file given as ``--train.agent_func_path`` in each vLLM engine actor
(``openrlhf/trainer/ray/vllm_engine.py``, ``_load_agent_executor``), takes its ``AgentExecutor``
class and runs every prompt as an episode (``openrlhf/utils/agent.py``,
``MultiTurnAgentExecutor``): the policy acts, the agent instance's ``step`` answers with a
reward, feedback and whether the episode is done, until it is done or ``--data.max_len`` is
used up. The episode's reward is the sum of its steps' rewards, its score and ``extra_logs``
those of its last step. Only loaded inside OpenRLHF: this module imports it (and torch).

:class:`RaasAgentInstance` sends the final turn to raas: that turn's action is the response,
the episode's text before it (the prompt, earlier actions and feedback) the prompt, posted to
``/get_reward`` through :func:`trainer_client.openrlhf.reward_func` (the same environment
variables, ``RAAS_URL`` …, step counting and retries). Earlier turns get reward 0 and
:data:`~trainer_client.openrlhf.UNSCORED_LOGS`, so an episode cut off by the length budget
before its final turn is logged as unscored. Alone it is one turn::

    --train.agent_func_path /…/site-packages/trainer_client/openrlhf_agent.py

An environment with more turns subclasses it, answers in :meth:`RaasAgentInstance.environment`
and names its own ``AgentExecutor`` (see the README). A raas that cannot be reached raises from
``step`` after the client's retries: the rollout fails rather than train on a made-up reward.
"""

from __future__ import annotations

import asyncio
from typing import Any

import torch
from openrlhf.utils.agent import AgentInstanceBase, MultiTurnAgentExecutor

from trainer_client.openrlhf import UNSCORED_LOGS, reward_func


class RaasAgentInstance(AgentInstanceBase):  # type: ignore[misc]
    """One episode (OpenRLHF makes one per prompt); the final turn is scored by raas."""

    max_turns = 1
    """At this many turns the episode ends, whatever :meth:`environment` answers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.turns = 0

    async def environment(self, states: dict[str, Any]) -> str | None:
        """The environment's reply to this turn's action (``states["action_text"]``; also
        ``observation_text``, ``label``), or ``None`` when the episode ends with it."""
        return None

    async def step(self, states: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        self.turns += 1
        feedback = await self.environment(states) if self.turns < self.max_turns else None
        if feedback is not None:
            return {
                "rewards": torch.tensor(0.0),
                "scores": torch.tensor(0.0),
                "environment_feedback": feedback,
                "done": False,
                "extra_logs": dict(UNSCORED_LOGS),
            }
        prompt = states["observation_text"]
        answer = await asyncio.to_thread(
            reward_func, [prompt + states["action_text"]], [prompt], [states["label"]]
        )
        return {
            "rewards": torch.tensor(answer["rewards"][0]),
            "scores": torch.tensor(answer["scores"][0]),
            "environment_feedback": "",
            "done": True,
            "extra_logs": {key: values[0] for key, values in answer["extra_logs"].items()},
        }


class AgentExecutor(MultiTurnAgentExecutor):  # type: ignore[misc]
    """What ``--train.agent_func_path`` loads: one-turn episodes of :class:`RaasAgentInstance`."""

    def __init__(self) -> None:
        super().__init__(RaasAgentInstance)
