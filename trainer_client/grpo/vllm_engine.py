"""raas-train's side of vLLM: the versions it supports, the engine it asks for, and how new
weights reach that engine.

Supported: vLLM ``VLLM_SUPPORTED`` (``pip install "raas-client[train,vllm]"``), the range whose
lowest and highest releases ``tests/trainers/test_vllm.py`` checks against the real package.
Every release in it has vLLM's public weight-transfer API, which raas-train uses: the engine is
made with ``weight_transfer_config={"backend": "ipc"}`` and the trainer drives it through vLLM's
own trainer-side engine (``WeightTransferTrainerFactory.trainer_init`` with ``IPCTrainerInitInfo``
and ``ModuleSource``, then ``send_weights()`` per update), which hands the engine CUDA IPC
handles of the trainer's parameters: no copy on the trainer side, no NCCL group. CUDA cannot open
an IPC handle in the process that exported it, so on this path the engine runs in a process of
its own (vLLM's default), on the same GPU.

A vLLM without that API (older than 0.27) gets the internal path TRL 1.16's colocate mode uses:
the engine in this process (``external_launcher``) and ``load_weights`` on its model object.
Which path a run takes is decided by what the installed vLLM has, not by its version string,
and logged when the engine starts.
"""

from __future__ import annotations

import base64
import dataclasses
import importlib
import logging
import os
import pickle
import socket
from typing import Any, Protocol

from trainer_client.grpo.config import GRPOConfig

logger = logging.getLogger("raas-train")

VLLM_SUPPORTED = ">=0.27,<0.35"  # = the `vllm` extra of clients/python/pyproject.toml
LLM_METHODS = (
    "init_weight_transfer_engine",
    "start_weight_update",
    "update_weights",
    "finish_weight_update",
)
TRAINER_SIDE = (
    ("vllm.distributed.weight_transfer", "WeightTransferTrainerFactory"),
    ("vllm.distributed.weight_transfer", "ModuleSource"),
    ("vllm.distributed.weight_transfer.ipc_engine", "IPCTrainerInitInfo"),
)


def missing_weight_transfer_api() -> list[str]:
    """What of the public weight-transfer API the installed vLLM lacks; empty: it has it all."""
    from vllm import LLM
    from vllm.engine.arg_utils import EngineArgs

    missing = [f"LLM.{name}" for name in LLM_METHODS if not callable(getattr(LLM, name, None))]
    if "weight_transfer_config" not in {spec.name for spec in dataclasses.fields(EngineArgs)}:
        missing.append("EngineArgs.weight_transfer_config")
    for module, name in TRAINER_SIDE:
        try:
            found = hasattr(importlib.import_module(module), name)
        except ImportError:
            found = False
        if not found:
            missing.append(f"{module}.{name}")
    return missing


def engine_args(
    config: GRPOConfig,
    *,
    max_prompt_tokens: int,
    dtype: str,
    public: bool,
    images_per_prompt: int = 0,
) -> dict[str, Any]:
    """The keyword arguments of vLLM's ``LLM`` for a colocated raas-train run;
    ``images_per_prompt`` > 0: a vision-language policy's, rows with up to that many images."""
    args: dict[str, Any] = {
        "model": config.model,
        "dtype": dtype,  # sample in the precision the policy is trained in
        "seed": config.seed,
        "gpu_memory_utilization": config.vllm_gpu_memory_utilization,  # the trainer shares the GPU
        # the KV cache and the scheduler sized for this run's longest sequence (prompt +
        # completion), not the model's whole context, which may not fit the share above at all
        "max_model_len": max_prompt_tokens + config.max_new_tokens,
        "enable_prefix_caching": True,  # the G rollouts of a prompt share its prefix
    }
    if images_per_prompt:  # vLLM sizes its encoder cache for this many (999 by default)
        args["limit_mm_per_prompt"] = {"image": images_per_prompt}
    if public:
        args["weight_transfer_config"] = {"backend": "ipc"}  # same GPU, separate process
    else:
        args["distributed_executor_backend"] = "external_launcher"  # in this process
    return args


