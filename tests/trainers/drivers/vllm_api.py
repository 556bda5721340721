"""raas-train's vLLM calls against a real vLLM release (run in ``.trainer-envs/vllm-*``).

vLLM cannot start an engine without a GPU, so this checks, on the installed release, everything
raas-train does with vLLM short of that:
- which weight path raas-train's own detection picks, and what it logs;
- that raas-train's engine arguments are ``LLM``/``EngineArgs`` keywords and that vLLM's model
  config derives the intended ``max_model_len`` from them (on the toy model given as argument),
  and what the README's command (given as JSON argv) becomes;
- ``SamplingParams``, ``TokensPrompt`` (with ``multi_modal_data`` for image prompts),
  ``limit_mm_per_prompt``, ``LLM.generate`` and the output fields as raas-train uses them;
- raas-train's ``LLMClient`` driven as vLLM's trainer-side IPC engine drives it, through vLLM's
  real ``LLM`` methods with the engine process replaced by a recorder: the calls that would reach
  the worker, bound to the real ``Worker`` methods, and the update parsed by vLLM's IPC engine;
- vLLM's trainer-side engine built as raas-train builds it, as far as it goes without a GPU;
- in vLLM's source, each link of the internal fallback's attribute path.
Prints one JSON object of findings; ``tests/trainers/test_vllm.py`` judges them.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import json
import logging
import sys
import textwrap
import traceback
from importlib.metadata import version
from pathlib import Path
from typing import Any


def binds(function: Any, *args: Any, **kwargs: Any) -> bool:
    try:
        inspect.signature(function).bind(*args, **kwargs)
    except TypeError:
        return False
    return True


def path_choice() -> dict[str, Any]:
    from trainer_client.grpo import vllm_engine

    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("raas-train")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)  # as raas-train's CLI logs
    public = vllm_engine.choose_path()
    return {
        "missing": vllm_engine.missing_weight_transfer_api(),
        "public": public,
        "log": [(r.levelname, r.getMessage()) for r in records],
    }


def engine_args(model_dir: str, max_prompt: int, new_tokens: int) -> dict[str, Any]:
    from vllm import LLM
    from vllm.engine.arg_utils import EngineArgs

    from trainer_client.grpo import vllm_engine
    from trainer_client.grpo.config import GRPOConfig

    config = GRPOConfig(model=model_dir, data="rows.jsonl", max_new_tokens=new_tokens)
    accepted = set(inspect.signature(LLM.__init__).parameters)
    accepted |= {spec.name for spec in dataclasses.fields(EngineArgs)}
    found: dict[str, Any] = {}
    for public in (True, False):
        args = vllm_engine.engine_args(
            config, max_prompt_tokens=max_prompt, dtype="float32", public=public
        )
        engine = EngineArgs(**args)
        transfer = engine.weight_transfer_config
        found["public" if public else "internal"] = {
            "unknown": sorted(set(args) - accepted),
            "max_model_len": engine.create_model_config().max_model_len,
            "backend": getattr(transfer, "backend", None),
            "executor": engine.distributed_executor_backend,
        }
    try:
        EngineArgs(**{**args, "max_model_len": 100_000}).create_model_config()
        found["too_long"] = None
    except Exception as error:  # vLLM validates the bound against the model
        found["too_long"] = type(error).__name__
    return found


def generation() -> dict[str, Any]:
    from vllm import LLM, SamplingParams
    from vllm.engine.arg_utils import EngineArgs
    from vllm.inputs import TokensPrompt
    from vllm.outputs import CompletionOutput, RequestOutput

    params = SamplingParams(temperature=0.7, top_p=0.9, max_tokens=24)
    clone = params.clone()
    clone.n = 4
    request = TokensPrompt(prompt_token_ids=[1, 2, 3])
    return {
        "params": [clone.n, clone.temperature, clone.top_p, clone.max_tokens, params.n],
        "request": dict(request),
        "generate_binds": binds(LLM.generate, None, [request], clone, use_tqdm=False),
        "reset_binds": binds(LLM.reset_prefix_cache, None),
        "completion_fields": sorted(
            {"token_ids", "text", "finish_reason"}
            & {spec.name for spec in dataclasses.fields(CompletionOutput)}
        ),
        "request_outputs": sorted(
            {"outputs", "prompt_token_ids"}
            & set(inspect.signature(RequestOutput.__init__).parameters)
        ),
        # a vision-language policy's request: unexpanded tokens and the decoded images
        "image_request_keys": sorted(
            {"prompt_token_ids", "multi_modal_data"} & set(TokensPrompt.__annotations__)
        ),
        "image_limit": "limit_mm_per_prompt" in {f.name for f in dataclasses.fields(EngineArgs)},
    }


class EngineRecorder:
    """Where ``LLM``'s weight-transfer methods send their calls: the engine process's RPC."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def collective_rpc(
        self, method: str, timeout: Any = None, args: Any = (), kwargs: Any = None
    ) -> list[Any]:
        self.calls.append((method, dict(kwargs or {})))
        return [None]


