"""NeMo Gym 0.7.0's launcher and rollout collection with raas's resources server, as NeMo RL's
NemoGym actor runs them (``nemo_rl/environments/nemo_gym.py``: ``_spinup``, ``run_rollouts``),
in the nemo_gym environment.

The job (argv, JSON) holds the README's NeMo RL config. Its ``env.nemo_gym`` is given to NeMo
Gym's ``RunHelper.start`` as ``initial_global_config_dict`` with what NeMo RL's actor adds (the
policy's name, key and base URLs, the head server's address, the Ray cluster it started) and two
settings of NeMo Gym's own: ``skip_venv_if_present`` with ``uv_venv_dir``, where each server's
``.venv`` is this environment (NeMo Gym would otherwise build one with uv, which needs Python ≥
3.13.14 and the network). ``raas_url`` is pointed at the live server and raas's server given two
workers (``num_workers``: uvicorn imports ``app.py`` in each); ``RAAS_API_KEY`` comes from the
environment, as the shipped config reads it. ``RunHelper`` then does all of
``gym env start``: parses and validates the config, starts Ray, the head server and each server
(``resources_servers/raas/app.py`` found under ``NEMO_GYM_EXTRA_ROOTS``, the simple agent, the
legacy environment server, ``vllm_model``) as the subprocesses its launch command starts, and
waits until they and the model endpoint answer. A canned vLLM stand-in answers
``/v1/chat/completions`` with the job's turns (reasoning in ``reasoning_content``, tool calls,
token ids as vLLM returns them): a stand-in for the policy, not for raas.

NeMo Gym's ``RolloutCollectionHelper.run_examples`` then runs the rows (``agent_ref`` naming the
agent) through the environment server and agent to ``/verify``; then the rows that must fail,
one by one. First, the config the README used to give (raas's own host and port, no
``entrypoint``) goes through NeMo Gym's config parser, which refuses it.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn
from _serving import bound_socket, free_port
from fastapi import FastAPI, Request

PROMPT_IDS = [101, 102, 103]
# each wait gives up well before the test kills this process, so that NeMo Gym's shutdown runs
# (a killed driver would leave the servers it started running)
GIVE_UP_S = 200


def chat_completion(turn: dict[str, Any]) -> dict[str, Any]:
    """One vLLM answer (``--enable-reasoning``, logprobs and token ids requested)."""
    message: dict[str, Any] = {"role": "assistant", "content": turn.get("content")}
    if turn.get("reasoning"):
        message["reasoning_content"] = turn["reasoning"]
    if turn.get("tool_calls"):
        message["tool_calls"] = turn["tool_calls"]
    generated = [200 + i for i in range(3)]
    logprobs = [
        {"token": f"token_id:{t}", "logprob": -0.5, "bytes": None, "top_logprobs": []}
        for t in generated
    ]
    choice = {
        "index": 0,
        "message": message,
        "token_ids": generated,
        "logprobs": {"content": logprobs},
        "finish_reason": "tool_calls" if turn.get("tool_calls") else "stop",
    }
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "policy",
        "choices": [choice],
        "prompt_token_ids": PROMPT_IDS,
        "usage": {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6},
    }


def prompt_of(messages: list[dict[str, Any]]) -> str:
    content = next(m["content"] for m in messages if m["role"] == "user")
    return (
        content
        if isinstance(content, str)
        else next(p["text"] for p in content if p["type"] == "text")
    )


def policy(turns: dict[str, list[dict[str, Any]]]) -> FastAPI:
    """The vLLM stand-in: turn n of a prompt after n tool results."""
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def completions(request: Request) -> dict[str, Any]:
        messages = (await request.json())["messages"]
        turn = sum(1 for m in messages if m["role"] == "tool")
        return chat_completion(turns[prompt_of(messages)][turn])

    return app


def serve_in_thread(app: FastAPI, sock: socket.socket) -> uvicorn.Server:
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the vLLM stand-in did not start")
        time.sleep(0.05)
    return server


def refusal(config: dict[str, Any]) -> str:
    """NeMo Gym's config parser (without starting anything) on ``config``: its error, or ``""``."""
    from nemo_gym.config_types import ConfigError
    from nemo_gym.global_config import GlobalConfigDictParser, GlobalConfigDictParserConfig
    from omegaconf import OmegaConf

    parsed = GlobalConfigDictParserConfig(
        initial_global_config_dict=OmegaConf.create(config | NEMO_RL_POLICY),
        skip_load_from_cli=True,
        offline=True,
    )
    try:
        GlobalConfigDictParser().parse(parsed)
    except ConfigError as error:
        return f"{type(error).__name__}: {error}"
    return ""


