"""``VLLMGenerator``'s logic against a stand-in module with vLLM's interface (vLLM itself needs
CUDA): which weight path it picks and logs, the engine it asks for (``max_model_len`` from the
prompts), what it asks the engine to sample and how it reads the completions, and how new weights
reach the engine on each path. That the calls match the real vLLM releases is checked in the
releases' own environments (``tests/trainers/test_vllm.py``)."""

from __future__ import annotations

import base64
import logging
import os
import pickle
import sys
import tomllib
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch
from packaging.specifiers import SpecifierSet
from packaging.version import Version
from PIL import Image
from transformers import AutoProcessor

from devtools.toy import build_model, build_tokenizer
from devtools.trainer_envs import RECIPES
from devtools.vlm import grounding_rows, save_vlm
from trainer_client.grpo import vllm_engine
from trainer_client.grpo.cli import parse_config
from trainer_client.grpo.config import GRPOConfig
from trainer_client.grpo.rollout import Rollout, VLLMGenerator, make_generator
from trainer_client.grpo.trainer import GRPOTrainer
from trainer_client.grpo.vision import load_image
from trainer_client.grpo.vllm_engine import LLMClient, engine_args, portable_update

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Completion:
    token_ids: list[int]
    text: str
    finish_reason: str


@dataclass
class SamplingParams:
    temperature: float
    top_p: float
    max_tokens: int
    n: int = 1

    def clone(self) -> SamplingParams:
        return SamplingParams(self.temperature, self.top_p, self.max_tokens, self.n)


@dataclass
class EngineModel:
    loaded: list[str] = field(default_factory=list)

    def load_weights(self, weights: list[tuple[str, torch.Tensor]]) -> None:
        self.loaded += [name for name, _ in weights]


class LLM:
    """vLLM's ``LLM`` as far as raas-train uses it, the weight-transfer methods included."""

    extra_features: ClassVar[int] = 0  # > 0: its processor expands images unlike the policy's

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs, self.requests, self.resets, self.calls = kwargs, [], 0, []
        self.engine_model = EngineModel()
        runner = types.SimpleNamespace(model=self.engine_model)
        worker = types.SimpleNamespace(model_runner=runner)
        self.llm_engine = types.SimpleNamespace(
            model_executor=types.SimpleNamespace(driver_worker=worker)
        )

    def generate(self, requests: list[Any], params: SamplingParams, use_tqdm: bool) -> list[Any]:
        self.requests.append((requests, params))
        outputs = [
            Completion([7, 8, 2], "ab", "stop"),
            Completion([9] * params.max_tokens, "ccc", "length"),
        ][: params.n]
        return [
            types.SimpleNamespace(prompt_token_ids=self.expanded(r), outputs=outputs)
            for r in requests
        ]

    def expanded(self, request: dict[str, Any]) -> list[int]:
        """The prompt as vLLM's multimodal processor makes it: each image placeholder replaced
        by as many as the model's own processor gives that image (what vLLM asks it)."""
        images = iter((request.get("multi_modal_data") or {}).get("image") or [])
        ids = list(request["prompt_token_ids"])
        if "multi_modal_data" not in request:
            return ids
        processor = AutoProcessor.from_pretrained(self.kwargs["model"])
        token, out = processor.image_token_id, []
        for value in ids:
            if value != token:
                out.append(value)
                continue
            alone = processor(text=[processor.image_token], images=[next(images)])
            out += [token] * (list(alone["input_ids"][0]).count(token) + self.extra_features)
        assert next(images, None) is None, "as many placeholders as images"
        return out

    def reset_prefix_cache(self) -> None:
        self.resets += 1

    def init_weight_transfer_engine(self, request: dict[str, Any]) -> None:
        self.calls.append(("init", request))

    def start_weight_update(self) -> None:
        self.calls.append(("start", None))

    def update_weights(self, request: dict[str, Any]) -> None:
        self.calls.append(("update", request))

    def finish_weight_update(self, weight_version: str | None = None) -> None:
        self.calls.append(("finish", weight_version))


@dataclass
class EngineArgs:
    model: str
    weight_transfer_config: Any = None