def client_chain() -> dict[str, Any]:
    from vllm import LLM
    from vllm.distributed.weight_transfer.base import VLLMWeightSyncClient
    from vllm.distributed.weight_transfer.ipc_engine import (
        IPCWeightTransferInitInfo,
        IPCWeightTransferUpdateInfo,
    )
    from vllm.v1.worker.gpu_worker import Worker

    from trainer_client.grpo import vllm_engine

    vllm_engine.prepare(public=True)
    llm = LLM.__new__(LLM)
    llm.llm_engine = recorder = EngineRecorder()
    client = vllm_engine.LLMClient(llm)
    handles = [{"GPU-uuid": ("rebuild", "args", 1)}, {"GPU-uuid": ("rebuild", "args", 2)}]
    client.init_weight_transfer_engine({"packed": False})  # what IPCTrainer.trainer_init sends
    client.start_weight_update()
    update = {
        "names": ["a.weight", "b.weight"],
        "dtype_names": ["bfloat16", "float32"],
        "shapes": [[2, 3], [4]],
        "ipc_handles": handles,
        "ipc_handles_pickled": None,
        "tensor_sizes": None,
    }
    client.update_weights(update)  # what IPCTrainer._do_send sends: asdict(update_info)
    client.finish_weight_update()
    calls = recorder.calls
    methods = [method for method, _ in calls]
    kwargs = dict(calls)
    init = IPCWeightTransferInitInfo(**kwargs["init_weight_transfer_engine"]["init_info"])
    parsed = IPCWeightTransferUpdateInfo(**kwargs["update_weights"]["update_info"])
    return {
        "protocol": isinstance(client, VLLMWeightSyncClient),
        "rpcs": methods,
        "worker_binds": [binds(getattr(Worker, m), None, **kw) for m, kw in calls],
        "packed": init.packed,
        "names": parsed.names,
        "handles_survive": parsed.ipc_handles == handles,
    }


def trainer_side(model_dir: str) -> dict[str, Any]:
    """vLLM's trainer-side engine as raas-train builds it. ``trainer_init`` runs for real: it
    resolves the backend and validates the source, then stops where the IPC engine first needs
    a CUDA device (it reads the GPU's UUID), which is where it is reported to have stopped."""
    import vllm
    from transformers import AutoModelForCausalLM
    from vllm.distributed.weight_transfer import ModuleSource, WeightTransferTrainerFactory
    from vllm.distributed.weight_transfer.ipc_engine import IPCTrainerInitInfo

    from trainer_client.grpo import vllm_engine

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    names = [name for name, _ in model.named_parameters()]
    info = IPCTrainerInitInfo(rank=0, packed=False)
    source = ModuleSource(model)
    metadata = source.metadata() if callable(source.metadata) else source.metadata  # 0.27: a method
    # what the installed IPC engine iterates: the source itself (0.27), or its iter_full() (0.34)
    sent = source.iter_full() if hasattr(source, "iter_full") else iter(source)
    try:
        WeightTransferTrainerFactory.trainer_init(
            info, client=vllm_engine.LLMClient(None), source=source
        )
        stopped = None
    except Exception as error:  # the deepest frame in vLLM's own code: where it stopped
        package = str(Path(vllm.__file__).parent)
        frames = traceback.extract_tb(error.__traceback__)
        frame = [f for f in frames if f.filename.startswith(package)][-1]
        stopped = [type(error).__name__, Path(frame.filename).name, frame.name]
    return {
        "backend": IPCTrainerInitInfo.backend,
        "sender": info.is_sender,
        "source_names": [meta.name for meta in metadata] == names,
        "source_tensors": [name for name, _ in sent] == names,
        "trainer_init": stopped,
    }