def refusals(job: dict[str, Any]) -> dict[str, str]:
    """The config the README used to give, and the README's without its raas_url."""
    import yaml

    old = yaml.safe_load(job["old_config"]) | {"config_paths": [job["model_config"]]}
    readme = yaml.safe_load(job["readme_config"])["env"]["nemo_gym"]
    del readme["raas"]["resources_servers"]["raas"]["raas_url"]
    return {"old_config": refusal(old), "without_raas_url": refusal(readme)}


# what NeMo RL's actor sets before RunHelper.start (policy_base_url: the URLs of its vLLM servers)
NEMO_RL_POLICY = {
    "policy_model_name": "policy",
    "policy_api_key": "dummy_key",
    "policy_base_url": [],
}


def venvs(root: Path, servers: list[list[str]]) -> Path:
    """``uv_venv_dir``: ``<type>/<name>/.venv`` of each server, this environment."""
    for server_type, name in servers:
        where = root / server_type / name
        where.mkdir(parents=True, exist_ok=True)
        (where / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    return root


def gym_config(job: dict[str, Any], work: Path, policy_url: str) -> Any:
    import ray
    from omegaconf import DictConfig, OmegaConf

    nemo_gym = OmegaConf.to_container(OmegaConf.create(job["readme_config"]).env.nemo_gym)
    assert isinstance(nemo_gym, dict)
    # raas's address here, and two worker processes (NeMo Gym's num_workers: its other start path)
    nemo_gym["raas"]["resources_servers"]["raas"] |= {"raas_url": job["url"], "num_workers": 2}
    head_port = free_port()
    nemo_gym |= NEMO_RL_POLICY | {
        "policy_base_url": [policy_url],
        "default_host": "127.0.0.1",
        "head_server": {"host": "127.0.0.1", "port": head_port},
        "ray_head_node_address": ray.get_runtime_context().gcs_address,
        "skip_venv_if_present": True,
        "uv_venv_dir": str(venvs(work / "venvs", job["servers"])),
        "server_spinup_timeout_seconds": GIVE_UP_S,
        "model_endpoint_readiness_timeout_seconds": GIVE_UP_S,
    }
    return DictConfig(nemo_gym), head_port


async def collect(rows: list[dict[str, Any]], head_port: int) -> list[dict[str, Any]]:
    from nemo_gym.rollout_collection import RolloutCollectionHelper
    from nemo_gym.server_utils import BaseServerConfig

    head = BaseServerConfig(host="127.0.0.1", port=head_port)
    results = []
    for future in RolloutCollectionHelper().run_examples(examples=rows, head_server_config=head):
        _, result = await future
        results.append(result)
    return sorted(results, key=lambda result: result["case"])


async def rollouts(job: dict[str, Any], head_port: int) -> dict[str, Any]:
    """The rows, then each row that must fail, alone (one event loop: NeMo Gym's HTTP client is
    bound to the loop it was made in)."""
    report: dict[str, Any] = {"results": await collect(job["rows"], head_port), "refused": []}
    for row in job["refused_rows"]:
        try:
            await collect([row], head_port)
        except Exception as error:  # the row's rollout failed, as it must: what NeMo RL sees
            report["refused"].append(f"{error!r} {getattr(error, 'response_content', b'')!r}")
        else:
            report["refused"].append("")
    return report


def main(job: dict[str, Any]) -> dict[str, Any]:
    work = Path(job["workdir"])
    os.chdir(work)  # NeMo Gym keeps its cache and results under the working directory
    import ray
    from nemo_gym.cli.env import RunHelper
    from nemo_gym.global_config import GlobalConfigDictParserConfig, get_global_config_dict

    report: dict[str, Any] = {"refusals": refusals(job)}
    started = time.monotonic()
    ray.init()  # NeMo RL's cluster, which its actor hands to NeMo Gym
    policy_socket = bound_socket()
    policy_port = policy_socket.getsockname()[1]
    stand_in = serve_in_thread(policy(job["turns"]), policy_socket)
    config, head_port = gym_config(job, work, f"http://127.0.0.1:{policy_port}/v1")
    helper = RunHelper()
    helper.start(
        GlobalConfigDictParserConfig(initial_global_config_dict=config, skip_load_from_cli=True)
    )
    report["spinup_s"] = time.monotonic() - started
    try:
        resolved = get_global_config_dict()
        report["raas_entry"] = dict(resolved.raas.resources_servers.raas)
        report["servers"] = sorted(helper._processes)
        report |= asyncio.run(asyncio.wait_for(rollouts(job, head_port), GIVE_UP_S))
    finally:
        helper.shutdown()
        stand_in.should_exit = True
        ray.shutdown()
    report["raas_entry"]["raas_api_key"] = bool(report["raas_entry"]["raas_api_key"])
    return report


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))), flush=True)  # noqa: T201
