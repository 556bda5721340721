"""NeMo Gym 0.7.0's own agent and client against a live raas, in the nemo_gym environment.

The job's config (argv: a JSON job holding it), whose resources-server entry is raas itself, is
loaded with OmegaConf, its ``raas`` entry pointed at the live server, and given the agent's own
address and a policy model. NeMo Gym's ``SimpleAgent`` is served (uvicorn) with a
``ServerClient`` on that config, as NeMo Gym's launcher would run it; a canned policy answers
``/v1/responses`` with the job's outputs (a stand-in for the model, not for raas). Each row is
``POST /run`` to the agent — which seeds raas (``/seed_session``), calls the policy, executes
tool calls, and posts the flat verify body to raas (``/verify``) — and the agent's answer is
validated with NeMo Gym's ``BaseMultiRewardVerifyResponse``. Then an environment server's
session (``single_agent_turn``'s calls: seed with ``ResourcesSeedSessionRequest``, verify with the
session cookie, close) and a verify under ``observability_enabled``'s ``/ng-rollout`` prefix.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any
from urllib.parse import urlsplit

from _serving import bound_socket, free_port, serve
from fastapi import FastAPI, Request
from nemo_gym.base_resources_server import (
    BaseMultiRewardVerifyResponse,
    ResourcesCloseSessionRequest,
    ResourcesCloseSessionResponse,
    ResourcesSeedSessionRequest,
    ResourcesSeedSessionResponse,
)
from nemo_gym.episode_types import EpisodeId, TaskId
from nemo_gym.openai_utils import NeMoGymResponse
from nemo_gym.server_utils import (
    BaseServerConfig,
    GlobalAIOHTTPAsyncClientConfig,
    ServerClient,
    get_response_json,
    raise_for_status,
    set_global_aiohttp_client,
)
from nemo_gym.single_agent_turn_types import SingleAgentTurnResult
from omegaconf import OmegaConf
from responses_api_agents.simple_agent.app import SimpleAgent, SimpleAgentConfig

AGENT = "math_simple_agent"


def prompt_of(items: list[dict[str, Any]]) -> str:
    first = items[0]["content"]
    return first if isinstance(first, str) else str(first[0]["text"])


def policy(outputs: dict[str, list[list[dict[str, Any]]]]) -> FastAPI:
    """Canned turns per prompt: turn n after n tool results."""
    app = FastAPI()

    @app.post("/{path:path}")
    async def responses(request: Request) -> dict[str, Any]:
        body = await request.json()
        items = body["input"]
        prompt = prompt_of(items)
        turn = sum(1 for item in items if item.get("type") == "function_call_output")
        return {
            "id": f"resp_{turn}",
            "created_at": 0.0,
            "model": "policy",
            "object": "response",
            "output": outputs[prompt][turn],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
        }

    return app


def configured(job: dict[str, Any], agent_port: int, model_port: int) -> Any:
    config = OmegaConf.create(job["config"])
    live = urlsplit(job["url"])
    raas = config.raas.resources_servers.raas
    raas.host = (
        f"{live.username}:{live.password}@{live.hostname}" if live.password else live.hostname
    )
    raas.port = live.port
    agent = config[AGENT].responses_api_agents.simple_agent
    agent.host, agent.port = "127.0.0.1", agent_port
    config.policy_model = {
        "responses_api_models": {"canned": {"host": "127.0.0.1", "port": model_port}}
    }
    return config


async def post(client: ServerClient, server: str, path: str, body: Any, **kw: Any) -> Any:
    response = await client.post(server_name=server, url_path=path, json=body, **kw)
    await raise_for_status(response)
    return response, await get_response_json(response)


async def session(client: ServerClient, row: dict[str, Any], output: list[Any]) -> dict[str, Any]:
    """An environment server's calls (environment_servers/single_agent_turn)."""
    episode = EpisodeId(rollout_id="rollout-1")
    seed = ResourcesSeedSessionRequest(
        resources_session_id="resources-session-1",
        episode_id=episode,
        task_id=TaskId(taskset="raas:test", task_id="task-1"),
        task_data=row,
    )
    seeded, answer = await post(client, "raas", "/seed_session", seed.model_dump(mode="json"))
    cookies = {name: morsel.value for name, morsel in seeded.cookies.items()}
    assert cookies, "a seed without a session cookie is refused by single_agent_turn"
    ResourcesSeedSessionResponse.model_validate(answer)
    response = NeMoGymResponse.model_validate(
        {
            "id": "r",
            "created_at": 0.0,
            "model": "policy",
            "object": "response",
            "output": output,
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
        }
    )
    body = row | {"response": response.model_dump(mode="json")}
    _, verified = await post(client, "raas", "/verify", body, cookies=cookies)
    result = SingleAgentTurnResult.model_validate(verified)
    close = ResourcesCloseSessionRequest(
        resources_session_id="resources-session-1", episode_id=episode
    )
    _, closed = await post(client, "raas", "/close_session", close.model_dump(mode="json"))
    ResourcesCloseSessionResponse.model_validate(closed)
    return {"reward": result.reward, "mask_sample": result.mask_sample}


async def main(job: dict[str, Any]) -> dict[str, Any]:
    agent_socket, model_socket = bound_socket(), bound_socket()
    agent_port, model_port = agent_socket.getsockname()[1], model_socket.getsockname()[1]
    config = configured(job, agent_port, model_port)
    set_global_aiohttp_client(GlobalAIOHTTPAsyncClientConfig())
    client = ServerClient(
        head_server_config=BaseServerConfig(host="127.0.0.1", port=free_port()),
        global_config_dict=config,
    )
    entry = OmegaConf.to_container(config[AGENT].responses_api_agents.simple_agent)
    agent = SimpleAgent(config=SimpleAgentConfig(name=AGENT, **entry), server_client=client)
    servers = [
        (await serve(policy(job["outputs"]), model_socket))[:2],
        (await serve(agent.setup_webserver(), agent_socket))[:2],
    ]
    runs = []
    for row in job["rows"]:
        _, answer = await post(client, AGENT, "/run", row)
        checked = BaseMultiRewardVerifyResponse.model_validate(answer)
        runs.append(
            {key: answer.get(key) for key in job["report"]}
            | {
                "reward": checked.reward,
                "reward_components": checked.reward_components,
            }
        )
    row = job["rows"][job["session_row"]]
    turns = job["outputs"][prompt_of(row["responses_create_params"]["input"])]
    report = {"runs": runs, "session": await session(client, row, turns[0])}
    config.observability_enabled = True
    observed = job["rows"][0] | {"_ng_rollout_id": "rollout-7", "response": runs[0]["response"]}
    _, answer = await post(client, "raas", "/verify", observed)
    report["observed"] = BaseMultiRewardVerifyResponse.model_validate(answer).reward
    for server, task in servers:
        server.should_exit = True
        await task
    return report


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))), flush=True)  # noqa: T201
