"""TRL 1.16's own trainers scoring with raas, replaying the README's TRL blocks.

``trl-grpo``: the README's ``GRPOTrainer`` construction is executed with ``model``,
``processor`` and ``dataset`` bound to this test's tiny vision-language policy (a Llava built by
``devtools.tiny.save_vlm_policy``), its processor and rows with two images each, with
``GRPOConfig(**ARGS)`` (two CPU steps) for ``GRPOConfig(...)`` and the live server's URL for
``http://raas:8000``; the test then registers a callback and runs the block's last statement,
``trainer.train()``. raas routes the samples by ``data_source``: with images, to the
image+text reward model.

``trl-async-grpo``: ``AsyncGRPOTrainer`` itself cannot run on a CPU machine (it generates on a
vLLM server and sends weights over NCCL). Its scoring can: TRL's rollout loop
(``_AsyncRolloutLoop``) re-renders each conversation with the chat template, parses every turn
with TRL's ``parse_response``, runs the tools and scores each finished group with the reward
functions (``_score_group``). The README's statements before ``trainer = AsyncGRPOTrainer(…)``
are executed (URL, output directory, sizes substituted, ``use_cpu=True``), the reward function
they build is pickled into that loop as into TRL's spawned rollout process, and only the vLLM
call (``_generate_one_turn``) is answered from a script of model outputs.
"""

from __future__ import annotations

import ast
import asyncio
import io
import json
import multiprocessing
import pickle
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from datasets import Dataset
from PIL import Image
from transformers import LlavaForConditionalGeneration, LlavaProcessor, TrainerCallback

from devtools.live import LiveServer
from devtools.tiny import data_uri, png, save_bt, save_vision, save_vlm_policy
from devtools.toy import build_chat_tokenizer
from tests.trainers.conftest import counted, raas_results
from tests.trainers.readme import readme_block
from trainer_client import RaasRewardFunction

pytestmark = [
    pytest.mark.slow,
    # TRL 1.16 still sets transformers 5's deprecated gradient-checkpointing aliases: not ours
    pytest.mark.filterwarnings("ignore:.*deprecated and will be removed in v6:FutureWarning"),
    pytest.mark.filterwarnings("ignore:You are importing from 'trl.experimental'"),
]

PROMPT = "please describe the image in one sentence ."
SOURCE = "trl/vlm"
ARGS: dict[str, Any] = {
    "max_steps": 2,
    "per_device_train_batch_size": 8,
    "num_generations": 4,
    "max_completion_length": 8,
    "learning_rate": 1e-3,
    "logging_steps": 1,
    "save_strategy": "no",
    "report_to": "none",
    "use_cpu": True,
    "seed": 0,
    "activation_checkpointing": False,  # TRL turns on the deprecated alias; a tiny model anyway
}


def replay(block: str, substitutions: dict[str, str], namespace: dict[str, Any]) -> ast.stmt:
    """Execute a README block but for its last statement, after ``substitutions`` (each must
    occur in it exactly once), in ``namespace``; return that last statement."""
    for old, new in substitutions.items():
        assert block.count(old) == 1, f"the README block has {block.count(old)}× {old!r}"
        block = block.replace(old, new)
    *body, last = ast.parse(block).body
    exec(compile(ast.Module(body=body, type_ignores=[]), "README.md", "exec"), namespace)
    return last


