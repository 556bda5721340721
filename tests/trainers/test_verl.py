"""verl 0.9.1 scoring with raas: the README's configs, replayed through verl's own config
loading, agent loop and reward loop (``drivers/verl_reward_loop.py``), against a live raas with
routes and tiny reward models.

The rollouts are what a run of mixed tasks sends: kB-long reasoning for math (right, wrong, and
reward-hacking attempts), detection boxes under the dynamic IoU threshold at two policy versions,
rows raas cannot score, and RLHF rows for a text and an image reward model, with images as a
parquet dataset stores them (bytes) and as PIL images. Each run scores them twice: streamed from
verl's agent loop (how ``main_ppo`` scores without a verl-side reward model) and as a finished
batch (``RewardLoopManager.compute_rm_score``).
"""

from __future__ import annotations

import base64
import json
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devtools.live import LiveServer
from devtools.tiny import CORPUS, png, save_bt, save_policy_tokenizer, save_vision
from tests.trainers.conftest import counted, raas_results, requests_to, run_driver
from tests.trainers.readme import readme_block

pytestmark = pytest.mark.slow

TOTAL_STEPS = 460  # the README's
STEPS = (0, 100)  # policy versions: r = 0 (IoU threshold 0.85), r = 0.22 (0.95)
MAIN_PPO = ["python3", "-m", "verl.trainer.main_ppo"]
EXTRA_KEYS = ["acc", "format", "raas_ok"]
ROUTES = [
    {
        "data_source": "rlhf/chat",
        "verifier": "rm",
        "params": {"model": "rm"},
        "with_images": {"params": {"model": "vis"}},
    }
]
# reward models score a row in whatever batch it lands in: float32 sums differ by ~1e-7
# (tests/models hold batched rows to 1e-5 of unbatched ones)
MODEL_TOLERANCE = 1e-5
TRUTH = [{"bbox_2d": [0, 0, 100, 100], "label": "cat"}]
BOX_IOU_09 = '<answer>[{"bbox_2d": [0, 0, 100, 90], "label": "cat"}]</answer>'


# --- the rollouts -------------------------------------------------------------------------------


def reasoning(seed: int, sentences: int = 32) -> str:
    """A few kB of chain of thought, different for each row."""
    parts = [
        f"Step {i}: I look at quantity {seed * 7 + i} and compare it with {seed + i * 3}; "
        "the difference matters, so let me double-check the arithmetic before going on. "
        for i in range(sentences)
    ]
    return "".join(parts) + "Wait, let me verify once more. Yes, that is consistent."


def row(
    index: int, step: int, data_source: str, response: str, truth: Any, **extra: Any
) -> dict[str, Any]:
    images = extra.pop("images", [])
    user = extra.pop("user", f"What is the answer to problem {index}?")
    return {
        "data_source": data_source,
        "user": f"[row {index}] {user}",
        "images": images,
        "ground_truth": truth,
        "extra_info": {"split": "train", **extra},
        "response": response,
        "uid": f"group-{index // 4}",
        "step": step,
    }


def math_rows(first: int, step: int) -> list[dict[str, Any]]:
    rows = []
    for i in range(first, first + 40):
        answer = i * 3 + 1
        given = answer if i % 2 == 0 else answer + 1
        hack = i % 5 == 0  # the right answer boxed early, a wrong one last: not a right answer
        if hack:
            early, last = f"\\boxed{{{answer}}}", f"\\boxed{{{answer + 2}}}"
            text = f"Maybe {early}? {reasoning(i, 8)} So the answer is {last}."
        else:
            text = f"{reasoning(i)} Therefore the answer is \\boxed{{{given}}}."
        rows.append({**row(i, step, "math_dapo", text, str(answer)), "hack": hack})
    for i in range(first + 40, first + 60):  # sample-level spec with a format check
        answer = i + 5
        given = answer if i % 3 else answer - 1
        text = f"<think>\n{reasoning(i, 12)}\n</think>\n<answer>\\boxed{{{given}}}</answer>"
        spec = {
            "verifier": "math",
            "format": "think_answer",
            "weights": {"accuracy": 0.9, "format": 0.1},
        }
        rows.append(row(i, step, "mm_math", text, str(answer), **spec))
    return rows