@dataclass
class IPCTrainerInitInfo:
    packed: bool = False
    rank: int = field(default=-1, kw_only=True)


@dataclass
class ModuleSource:
    module: torch.nn.Module


@dataclass
class TrainerEngine:
    """vLLM's trainer-side IPC engine: one send drives start, update, finish on the client."""

    info: IPCTrainerInitInfo
    client: Any
    source: ModuleSource
    sent: int = 0

    def send_weights(self) -> None:
        self.client.start_weight_update()
        names = [name for name, _ in self.source.module.named_parameters()]
        self.client.update_weights({"names": names, "ipc_handles": [{"gpu": ()} for _ in names]})
        self.client.finish_weight_update()
        self.sent += 1


class WeightTransferTrainerFactory:
    built: ClassVar[list[TrainerEngine]] = []

    @classmethod
    def trainer_init(
        cls, init_info: IPCTrainerInitInfo, *, client: Any, source: ModuleSource
    ) -> TrainerEngine:
        client.init_weight_transfer_engine({"packed": init_info.packed})
        cls.built.append(TrainerEngine(init_info, client, source))
        return cls.built[-1]


def tokens_prompt(prompt_token_ids: list[int], **options: Any) -> dict[str, Any]:
    return {"prompt_token_ids": prompt_token_ids, **options}  # vLLM's: a TypedDict


def stand_in_modules(without: str = "") -> dict[str, types.ModuleType]:
    """vLLM's modules as raas-train imports them; ``without`` drops one piece of the public
    weight-transfer API (an ``LLM`` method, the ``EngineArgs`` field, or a module)."""
    llm = type("LLM", (LLM,), {without.removeprefix("LLM."): None} if "LLM." in without else {})
    engine_args = EngineArgs
    if without == "EngineArgs.weight_transfer_config":
        engine_args = dataclass(type("EngineArgs", (), {"__annotations__": {"model": "str"}}))
    modules = {
        "vllm": {"LLM": llm, "SamplingParams": SamplingParams, "__version__": "0.99.0"},
        "vllm.inputs": {"TokensPrompt": tokens_prompt},
        "vllm.engine": {},
        "vllm.engine.arg_utils": {"EngineArgs": engine_args},
        "vllm.distributed": {},
        "vllm.distributed.weight_transfer": {
            "WeightTransferTrainerFactory": WeightTransferTrainerFactory,
            "ModuleSource": ModuleSource,
        },
        "vllm.distributed.weight_transfer.ipc_engine": {"IPCTrainerInitInfo": IPCTrainerInitInfo},
    }
    built = {}
    for name, attributes in modules.items():
        if name == without:
            continue
        module = types.ModuleType(name)
        module.__dict__.update(attributes)
        built[name] = module
    return built


# what each path sets in the process environment for its engine (restored after each test)
ENVIRONMENT = (
    "VLLM_ALLOW_INSECURE_SERIALIZATION",
    "VLLM_ENABLE_V1_MULTIPROCESSING",
    "RANK",
    "LOCAL_RANK",
    "WORLD_SIZE",
    "MASTER_ADDR",
    "MASTER_PORT",
)


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name, module in stand_in_modules().items():
        monkeypatch.setitem(sys.modules, name, module)
    for key in ENVIRONMENT:
        monkeypatch.delenv(key, raising=False)
    WeightTransferTrainerFactory.built = []
    return monkeypatch


def policy() -> Any:
    """The toy causal LM: a real transformers model, so ``dtype`` and parameter names are."""
    return build_model(build_tokenizer(), 16, 1, 0)


def config(**overrides: Any) -> GRPOConfig:
    return GRPOConfig(model="/models/policy", data="rows.jsonl", **overrides)