def as_png_uri(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return data_uri(buffer.getvalue())


@pytest.fixture(scope="module")
def routed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """raas with a text and an image+text reward model, and MiMo-VL's routing by modality."""
    root = tmp_path_factory.mktemp("reward_models")
    models = [
        {"name": "rm-text", "path": str(save_bt(root / "text")), "kind": "bt"},
        {"name": "rm-vision", "path": str(save_vision(root / "vision")), "kind": "bt_vision"},
    ]
    routes = [
        {
            "data_source": SOURCE,
            "verifier": "rm",
            "params": {"model": "rm-text"},
            "with_images": {"params": {"model": "rm-vision"}},
        }
    ]
    live = LiveServer.start(
        RAAS_MODELS=json.dumps(models), RAAS_ROUTES=json.dumps(routes), RAAS_POOL_WORKERS="1"
    )
    yield live
    live.stop()


def photo(seed: int, size: tuple[int, int]) -> Image.Image:
    return Image.open(io.BytesIO(png(seed, size)))


def vlm_dataset(rows: int = 8) -> Dataset:
    """Chat prompts, two images a row (a 224×160 photo-sized one, a 64×48 one), a source."""
    images = [[photo(2 * i, (224, 160)), photo(2 * i + 1, (64, 48))] for i in range(rows)]
    return Dataset.from_dict(
        {
            "prompt": [[{"role": "user", "content": PROMPT}]] * rows,
            "images": images,
            "data_source": [SOURCE] * rows,
        }
    )


class Held(TrainerCallback):  # type: ignore[misc]
    """What TRL holds after each step: its own record of the step's completions, images and
    the rewards it took from each reward function (``GRPOTrainer._logs``)."""

    def __init__(self, trainer: Any) -> None:
        self.trainer, self.steps = trainer, []

    def on_step_end(self, *_: Any, **__: Any) -> None:
        logs = self.trainer._logs
        held = {
            "completions": logs["completion"],
            "images": logs["images"],
            "rewards": logs["rewards"]["raas"],
        }
        self.steps.append({key: list(value) for key, value in held.items()})


def test_readme_grpo_on_a_tiny_vlm_sends_the_images(routed: LiveServer, tmp_path: Path) -> None:
    from trl import GRPOConfig

    policy = save_vlm_policy(tmp_path / "policy")
    namespace: dict[str, Any] = {
        "model": LlavaForConditionalGeneration.from_pretrained(policy),
        "processor": LlavaProcessor.from_pretrained(policy),
        "dataset": vlm_dataset(),
        "ARGS": {**ARGS, "output_dir": str(tmp_path / "run")},
    }
    substitutions = {
        '"http://raas:8000"': repr(routed.url),
        "GRPOConfig(...)": "GRPOConfig(**ARGS)",
    }
    last = replay(readme_block("trl-grpo"), substitutions, namespace)
    assert ast.unparse(last) == "trainer.train()"
    trainer = namespace["trainer"]
    assert isinstance(trainer.args, GRPOConfig)
    held = Held(trainer)
    trainer.add_callback(held)
    scored = {"data_source": SOURCE, "verifier": "rm", "status": "ok"}
    before = counted(routed, "raas_samples_total", **scored)
    vision_before = counted(routed, "raas_model_batch_rows_count", model="rm-vision")
    text_before = counted(routed, "raas_model_batch_rows_count", model="rm-text")

    trainer.train()

    assert trainer.state.global_step == len(held.steps) == 2
    # raas scored every completion, each with its images, by the image+text model
    assert counted(routed, "raas_samples_total", **scored) - before == 2 * 8
    assert counted(routed, "raas_model_batch_rows_count", model="rm-vision") > vision_before
    assert counted(routed, "raas_model_batch_rows_count", model="rm-text") == text_before
    logged = [entry for entry in trainer.state.log_history if "rewards/raas/mean" in entry]
    for step, entry in zip(held.steps, logged, strict=True):
        assert len(step["rewards"]) == 8
        assert all(len(images) == 2 for images in step["images"])
        samples = [
            {
                "data_source": SOURCE,
                "prompt": PROMPT,
                "response": completion[0]["content"],
                "images": [as_png_uri(image) for image in images],
            }
            for completion, images in zip(step["completions"], step["images"], strict=True)
        ]
        answers = [result["reward"] for result in raas_results(routed, samples)]
        assert step["rewards"] == pytest.approx(answers, rel=1e-6)  # what TRL holds = raas
        assert entry["rewards/raas/mean"] == pytest.approx(sum(answers) / 8, rel=1e-6)
        assert entry[f"raas/reward/{SOURCE}"] == pytest.approx(sum(answers) / 8, rel=1e-6)
        assert entry["raas/unscored_fraction"] == 0.0
        text_only = [{key: v for key, v in s.items() if key != "images"} for s in samples]
        blind = [result["reward"] for result in raas_results(routed, text_only)]
        assert all(a != pytest.approx(b) for a, b in zip(answers, blind, strict=True))


def zoom(x: int) -> str:
    """Crop the image around a column.

    Args:
        x: The column to zoom in on.
    """
    return f"zoomed at {x}: <answer>[0, 0, 100, 100]</answer>"  # a tool echoing a perfect box


REASONING = " ".join(
    f"Row {i}: the object's edge sits near y={90 + i % 3}; wait, let me verify the corner."
    for i in range(30)
)  # about 2.5 kB, as a thinking policy writes
THINK = f"<think>\n{REASONING}\n</think>\n"
CALL = '<tool_call>\n{"name": "zoom", "arguments": {"x": 3}}\n</tool_call>'


def answered(box: str, think: str = THINK) -> tuple[list[str], str]:
    """A one-turn rollout: the model's raw text (Qwen3's blank line after ``</think>``, its
    end-of-turn token) and the response raas must get for it."""
    return [f"{think}\n<answer>{box}</answer><|im_end|>"], f"{think}<answer>{box}</answer>"


# per rollout: the model's raw turns (what vLLM would return), and the response raas must get
SCRIPT: list[tuple[list[str], str]] = [
    answered("[0, 0, 100, 90]"),  # IoU 0.9
    answered("[0, 0, 100, 100]"),
    answered("[50, 50, 150, 150]"),
    ([f"<think>\n{REASONING[:900]}"], f"<think>\n{REASONING[:900]}"),  # cut short by the budget
    (["[0, 0, 100, 90]<|im_end|>"], "[0, 0, 100, 90]"),
    # a tool call, the tool's result (which holds a perfect answer: never the policy's), then
    # the model's final turn without a box
    (
        [f"<think>\nzoom first\n</think>\n\n{CALL}<|im_end|>", f"{THINK}\nNo box.<|im_end|>"],
        f"<think>\nzoom first\n</think>\n\n{THINK}No box.",
    ),
    answered("[0, 0, 100, 90]"),
    answered("[0, 0, 100, 100]", think="<think>\nshort\n</think>\n"),
]
ROW = {
    "prompt": [{"role": "user", "content": "Where is the object? Answer with its box."}],
    "data_source": "trl/grounding",
    "verifier": "iou",
    "params": {"threshold": "dynamic"},
    "ground_truth": [0, 0, 100, 100],
}


def scripted_loop(reward_funcs: list[Any], num_generations: int) -> Any:
    """TRL's rollout loop as ``AsyncRolloutWorker`` builds it in its child process, with only its
    vLLM call answered from ``SCRIPT``."""
    from trl.experimental.async_grpo.async_rollout_worker import _AsyncRolloutLoop

    class Scripted(_AsyncRolloutLoop):  # type: ignore[misc]
        turns: ClassVar[deque[str]] = deque()

        async def _generate_one_turn(self, prompt_ids: list[int]) -> tuple[list[int], list[float]]:
            ids = self.tokenizer(self.turns.popleft(), add_special_tokens=False)["input_ids"]
            return ids, [0.0] * len(ids)

    spawn, tokenizer = multiprocessing.get_context("spawn"), build_chat_tokenizer()
    return Scripted(
        model_name="policy",
        dataset=Dataset.from_list([ROW]),
        reward_funcs=reward_funcs,
        processing_class=tokenizer,
        eos_token_ids=[tokenizer.eos_token_id],
        rollout_buffer=spawn.Queue(),
        model_version_value=spawn.Value("i", 0),
        heartbeat_value=spawn.Value("d", 0.0),
        failed_event=spawn.Event(),
        exception_info_queue=spawn.Queue(),
        metrics_queue=spawn.Queue(),
        tools=[zoom],
        num_generations=num_generations,
    )


async def rollout_group(loop: Any, group_id: int) -> Any:
    """One prompt's group, rolled out by TRL's ``_generate_one`` and assembled as its
    ``_generate_loop`` assembles it."""
    from trl.experimental.async_grpo.async_rollout_worker import RolloutGroup

    for turns, _ in SCRIPT:
        loop.turns.extend(turns)
    done = [
        await loop._generate_one(
            ROW["prompt"], tool_dict={"zoom": zoom}, tools=[zoom], group_id=group_id
        )
        for _ in SCRIPT
    ]
    count = len(done)
    return RolloutGroup(
        prompts=[ROW["prompt"]] * count,
        reward_kwargs={key: [value] * count for key, value in ROW.items() if key != "prompt"},
        completions=[d[0] for d in done],
        completions_ids=[d[1] for d in done],
        completions_sequences=[d[2] for d in done],
        tool_call_counts=[d[3] for d in done],
        tool_failure_counts=[d[4] for d in done],
        model_version=0,
        group_id=group_id,
        env_rewards=[],
        rollout_rewards=[d[5] for d in done],
    )


def test_readme_async_grpo_scoring_through_trls_rollout_loop(
    server: LiveServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    namespace: dict[str, Any] = {}
    last = replay(
        readme_block("trl-async-grpo"),
        {
            '"http://raas:8000"': repr(server.url),
            '="runs/exp1"': f"={str(tmp_path)!r}",
            '"runs/exp1/raas_curves.jsonl"': repr(str(tmp_path / "curves.jsonl")),
            "max_steps=460": "max_steps=4",
            "per_device_train_batch_size=32": "per_device_train_batch_size=8, use_cpu=True",
        },
        namespace,
    )
    assert isinstance(last, ast.Assign)
    assert ast.unparse(last.value).startswith("AsyncGRPOTrainer(")
    assert {k.arg: ast.unparse(k.value) for k in last.value.keywords}["reward_funcs"] == "reward"
    args, reward = namespace["args"], namespace["reward"]
    assert (reward.total_steps, reward.samples_per_step) == (4, 8)  # one group of 8 a step
    assert args.num_generations == len(SCRIPT)
    plain = RaasRewardFunction(server.url, name="raas_sync")  # no step: its τ stays at 0.85
    spawned = [pickle.loads(pickle.dumps(f)) for f in (reward, plain)]  # into the child
    loop = scripted_loop(spawned, args.num_generations)
    before = counted(server, "raas_samples_total", data_source="trl/grounding")

    async def run() -> list[tuple[Any, list[Any]]]:
        groups = [await rollout_group(loop, group_id) for group_id in range(4)]
        return [(group, await loop._score_group(group)) for group in groups]  # as _score_loop

    with caplog.at_level("WARNING", logger="trainer_client.trl"):
        scored = asyncio.run(run())

    assert counted(server, "raas_samples_total", data_source="trl/grounding") - before == 2 * 32
    completions = scored[0][0].completions  # TRL's parser moved the thinking out, ran the tool
    assert completions[0][0]["reasoning_content"] == REASONING
    assert completions[5][1] == {"role": "tool", "name": "zoom", "content": zoom(3)}
    expected = [
        {
            **{k: v for k, v in ROW.items() if k != "prompt"},
            "response": response,
            "prompt": ROW["prompt"][0]["content"],
        }
        for _, response in SCRIPT
    ]
    lines = [json.loads(line) for line in (tmp_path / "curves.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [0, 1, 2, 3]  # the counted step reached raas:
    thresholds = [line["raas/threshold/trl/grounding"] for line in lines]
    assert thresholds == pytest.approx([0.85, 0.95, 0.99, 0.99])
    mean_length = sum(len(s["response"]) for s in expected) / len(expected)
    assert all(
        line["raas/response_length/trl/grounding"] == pytest.approx(mean_length) for line in lines
    )
    for step, (group, samples) in enumerate(scored):
        by_completion = {id(sample.completion): sample.metrics for sample in samples}
        held = [by_completion[id(completion)] for completion in group.completions]
        counted_answers = raas_results(server, expected, step=step, total_steps=4)
        fixed_answers = raas_results(server, expected)
        assert [m["rewards/raas"] for m in held] == [a["reward"] for a in counted_answers]
        assert [m["rewards/raas_sync"] for m in held] == [a["reward"] for a in fixed_answers]
    assert [m["rewards/raas"] for m in held][:2] == [0.0, 1.0]  # at τ 0.99 an IoU of 0.9 fails
    assert held[5]["rewards/raas"] == 0.0  # the tool's perfect box was not read as the answer
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= 30]
    assert len(warnings) == 4, warnings  # once per function (its process), not once per call
    assert sum("the step is counted" in w for w in warnings) == 1
    assert sum("no step" in w for w in warnings) == 1