def portable_update(update_info: dict[str, Any]) -> dict[str, Any]:
    """``update_info`` with its CUDA IPC handles pickled (``ipc_handles_pickled``): they hold
    classes and dtypes that the engine process's msgpack transport does not carry. This is the
    form vLLM's HTTP client sends; the engine unpickles it only with
    ``VLLM_ALLOW_INSECURE_SERIALIZATION=1``, which :class:`VLLMGenerator` sets for its engine."""
    handles = update_info.get("ipc_handles")
    if handles is None:
        return update_info
    portable = {key: value for key, value in update_info.items() if key != "ipc_handles"}
    portable["ipc_handles_pickled"] = base64.b64encode(pickle.dumps(handles)).decode("ascii")
    return portable


class LLMClient:
    """vLLM's ``VLLMWeightSyncClient`` protocol over an ``LLM`` object of this process.

    vLLM ships clients for an HTTP server and for Ray actors only; ``LLM``'s own methods take
    requests (``{"init_info": …}``, ``{"update_info": …}``) where the protocol passes the infos."""

    def __init__(self, llm: Any) -> None:
        self.llm = llm

    def init_weight_transfer_engine(self, init_info: dict[str, Any]) -> None:
        self.llm.init_weight_transfer_engine({"init_info": init_info})

    def start_weight_update(self) -> None:
        self.llm.start_weight_update()

    def update_weights(self, update_info: dict[str, Any] | list[dict[str, Any]]) -> None:
        if isinstance(update_info, list):  # one per engine rank (data parallel)
            self.llm.update_weights({"update_info": [portable_update(i) for i in update_info]})
        else:
            self.llm.update_weights({"update_info": portable_update(update_info)})

    def finish_weight_update(self, weight_version: str | None = None) -> None:
        self.llm.finish_weight_update(weight_version)


class WeightSync(Protocol):
    def push(self, model: Any) -> None:
        """Make the engine's weights ``model``'s current ones."""


class PublicWeightSync:
    """vLLM's weight-transfer API: its trainer-side IPC engine, built on the first push."""

    def __init__(self, llm: Any) -> None:
        self.llm = llm
        self.engine: Any = None
        self.model: Any = None

    def push(self, model: Any) -> None:
        if self.engine is None or model is not self.model:
            from vllm.distributed.weight_transfer import ModuleSource, WeightTransferTrainerFactory
            from vllm.distributed.weight_transfer.ipc_engine import IPCTrainerInitInfo

            self.engine = WeightTransferTrainerFactory.trainer_init(
                # unpacked: each parameter is shared where it lies, no staging buffer on a GPU
                # the trainer already shares with the engine
                IPCTrainerInitInfo(rank=0, packed=False),
                client=LLMClient(self.llm),
                source=ModuleSource(model),
            )
            self.model = model
        self.engine.send_weights()  # start, update (the handles), finish: one call


class InternalWeightSync:
    """The fallback: ``load_weights`` on the model inside an in-process engine. This is the
    attribute path TRL 1.16's colocate mode uses (``trl/generation/vllm_generation.py``), the
    one place raas-train would depend on vLLM's internals."""

    def __init__(self, llm: Any) -> None:
        self.llm = llm

    def push(self, model: Any) -> None:
        engine_model = self.llm.llm_engine.model_executor.driver_worker.model_runner.model
        for name, param in model.named_parameters():
            engine_model.load_weights([(name, param.data)])


def prepare(public: bool) -> None:
    """The process environment each path's engine needs, set before it starts."""
    if public:
        # the engine in a process of its own (vLLM's default, kept whatever the environment
        # says): CUDA cannot open an IPC handle in the process that exported it
        os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "1"
        # the engine process unpickles the IPC handles only with this (see portable_update);
        # the pickles come from this process, over the engine's local socket
        os.environ["VLLM_ALLOW_INSECURE_SERIALIZATION"] = "1"
        return
    for key, value in (("RANK", "0"), ("LOCAL_RANK", "0"), ("WORLD_SIZE", "1")):
        os.environ.setdefault(key, value)
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", str(_free_port()))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def choose_path() -> bool:
    """True for the public weight-transfer API, False for the internal fallback; logged."""
    import vllm

    installed, missing = vllm.__version__, missing_weight_transfer_api()
    if not missing:
        logger.info(
            "vLLM %s: weights reach the engine through vLLM's weight-transfer API (CUDA IPC; "
            "the engine runs in its own process on the same GPU)",
            installed,
        )
        return True
    logger.warning(
        "vLLM %s lacks the weight-transfer API raas-train uses (%s): falling back to the engine's "
        "internal model object (an in-process engine, TRL's colocate path); raas-train supports "
        "vLLM %s",
        installed,
        ", ".join(missing),
        VLLM_SUPPORTED,
    )
    return False