def other_rows(first: int, step: int, images: list[bytes]) -> list[dict[str, Any]]:
    rows = [
        row(
            i,
            step,
            "det",
            f"{reasoning(i, 6)}\n{BOX_IOU_09}",
            TRUTH,
            verifier="detection",
            params={"iou_threshold": "dynamic"},
        )
        for i in range(first, first + 20)
    ]
    rows += [  # raas cannot score these: the ground truth is no number
        row(i, step, "math_dapo", f"{reasoning(i, 4)} \\boxed{{1}}", "no-math ???")
        for i in range(first + 20, first + 28)
    ]
    sentences = " ".join(CORPUS).split(" . ")
    for k, i in enumerate(range(first + 28, first + 52)):
        picture = (
            [
                {
                    "png": base64.b64encode(images[k % len(images)]).decode(),
                    "as": "bytes" if k % 2 else "pil",
                }
            ]
            if k >= 12
            else []
        )
        question = sentences[(k + 1) % len(sentences)] + " ?"
        answer = sentences[k % len(sentences)] + " ."
        rows.append(row(i, step, "rlhf/chat", answer, None, user=question, images=picture))
    return rows


def rollouts() -> list[dict[str, Any]]:
    images = [png(seed) for seed in range(3)]
    rows: list[dict[str, Any]] = []
    for step in STEPS:
        rows += math_rows(len(rows), step)
        rows += other_rows(len(rows), step, images)
    return rows


ROWS = rollouts()


# --- raas's own answers -------------------------------------------------------------------------


def raas_sample(row: dict[str, Any], *, context: bool = True) -> dict[str, Any]:
    """The README's mapping of a verl rollout, written out: ``math_dapo`` → ``math``, the spec
    from ``extra_info``, the routes for the rest; the user text as prompt and the images."""
    extra = row["extra_info"]
    sample = {
        "data_source": row["data_source"],
        "response": row["response"],
        "ground_truth": row["ground_truth"],
    }
    verifier = extra.get("verifier") or ("math" if row["data_source"] == "math_dapo" else None)
    if verifier:
        sample["verifier"] = verifier
    sample |= {key: extra[key] for key in ("params", "format", "weights") if key in extra}
    if context:
        sample["prompt"] = row["user"]
        images = [base64.b64decode(image["png"]) for image in row["images"]]
        if images:
            sample["images"] = [
                "data:image/png;base64," + base64.b64encode(i).decode() for i in images
            ]
    return sample


def answers(
    server: LiveServer, rows: list[dict[str, Any]], *, stepped: bool = True, context: bool = True
) -> list[dict[str, Any]]:
    """raas's results for ``rows``, posted directly, one request per policy version."""
    results: list[dict[str, Any]] = []
    for step in STEPS:
        samples = [raas_sample(r, context=context) for r in rows if r["step"] == step]
        schedule = {"step": step, "total_steps": TOTAL_STEPS} if stepped else {}
        results += raas_results(server, samples, **schedule)
    return results


def expected_reward(result: dict[str, Any]) -> float:
    return result["reward"] if result["status"] == "ok" else 0.0  # the documented failure_score


def expected_extra(result: dict[str, Any]) -> dict[str, float]:
    ok = result["status"] == "ok"
    components = result["components"] if ok else {}
    return {
        "acc": components.get("accuracy", 0.0),
        "format": components.get("format", 0.0),
        "raas_ok": 1.0 if ok else 0.0,
    }


# --- fixtures: raas, the policy's tokenizer, verl's runs ----------------------------------------


@pytest.fixture(scope="module")
def raas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    models = tmp_path_factory.mktemp("models")
    specs = [
        {"name": "rm", "path": str(save_bt(models / "rm")), "kind": "bt"},
        {"name": "vis", "path": str(save_vision(models / "vis")), "kind": "bt_vision"},
    ]
    live = LiveServer.start(RAAS_MODELS=json.dumps(specs), RAAS_ROUTES=json.dumps(ROUTES))
    yield live
    live.stop()


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    texts = [r["response"] for r in ROWS] + [r["user"] for r in ROWS]
    return save_policy_tokenizer(tmp_path_factory.mktemp("policy"), texts)


