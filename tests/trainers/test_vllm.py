"""raas-train's vLLM path against the lowest and the highest vLLM of its declared range (the
``vllm`` extra of clients/python), each installed in an environment of its own.

vLLM cannot start an engine without a GPU, so the driver (``drivers/vllm_api.py``) checks on
the real release everything raas-train does with vLLM short of that; these tests judge what it
found. Starting the engine, generating and the CUDA IPC transfer itself run on a GPU only.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest

from devtools.toy import save_toy
from devtools.trainer_envs import RECIPES
from tests.trainers.conftest import run_driver
from tests.trainers.readme import readme_block

ENVIRONMENTS = sorted(name for name in RECIPES if name.startswith("vllm-"))
MAX_PROMPT, NEW_TOKENS = 40, 24  # the toy model's context is 256 positions
PARSED_UPDATE = ["a.weight", "b.weight"]  # the names the driver's update carries


def readme_argv() -> list[str]:
    """The README's vLLM command as raas-train's CLI receives it."""
    words = shlex.split(readme_block("raas-train-vllm").replace("\\\n", " "))
    assert words[0] == "raas-train"
    return words[1:]


@pytest.fixture(scope="module")
def toy_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_toy(tmp_path_factory.mktemp("toy") / "model")


@pytest.fixture(scope="module", params=ENVIRONMENTS)
def found(request: pytest.FixtureRequest, toy_model: Path) -> dict[str, Any]:
    args = (str(toy_model), str(MAX_PROMPT), str(NEW_TOKENS), json.dumps(readme_argv()))
    findings = run_driver(request.param, "vllm_api.py", *args)
    (pin,) = [p for p in RECIPES[request.param].no_deps if p.startswith("vllm==")]
    assert findings["vllm"] == pin.removeprefix("vllm==")  # the release the environment pins
    return findings


pytestmark = pytest.mark.slow


def test_raas_train_picks_the_public_weight_transfer_api_and_says_so(
    found: dict[str, Any],
) -> None:
    choice = found["choice"]
    assert choice["missing"] == []
    assert choice["public"] is True
    ((level, message),) = choice["log"]
    assert level == "INFO"
    assert message.startswith(f"vLLM {found['vllm']}: weights reach the engine through vLLM's")


def test_the_engine_arguments_are_vllms_and_size_the_context(found: dict[str, Any]) -> None:
    """Each path's arguments are ``LLM``/``EngineArgs`` keywords, and vLLM's own model config
    takes ``max_model_len`` = prompt budget + completion tokens from them; a bound past the
    model's context is refused by vLLM, so the number is one vLLM acts on."""
    public, internal = found["engine_args"]["public"], found["engine_args"]["internal"]
    for path in (public, internal):
        assert path["unknown"] == []
        assert path["max_model_len"] == MAX_PROMPT + NEW_TOKENS
    assert (public["backend"], public["executor"]) == ("ipc", None)  # its own process
    assert (internal["backend"], internal["executor"]) == (None, "external_launcher")
    assert found["engine_args"]["too_long"] is not None


def test_the_readme_command_becomes_these_engine_arguments(found: dict[str, Any]) -> None:
    assert found["readme"] == {
        "rollout": "vllm",
        "max_model_len": 1024 + 2048,
        "gpu_memory_utilization": 0.3,
        "backend": "ipc",
    }


def test_sampling_and_outputs_as_raas_train_uses_them(found: dict[str, Any]) -> None:
    generation = found["generation"]
    assert generation["params"] == [4, 0.7, 0.9, 24, 1]  # n set on a clone, not the template
    assert generation["request"] == {"prompt_token_ids": [1, 2, 3]}
    assert generation["generate_binds"] is True
    assert generation["reset_binds"] is True
    assert generation["completion_fields"] == ["finish_reason", "text", "token_ids"]
    assert generation["request_outputs"] == ["outputs", "prompt_token_ids"]
    assert generation["image_request_keys"] == ["multi_modal_data", "prompt_token_ids"]
    assert generation["image_limit"] is True


def test_weights_reach_the_worker_through_llms_own_methods(found: dict[str, Any]) -> None:
    """raas-train's client, driven as vLLM's trainer-side IPC engine drives it, through the
    real ``LLM`` methods: the calls bind to the real ``Worker`` methods, and the update (handles
    pickled for the engine process) is one vLLM's IPC engine parses back to the same handles."""
    client = found["client"]
    assert client["protocol"] is True  # vLLM's VLLMWeightSyncClient, structurally
    assert client["rpcs"] == [
        "init_weight_transfer_engine",
        "start_weight_update",
        "update_weights",
        "finish_weight_update",
    ]
    assert client["worker_binds"] == [True] * 4
    assert client["packed"] is False
    assert client["names"] == PARSED_UPDATE
    assert client["handles_survive"] is True


def test_vllms_trainer_side_engine_takes_raas_trains_pieces(found: dict[str, Any]) -> None:
    """``WeightTransferTrainerFactory.trainer_init`` runs for real with raas-train's init info,
    client and ``ModuleSource``: it picks the IPC engine and accepts the source, and stops only
    where that engine reads the GPU's identity (no GPU here)."""
    side = found["trainer_side"]
    assert (side["backend"], side["sender"]) == ("ipc", True)
    assert side["source_names"] is True  # every parameter declared, in the model's order …
    assert side["source_tensors"] is True  # … and sent
    assert side["trainer_init"] == ["RuntimeError", "ipc_engine.py", "__init__"]


def test_the_internal_fallback_path_is_in_vllms_source(found: dict[str, Any]) -> None:
    """``llm.llm_engine.model_executor.driver_worker.model_runner.model.load_weights``: each
    link assigned where raas-train (and TRL's colocate mode) expects it."""
    assert found["fallback"] == dict.fromkeys(
        (
            "llm_engine",
            "model_executor",
            "driver_worker",
            "worker",
            "model_runner",
            "model",
            "load_weights",
        ),
        True,
    )