def assigns(owner: Any, attribute: str) -> bool:
    """Whether ``owner``'s source (a class or function) assigns ``self.<attribute>``."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(owner)))
    targets = [
        target
        for node in ast.walk(tree)
        for target in (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
    ]
    return any(
        isinstance(t, ast.Attribute)
        and t.attr == attribute
        and isinstance(t.value, ast.Name)
        and t.value.id == "self"
        for t in targets
    )


def fallback_chain() -> dict[str, Any]:
    """``llm.llm_engine.model_executor.driver_worker.model_runner.model.load_weights``."""
    from vllm import LLM
    from vllm.model_executor.models.llama import LlamaForCausalLM
    from vllm.v1.engine.llm_engine import LLMEngine
    from vllm.v1.executor.uniproc_executor import ExecutorWithExternalLauncher
    from vllm.v1.worker.gpu_worker import Worker
    from vllm.v1.worker.worker_base import WorkerWrapperBase

    runners = []
    for module in ("vllm.v1.worker.gpu_model_runner", "vllm.v1.worker.gpu.model_runner"):
        try:
            runners.append(importlib.import_module(module).GPUModelRunner)
        except ImportError:
            continue
    executors = [c for c in ExecutorWithExternalLauncher.__mro__ if "_init_executor" in vars(c)]
    return {
        "llm_engine": assigns(LLM, "llm_engine"),
        "model_executor": assigns(LLMEngine, "model_executor"),
        "driver_worker": any(assigns(c, "driver_worker") for c in executors),
        "worker": assigns(WorkerWrapperBase, "worker") and "__getattr__" in vars(WorkerWrapperBase),
        "model_runner": assigns(Worker, "model_runner"),
        "model": bool(runners) and all(assigns(runner, "model") for runner in runners),
        "load_weights": binds(LlamaForCausalLM.load_weights, None, [("name", None)]),
    }


def readme_command(argv: list[str]) -> dict[str, Any]:
    """The README's vLLM command, parsed by raas-train's own CLI, into vLLM's ``EngineArgs``."""
    from vllm.engine.arg_utils import EngineArgs

    from trainer_client.grpo import vllm_engine
    from trainer_client.grpo.cli import parse_config

    config = parse_config(argv)
    assert config.max_prompt_tokens is not None, "the README command sets --max-prompt-tokens"
    args = vllm_engine.engine_args(
        config, max_prompt_tokens=config.max_prompt_tokens, dtype="bfloat16", public=True
    )
    engine = EngineArgs(**args)
    return {
        "rollout": config.rollout,
        "max_model_len": engine.max_model_len,
        "gpu_memory_utilization": engine.gpu_memory_utilization,
        "backend": engine.weight_transfer_config.backend,
    }


def main() -> None:
    model_dir, max_prompt, new_tokens, command = sys.argv[1:]
    findings = {
        "vllm": version("vllm"),
        "choice": path_choice(),
        "engine_args": engine_args(model_dir, int(max_prompt), int(new_tokens)),
        "generation": generation(),
        "client": client_chain(),
        "trainer_side": trainer_side(model_dir),
        "fallback": fallback_chain(),
        "readme": readme_command(json.loads(command)),
    }
    sys.stdout.write(json.dumps(findings) + "\n")


if __name__ == "__main__":
    main()