@pytest.mark.usefixtures("stand_in")
def test_generation_asks_for_g_samples_of_the_prompt_tokens_and_keeps_their_ids() -> None:
    settings = config(max_new_tokens=3, temperature=0.7, top_p=0.9)
    generator = VLLMGenerator(settings, policy(), max_prompt_tokens=8)
    rollouts = generator.generate([1, 2, 3], n=2)
    assert rollouts == [
        Rollout([1, 2, 3], [7, 8, 2], "ab", truncated=False),
        Rollout([1, 2, 3], [9, 9, 9], "ccc", truncated=True),
    ]
    llm: Any = generator.llm
    ((requests, params),) = llm.requests
    assert requests == [{"prompt_token_ids": [1, 2, 3]}]
    assert (params.n, params.temperature, params.top_p, params.max_tokens) == (2, 0.7, 0.9, 3)
    assert generator.params.n == 1  # the template is cloned, not changed


@pytest.mark.usefixtures("stand_in")
def test_a_prompt_longer_than_the_engine_was_sized_for_is_an_error() -> None:
    generator = VLLMGenerator(config(), policy(), max_prompt_tokens=3)
    assert len(generator.generate([1, 2, 3], n=1)) == 1
    with pytest.raises(ValueError, match="4 tokens is longer than --max-prompt-tokens \\(3\\)"):
        generator.generate([1, 2, 3, 4], n=1)


@pytest.mark.parametrize(
    ("public", "path_keys"),
    [
        (True, {"weight_transfer_config": {"backend": "ipc"}}),
        (False, {"distributed_executor_backend": "external_launcher"}),
    ],
)
@pytest.mark.usefixtures("stand_in")  # engine_args sets the path's process environment
def test_engine_args(public: bool, path_keys: dict[str, Any]) -> None:
    settings = config(max_new_tokens=100, seed=3, vllm_gpu_memory_utilization=0.4)
    args = engine_args(settings, max_prompt_tokens=40, dtype="bfloat16", public=public)
    assert args == {
        "model": "/models/policy",
        "dtype": "bfloat16",
        "seed": 3,
        "gpu_memory_utilization": 0.4,
        "max_model_len": 140,
        "enable_prefix_caching": True,
        **path_keys,
    }


ROWS = [
    {"prompt": "1+2="},  # the toy tokenizer: one token per character, no specials
    {"prompt": "3+4=5-6+7-8+9="},  # 14
    {"prompt": [{"role": "user", "content": "12345678901234567890"}]},  # 20, through the template
]


@pytest.mark.parametrize(("max_prompt_tokens", "max_model_len"), [(None, 20 + 30), (50, 50 + 30)])
def test_max_model_len_is_the_prompt_budget_plus_the_completion(
    stand_in: pytest.MonkeyPatch, max_prompt_tokens: int | None, max_model_len: int
) -> None:
    """Unset, the budget is the longest prompt of the data, chat rows rendered as the trainer
    renders them."""
    stand_in.setattr("trainer_client.grpo.rollout._vllm_usable", lambda: True)
    tokenizer = build_tokenizer()
    settings = config(max_new_tokens=30, max_prompt_tokens=max_prompt_tokens)
    generator: Any = make_generator(settings, build_model(tokenizer, 16, 1, 0), tokenizer, ROWS)
    assert generator.llm.kwargs["max_model_len"] == max_model_len
    assert generator.llm.kwargs["dtype"] == "float32"  # the policy's own precision


def test_the_public_api_pushes_through_vllms_trainer_side_engine(
    stand_in: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "raas-train")
    generator = VLLMGenerator(config(), model := policy(), max_prompt_tokens=8)
    llm: Any = generator.llm
    assert llm.kwargs["weight_transfer_config"] == {"backend": "ipc"}
    assert "distributed_executor_backend" not in llm.kwargs  # the engine in its own process
    assert "vLLM 0.99.0: weights reach the engine through vLLM's weight-transfer API" in caplog.text
    assert os.environ["VLLM_ALLOW_INSECURE_SERIALIZATION"] == "1"
    assert os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] == "1"
    generator.sync_weights(model)
    generator.sync_weights(model)
    (engine,) = WeightTransferTrainerFactory.built  # built once, on the first push
    assert (engine.info.rank, engine.info.packed, engine.source.module) == (0, False, model)
    assert (engine.sent, llm.resets) == (2, 2)
    names = [name for name, _ in model.named_parameters()]
    assert [kind for kind, _ in llm.calls] == ["init", *["start", "update", "finish"] * 2]
    update = llm.calls[2][1]["update_info"]
    assert update["names"] == names
    assert "ipc_handles" not in update  # pickled for the engine process
    assert llm.engine_model.loaded == []  # nothing through the internals