def command_overrides(command: str) -> list[str]:
    """The overrides of a README ``python3 -m verl.trainer.main_ppo`` command (split as bash
    splits it)."""
    argv = shlex.split(command.replace("\\\n", " "))
    assert argv[: len(MAIN_PPO)] == MAIN_PPO, argv
    return argv[len(MAIN_PPO) :]


def appended(raas: LiveServer, policy: Path, settings: str, summary: Path) -> list[str]:
    """What a user appends (model, rollout lengths), the live URL for the README's placeholder,
    and two reward workers for this machine's two cores."""
    return [
        f"actor_rollout_ref.model.path={policy}",
        "actor_rollout_ref.rollout.name=vllm",
        "actor_rollout_ref.rollout.prompt_length=512",
        "actor_rollout_ref.rollout.response_length=2048",
        "reward.num_workers=2",
        f"{settings}.url={raas.url}",
        f"+{settings}.summary_path={summary}",
    ]


@dataclass(frozen=True)
class Run:
    """One driver run: what verl held, and what raas counted meanwhile."""

    held: dict[str, Any]
    samples: dict[str, float]  # raas_samples_total rise per data source
    requests: float  # /reward requests answered
    vision_rows: float  # rows the image reward model ran
    summary: list[dict[str, Any]]


def run_verl(raas: LiveServer, policy: Path, tmp: Path, overrides: list[str], settings: str) -> Run:
    summary = tmp / "summary.jsonl"
    spec = tmp / "spec.json"
    spec.write_text(
        json.dumps(
            {"overrides": overrides + appended(raas, policy, settings, summary), "rows": ROWS}
        )
    )
    sources = sorted({r["data_source"] for r in ROWS})

    def tally() -> tuple[dict[str, float], float, float]:
        samples = {s: counted(raas, "raas_samples_total", data_source=s) for s in sources}
        rows = counted(raas, "raas_model_batch_rows_sum", model="vis")
        return samples, requests_to(raas, "/reward"), rows

    before = tally()
    held = run_driver("verl", "verl_reward_loop.py", str(spec))
    after = tally()
    lines = [json.loads(line) for line in summary.read_text().splitlines()]
    return Run(
        held,
        {s: after[0][s] - before[0][s] for s in sources},
        after[1] - before[1],
        after[2] - before[2],
        lines,
    )