@pytest.mark.parametrize(
    "without",
    [
        "LLM.init_weight_transfer_engine",
        "LLM.start_weight_update",
        "LLM.update_weights",
        "LLM.finish_weight_update",
        "EngineArgs.weight_transfer_config",
        "vllm.distributed.weight_transfer",
        "vllm.distributed.weight_transfer.ipc_engine",
    ],
)
def test_a_vllm_without_the_public_api_falls_back_to_the_internal_path(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, without: str
) -> None:
    modules = stand_in_modules(without)
    for name in (
        "vllm",
        "vllm.inputs",
        "vllm.engine",
        "vllm.engine.arg_utils",
        "vllm.distributed",
        "vllm.distributed.weight_transfer",
        "vllm.distributed.weight_transfer.ipc_engine",
    ):
        monkeypatch.setitem(sys.modules, name, modules.get(name))  # None: cannot be imported
    for key in ENVIRONMENT:
        monkeypatch.delenv(key, raising=False)
    missing = vllm_engine.missing_weight_transfer_api()
    assert missing
    assert all(piece.startswith(without) for piece in missing)
    generator = VLLMGenerator(config(), model := policy(), max_prompt_tokens=8)
    llm: Any = generator.llm
    assert llm.kwargs["distributed_executor_backend"] == "external_launcher"
    assert "weight_transfer_config" not in llm.kwargs
    assert f"lacks the weight-transfer API raas-train uses ({without}" in caplog.text
    assert os.environ["RANK"] == "0"  # what the in-process launcher reads
    generator.sync_weights(model)
    assert llm.engine_model.loaded == [name for name, _ in model.named_parameters()]
    assert (llm.calls, llm.resets) == ([], 1)


@pytest.mark.parametrize(
    "update",
    [
        {"names": ["w"], "dtype_names": ["float32"], "shapes": [[2]]},  # no handles: NCCL-like
        {"names": ["w"], "ipc_handles": [{"GPU-1": (1, b"h", 3)}], "tensor_sizes": None},
    ],
)
def test_ipc_handles_travel_pickled(update: dict[str, Any]) -> None:
    portable = portable_update(update)
    if "ipc_handles" not in update:
        assert portable == update
        return
    assert "ipc_handles" not in portable
    assert pickle.loads(base64.b64decode(portable["ipc_handles_pickled"])) == update["ipc_handles"]
    assert {k: v for k, v in portable.items() if k != "ipc_handles_pickled"} == {
        k: v for k, v in update.items() if k != "ipc_handles"
    }


def test_the_client_wraps_what_vllms_engine_sends_into_llms_requests() -> None:
    llm = LLM()
    client = LLMClient(llm)
    client.init_weight_transfer_engine({"packed": False})
    client.start_weight_update()
    client.update_weights([{"names": ["a"]}, {"names": ["b"], "ipc_handles": []}])
    client.finish_weight_update("v2")
    assert llm.calls[:2] == [("init", {"init_info": {"packed": False}}), ("start", None)]
    pickled = base64.b64encode(pickle.dumps([])).decode("ascii")
    updates = [{"names": ["a"]}, {"names": ["b"], "ipc_handles_pickled": pickled}]
    assert llm.calls[2] == ("update", {"update_info": updates})
    assert llm.calls[3] == ("finish", "v2")


@pytest.mark.parametrize(("flags", "budget"), [([], None), (["--max-prompt-tokens", "512"], 512)])
def test_the_prompt_budget_flag(flags: list[str], budget: int | None) -> None:
    assert parse_config(["--model", "m", "--data", "d", *flags]).max_prompt_tokens == budget


def test_a_prompt_budget_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="max_prompt_tokens must be at least 1"):
        config(max_prompt_tokens=0)


def test_the_declared_range_is_the_tested_one() -> None:
    """The extra users install, the range raas-train names in its log, and the releases the
    trainer environments check are one range: its lowest release and one inside it."""
    extra = tomllib.loads((ROOT / "clients/python/pyproject.toml").read_text())
    (requirement,) = extra["project"]["optional-dependencies"]["vllm"]
    assert requirement == f"vllm{vllm_engine.VLLM_SUPPORTED}"
    supported = SpecifierSet(vllm_engine.VLLM_SUPPORTED)
    pins = sorted(
        Version(pin.split("==")[1])
        for recipe in RECIPES.values()
        for pin in recipe.no_deps
        if pin.startswith("vllm==")
    )
    lowest = min(Version(s.version) for s in supported if s.operator == ">=")
    assert len(pins) == 2
    assert pins[0] == lowest
    assert all(pin in supported for pin in pins)


# --- vision-language policies ------------------------------------------------------------------


def vision_trainer(tmp_path: Path, **overrides: Any) -> tuple[GRPOTrainer, list[dict[str, Any]]]:
    save_vlm(tmp_path / "model", hidden=32)
    rows = grounding_rows(tmp_path / "images", 4)
    settings = GRPOConfig(
        **{
            "model": str(tmp_path / "model"),
            "data": "unused",
            "rollout": "vllm",
            "max_prompt_tokens": 200,
            "output_dir": str(tmp_path / "run"),
            "steps": 1,
            "prompts_per_step": 4,
            "group_size": 2,
            "prompts_per_generate": 4,
            "max_new_tokens": 3,
            "reward_mode": "none",
            "dynamic_sampling": False,
            "tensorboard": False,
            "save_model": False,
            **overrides,
        }
    )
    return GRPOTrainer(settings, rows=rows), rows


def pixels(image: Image.Image) -> bytes:
    return image.convert("RGB").tobytes()


@pytest.mark.usefixtures("stand_in")
def test_a_vision_language_policy_samples_on_vllm_with_its_images(tmp_path: Path) -> None:
    """One ``generate`` call for the step's prompts, each with its unexpanded tokens and its
    decoded image; the rollouts keep the processor's expanded prompt and pixel values, and the
    update's forwards see one image per sequence."""
    trainer, rows = vision_trainer(tmp_path)
    llm: Any = trainer.generator.llm
    assert llm.kwargs["limit_mm_per_prompt"] == {"image": 1}
    assert llm.kwargs["max_model_len"] == 200 + 3
    tower: list[int] = []
    trainer.model.model.vision_tower.register_forward_pre_hook(  # type: ignore[union-attr]
        lambda module, args: tower.append(args[0].shape[0])
    )
    (metrics,) = trainer.train()
    ((requests, params),) = llm.requests
    assert (len(requests), params.n) == (4, 2)
    image_pad = trainer.model.config.image_token_index
    by_pixels = {pixels(load_image(row["images"][0])): row for row in rows}
    for request in requests:
        (image,) = request["multi_modal_data"]["image"]
        assert pixels(image) in by_pixels  # the row's own image, decoded
        assert request["prompt_token_ids"].count(image_pad) == 1  # vLLM expands it
    assert metrics["sequences"] == 8
    assert sum(tower) == 8  # each sequence's forward had its image (no rollout-time tower here)


@pytest.mark.usefixtures("stand_in")
def test_vllm_expanding_images_unlike_the_policy_is_an_error(tmp_path: Path) -> None:
    trainer, _ = vision_trainer(tmp_path)
    type(trainer.generator.llm).extra_features = 1  # type: ignore[attr-defined]
    try:
        with pytest.raises(ValueError, match=r"vLLM expanded an image prompt to \d+ tokens"):
            trainer.train()
    finally:
        LLM.extra_features = 0


@pytest.mark.usefixtures("stand_in")
def test_a_vision_language_policy_on_vllm_needs_its_prompt_budget(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="vision-language policy on vLLM needs --max-prompt"):
        vision_trainer(tmp_path, max_prompt_tokens=None)
    trainer, _ = vision_trainer(tmp_path, max_prompt_tokens=60)  # the image alone is 65
    with pytest.raises(ValueError, match=r"longer than --max-prompt-tokens \(60\).*raise it$"):
        trainer.train()