@pytest.fixture(scope="module")
def manager(raas: LiveServer, policy: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    overrides = command_overrides(readme_block("verl-reward-manager")) + shlex.split(
        readme_block("verl-gdpo")
    )
    return run_verl(
        raas, policy, tmp_path_factory.mktemp("manager"), overrides, "reward.reward_kwargs"
    )


@pytest.fixture(scope="module")
def function(raas: LiveServer, policy: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    overrides = command_overrides(readme_block("verl-compute-score")) + shlex.split(
        readme_block("verl-gdpo")
    )
    settings = "reward.custom_reward_function.reward_kwargs"
    return run_verl(raas, policy, tmp_path_factory.mktemp("function"), overrides, settings)


def by_source(source: str) -> list[int]:
    return [i for i, r in enumerate(ROWS) if r["data_source"] == source]


# --- the reward manager ---------------------------------------------------------------------------


def test_verl_loads_the_readme_reward_manager(manager: Run) -> None:
    assert manager.held["manager"] == "trainer_client.verl_manager.RaasRewardManager"


def test_raas_scores_every_rollout_in_few_requests(manager: Run) -> None:
    """Each rollout reached raas twice (streamed, then as a batch); the reward workers gathered
    them: two workers, two steps, two paths, so at least 8 requests, and a few per window."""
    for source in manager.samples:
        assert manager.samples[source] == 2 * len(by_source(source)), source
    assert 8 <= manager.requests <= 4 * 8, manager.requests  # 448 samples in at most 32


@pytest.mark.parametrize("path", ["streamed", "batched"])
def test_the_rewards_verl_holds_are_raas_answers(raas: LiveServer, manager: Run, path: str) -> None:
    held = manager.held[path]
    truth = answers(raas, ROWS)
    assert held["rewards"] == pytest.approx(
        [expected_reward(r) for r in truth], abs=MODEL_TOLERANCE
    )
    assert held["nonzero_elsewhere"] == 0  # the reward sits at the last response token only
    assert held["extra_keys"] == EXTRA_KEYS
    for key in EXTRA_KEYS:
        expected = [expected_extra(r)[key] for r in truth]
        assert held["extra"][key] == pytest.approx(expected, abs=MODEL_TOLERANCE), key
    assert len({r["status"] for r in truth}) == 2  # ok and invalid_input both among them
    assert {held["rewards"][i] for i, r in enumerate(ROWS) if r.get("hack")} == {0.0}
    assert 0 < sum(held["extra"]["format"]) < sum(held["extra"]["acc"])


def test_the_policy_version_reaches_raas(manager: Run) -> None:
    """The same detection answers (IoU 0.9) pass at policy version 0 (threshold 0.85) and fail
    at version 100 of 460 (0.95): the step verl stamped on the rollouts is the one raas used."""
    rewards = manager.held["streamed"]["rewards"]
    early = [rewards[i] for i in by_source("det") if ROWS[i]["step"] == 0]
    late = [rewards[i] for i in by_source("det") if ROWS[i]["step"] == 100]
    assert min(early) > 0.9
    assert max(late) == 0.0
    thresholds = {
        (line["step"], round(line["threshold/det"], 6))
        for line in manager.summary
        if "threshold/det" in line
    }
    assert thresholds == {(0, 0.85), (100, 0.95)}  # V-Triune's curriculum at r = 0 and 0.22
    assert {line["split"] for line in manager.summary} == {"train"}


def test_prompts_and_images_reach_raas(raas: LiveServer, manager: Run) -> None:
    """RLHF rows: the text reward model scored the prompt with the response (the rewards equal
    raas's with the prompt, not without it), and rows with images went to the image model."""
    chat = by_source("rlhf/chat")
    rows = [ROWS[i] for i in chat]
    held = [manager.held["streamed"]["rewards"][i] for i in chat]
    with_context = [r["reward"] for r in answers(raas, rows)]
    without = [r["reward"] for r in answers(raas, rows, context=False)]
    assert held == pytest.approx(with_context, abs=MODEL_TOLERANCE)
    assert sum(abs(a - b) > 1e-4 for a, b in zip(held, without, strict=True)) > len(rows) // 2
    assert manager.vision_rows >= sum(1 for r in rows if r["images"])


def test_unscorable_rollouts_are_masked_not_absent(manager: Run) -> None:
    extra = manager.held["streamed"]["extra"]
    unscored = [i for i, flag in enumerate(extra["raas_ok"]) if flag == 0.0]
    assert unscored == [i for i, r in enumerate(ROWS) if r["ground_truth"] == "no-math ???"]
    for i in unscored:
        assert manager.held["streamed"]["rewards"][i] == 0.0
        assert (extra["acc"][i], extra["format"][i]) == (0.0, 0.0)


def test_the_manager_says_which_rollouts_were_cut(manager: Run, function: Run) -> None:
    """The reward manager sends each rollout's ``truncated`` (its valid response tokens fill
    the response width): raas's truncation rate per source reaches the summary lines. verl
    hands ``compute_score`` the text alone, so its samples say nothing and no rate is logged."""
    for line in manager.summary:
        sources = [key.split("/", 1)[1] for key in line if key.startswith("reward/")]
        assert sources
        assert all(0.0 <= line[f"truncated_ratio/{source}"] <= 1.0 for source in sources)
    assert not any(key.startswith("truncated_ratio/") for line in function.summary for key in line)


def test_gdpo_advantages_from_the_extra_keys(manager: Run) -> None:
    """verl's GDPO normalises ``acc`` and ``format`` per group: both are there for every row."""
    advantages = manager.held["streamed"]["advantages"]
    assert (advantages["estimator"], advantages["finite"]) == ("gdpo", True)
    assert advantages["nonzero"] > 0


# --- compute_score under verl's naive manager -----------------------------------------------------


def test_compute_score_streamed_gets_step_prompt_and_images(
    raas: LiveServer, function: Run
) -> None:
    held = function.held["streamed"]
    truth = answers(raas, ROWS)
    assert function.held["manager"].endswith("NaiveRewardManager")
    assert held["rewards"] == pytest.approx(
        [expected_reward(r) for r in truth], abs=MODEL_TOLERANCE
    )
    assert held["extra_keys"] == ["score", *EXTRA_KEYS]
    assert held["extra"]["score"] == pytest.approx(held["rewards"], abs=MODEL_TOLERANCE)
    for key in EXTRA_KEYS:
        expected = [expected_extra(r)[key] for r in truth]
        assert held["extra"][key] == pytest.approx(expected, abs=MODEL_TOLERANCE), key
    assert function.samples["math_dapo"] == 2 * len(by_source("math_dapo"))
    # gathered: ten samples a request or more on average, not one each (a window is 50 ms of
    # wall time, so a loaded machine splits more: measured 21–25 requests for 448 samples)
    assert function.requests <= sum(function.samples.values()) / 10


def test_compute_score_on_a_batch_goes_without_step_prompt_images(
    raas: LiveServer, function: Run
) -> None:
    """A finished batch hands ``naive`` no rollout fields: the documented fallback."""
    truth = answers(raas, ROWS, stepped=False, context=False)
    held = function.held["batched"]
    assert held["rewards"] == pytest.approx(
        [expected_reward(r) for r in truth], abs=MODEL_TOLERANCE
    )


# --- what verl makes of the configs ---------------------------------------------------------------

# the README's verl config before 0.9.1, in override form (``batch`` and ``compute_score_batch``
# are gone: the nearest that still exist)
LEGACY = [
    "reward_model.reward_manager=naive",
    "custom_reward_function.path=pkg://trainer_client.verl",
    "custom_reward_function.name=compute_score",
    "+custom_reward_function.reward_kwargs.url=http://raas:8000",
]


@pytest.fixture(scope="module")
def configs(policy: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    manager = command_overrides(readme_block("verl-reward-manager"))
    spec = tmp_path_factory.mktemp("configs") / "spec.json"
    spec.write_text(
        json.dumps(
            {
                "tokenizer": str(policy),
                "configs": {
                    "manager": manager,
                    "function": command_overrides(readme_block("verl-compute-score")),
                    "legacy": LEGACY,
                    "misspelt": [*manager, "+reward.reward_kwargs.totalsteps=460"],
                    "verl_rm": [*manager, "reward.reward_model.enable=true"],
                },
            }
        )
    )
    return run_driver("verl", "verl_config.py", str(spec))


@pytest.mark.parametrize("entry", ["main_ppo", "fully_async"])
def test_both_entry_points_load_the_readme_configs(configs: dict[str, Any], entry: str) -> None:
    """``main_ppo`` reads the ``reward.*`` keys as given; ``fully_async_main`` first applies
    ``migrate_legacy_reward_impl``, which leaves them be."""
    manager = configs["manager"][entry]
    assert manager["manager"] == "trainer_client.verl_manager.RaasRewardManager"
    assert "url='http://raas:8000'" in manager["settings"]
    assert "total_steps=460" in manager["settings"]
    function = configs["function"][entry]
    assert function["manager"].endswith(".NaiveRewardManager")
    assert (function["function"], function["awaited"]) == (
        "trainer_client.verl.compute_score",
        True,
    )


def test_the_legacy_keys_are_dropped_by_main_ppo(configs: dict[str, Any]) -> None:
    """Why the README changed: 0.9.1's ``main_ppo`` never migrates the top-level
    ``custom_reward_function``, so verl scores with its own grader and raas is never called;
    only the fully asynchronous trainer maps it."""
    legacy = configs["legacy"]
    assert legacy["main_ppo"]["custom_path"] is None
    assert legacy["main_ppo"]["function"] == "verl.utils.reward_score.default_compute_score"
    assert legacy["fully_async"]["function"] == "trainer_client.verl.compute_score"


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ("misspelt", "unknown raas setting(s) ['totalsteps']"),
        ("verl_rm", "never call RaasRewardManager"),  # verl would score with its own model
    ],
)
def test_a_config_that_cannot_work_stops_the_worker(
    configs: dict[str, Any], config: str, error: str
) -> None:
    for entry in ("main_ppo", "fully_async"):
        assert error in configs[config][entry]["error"]
