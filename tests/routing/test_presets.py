"""``routes/orsta.yaml`` is V-Triune: each route is what V-Triune's row mapping gives its task,
and a live ``raas serve`` on the preset gives the rewards V-Triune's own server gave on a mixed
sample set (recorded in ``tests/vectors/orsta_vtriune.json`` by ``devtools/vtriune_orsta.py``).
``routes/orsta_native.yaml`` scores the same tasks otherwise, where its header says."""

from __future__ import annotations

import contextlib
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import pytest

from devtools.inproc import app_client
from devtools.live import LiveServer
from devtools.vtriune_orsta import FIXTURE, IOU_THRESHOLD, ORSTA_TASKS, REWARDS, orsta_samples
from reward_service.compat.vtriune_rows import final_weights, vtriune_spec
from reward_service.contract.registry import VERIFIERS
from reward_service.routing.route_spec import RouteSpec
from reward_service.routing.routes import RouteTable
from reward_service.settings import Settings
from reward_service.verifiers import load_verifiers

ROUTES = Path(__file__).resolve().parents[2] / "routes"
load_verifiers()


def table(name: str) -> RouteTable:
    return RouteTable(Settings(routes=str(ROUTES / name)).routes)


def resolved(spec: RouteSpec | dict[str, Any]) -> tuple[Any, ...]:
    """A spec as the verifier reads it: its params validated (defaults filled in)."""
    spec = spec if isinstance(spec, dict) else spec.model_dump()
    params = VERIFIERS.get(spec["verifier"]).params.model_validate(spec["params"])
    return spec["verifier"], params, spec["format"], spec["weights"]


@pytest.mark.parametrize("glob", ORSTA_TASKS)
def test_each_orsta_route_is_vtriunes_mapping_of_its_task(glob: str) -> None:
    """The route's spec equals ``vtriune_spec`` + ``final_weights`` of the task's row: the
    mapping ``/judge``, ``raas score`` and raas-train use, written once."""
    verifier, parm, accuracy, fmt = ORSTA_TASKS[glob]
    route = table("orsta.yaml").spec_for(glob.rstrip("*") + "_any", images=False)
    assert route is not None
    expected = vtriune_spec(verifier, "", parm, IOU_THRESHOLD)
    expected["weights"] = final_weights(accuracy, fmt)
    assert resolved(route) == resolved(expected)


def test_every_orsta_route_is_a_task_of_v_triune() -> None:
    assert [r.data_source for r in table("orsta.yaml").ordered()] == list(ORSTA_TASKS)


def fixture() -> list[dict[str, Any]]:
    return list(json.loads(FIXTURE.read_text())["samples"])


def test_the_fixture_holds_todays_sample_set() -> None:
    """Changing the samples without regenerating V-Triune's rewards fails here."""
    assert [{k: v for k, v in s.items() if k != "vtriune"} for s in fixture()] == orsta_samples()


def raas_sample(sample: dict[str, Any]) -> dict[str, Any]:
    """What a trainer sends for an Orsta row: its source, the response, the ground truth read as
    V-Triune reads it, and (for a row in pixels) the image size; the route gives the rest."""
    spec = vtriune_spec(
        sample["verifier"], sample["solution"], sample["verifier_parm"], IOU_THRESHOLD
    )
    pixels = ("normalize_pixels", "image_size")
    params = {k: spec["params"][k] for k in pixels if k in spec["params"]}
    return {
        "id": sample["id"],
        "data_source": sample["data_source"],
        "response": sample["response"],
        "ground_truth": spec["ground_truth"],
        "params": params,
    }


def test_the_sample_set_is_mixed() -> None:
    """Every route, right and wrong answers, and detection at each dynamic threshold."""
    samples = fixture()
    finals = [s["vtriune"]["final"] for s in samples]
    assert {s["data_source"].split("_")[0] + "*" for s in samples} == set(ORSTA_TASKS)
    assert finals.count(1.0) >= 40
    assert finals.count(0.0) >= 40
    assert any(0 < f < 1 for f in finals)
    assert {(s["step"], s["total_steps"]) for s in samples} == {
        (1, 100),
        (5, 100),
        (20, 100),
        (60, 100),
    }
    assert max(len(s["response"]) for s in samples) > 5000  # long reasoning


@pytest.fixture(scope="module")
def apps() -> Any:
    """An in-process app per preset file these tests score through (started once)."""
    names = ("orsta.yaml", "orsta_native.yaml", "mimo_vl.yaml", "mimo_vl_native.yaml")
    with contextlib.ExitStack() as stack:
        yield {
            name: stack.enter_context(app_client(routes=str(ROUTES / name)))[0] for name in names
        }


def rewards_of(apps: dict[str, Any], names: tuple[str, ...], sample: dict[str, Any]) -> list[Any]:
    answers = [apps[name].post("/reward", json={"samples": [sample]}).json() for name in names]
    return [answer["results"][0]["reward"] for answer in answers]


@pytest.fixture(scope="module")
def orsta_server() -> Any:
    server = LiveServer.start(RAAS_ROUTES=str(ROUTES / "orsta.yaml"), RAAS_POOL_WORKERS="1")
    yield server
    server.stop()


def agrees(result: dict[str, Any], vtriune: dict[str, Any]) -> bool:
    """raas's result is V-Triune's: the same reward, accuracy and format; where V-Triune could
    not parse the ground truth (it pays 0, REWARD_SPEC's documented departure) raas answers
    ``invalid_input`` naming the ground truth, so the trainer masks the row instead."""
    if vtriune.get("gold_unparsed"):
        return result["status"] == "invalid_input" and "ground truth" in result["error"]
    got = {"final": result["reward"], **result["components"]}
    return result["status"] == "ok" and all(
        got.get(k) == pytest.approx(vtriune[k], abs=1e-9) for k in REWARDS
    )


def test_the_orsta_preset_scores_as_vtriunes_code(orsta_server: LiveServer) -> None:
    """Every sample of the mixed set, sent as a trainer sends an Orsta row (one request per
    step, as the dynamic threshold moves): V-Triune's ``/judge`` rewards."""
    by_step: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    for sample in fixture():
        by_step[sample["step"], sample["total_steps"]].append(sample)
    mismatches = []
    for (step, total), samples in by_step.items():
        body = {"samples": [raas_sample(s) for s in samples], "step": step, "total_steps": total}
        answer = httpx.post(f"{orsta_server.url}/reward", json=body, timeout=120)
        assert answer.status_code == 200, answer.text
        for sample, result in zip(samples, answer.json()["results"], strict=True):
            if not agrees(result, sample["vtriune"]):
                mismatches.append((sample["id"], sample["vtriune"], result))
    assert mismatches == []


RIGHT = (
    "right_closeform",
    "right_freeform",
    "no_newlines",
    "lower_case",
    "long_right",
    "wrong_in_thinking",
)
WRONG = ("wrong", "long_wrong", "right_in_thinking")
# sample ids → why routes/orsta_native.yaml's reward differs from V-Triune's (its header's list)
NATIVE_DIFFERS = {
    **{f"orsta/math_mmmath:2:{k}": "the unwrapped LaTeX gold 2\\sqrt{3} read whole" for k in RIGHT},
    **{f"orsta/puzzle_puzzlevqa:1:{k}": "a word gold (blue) matched" for k in RIGHT},
    **{f"orsta/ocr_estvqa:0:{k}": "ocr: a word gold (STOP) matched" for k in RIGHT},
    **{f"orsta/chart_chartqapro:1:{k}": "chart: 12.9 within 5 % of 12.5" for k in WRONG},
    **{
        f"orsta/{source}:{step}:extra_box": "extra-box penalty 0.5, not 0.6"
        for source in ("detection_v3det", "grounding_d3")
        for step in (5, 20, 60)
    },
}


def test_orsta_native_differs_from_vtriune_only_where_its_header_says(apps: Any) -> None:
    """The same mixed set through ``routes/orsta_native.yaml``: the samples whose reward is not
    V-Triune's are exactly those its header names, and none of them pays a wrong answer."""
    by_step: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    for sample in fixture():
        by_step[sample["step"], sample["total_steps"]].append(sample)
    differing: dict[str, float] = {}
    for (step, total), samples in by_step.items():
        body = {"samples": [raas_sample(s) for s in samples], "step": step, "total_steps": total}
        results = apps["orsta_native.yaml"].post("/reward", json=body).json()["results"]
        for sample, result in zip(samples, results, strict=True):
            assert result["status"] == "ok", result
            if result["reward"] != pytest.approx(sample["vtriune"]["final"], abs=1e-9):
                differing[sample["id"]] = result["reward"]
    assert set(differing) == set(NATIVE_DIFFERS)
    # only the tolerance raises a reward V-Triune gives 0 to an answer it calls wrong
    assert {i for i, r in differing.items() if r == 1.0 and i.split(":")[-1] in WRONG} == {
        i for i, why in NATIVE_DIFFERS.items() if why.startswith("chart")
    }


def test_mimo_vl_native_differs_from_the_paper_preset_only_in_strict_math() -> None:
    paper, native = table("mimo_vl.yaml").ordered(), table("mimo_vl_native.yaml").ordered()
    assert [r.data_source for r in paper] == [r.data_source for r in native]
    differing = [
        (a.data_source, a.params, b.params) for a, b in zip(paper, native, strict=True) if a != b
    ]
    assert differing == [("mimo/stem*", {"strict": False}, {})]


@pytest.mark.parametrize(
    ("prompt", "response", "gold", "paper", "native"),
    [
        ("Compute $\\dbinom{8}{4}$.", "\\boxed{\\dbinom{8}{4}}", "70", 1.0, 0.0),  # restated
        ("Solve $x + 1 = 3$.", "\\boxed{x = 2}", "2", 1.0, 1.0),
        ("What is 2 + 2?", "\\boxed{4}", "4", 1.0, 1.0),
        ("What is 2 + 2?", "\\boxed{5}", "4", 0.0, 0.0),
    ],
)
def test_mimo_vl_presets_score_stem_as_their_headers_say(
    apps: Any, prompt: str, response: str, gold: str, paper: float, native: float
) -> None:
    sample = {
        "data_source": "mimo/stem_k12",
        "prompt": prompt,
        "ground_truth": gold,
        "response": f"<think>\nok\n</think>\n{response}",
    }
    assert rewards_of(apps, ("mimo_vl.yaml", "mimo_vl_native.yaml"), sample) == [paper, native]


@pytest.mark.parametrize(
    ("source", "response", "gold", "orsta", "native"),
    [
        # issue 23's two examples: the former preset paid 1.0 and 0.09 (V-Triune: 0 and 0)
        ("orsta/chart_qa", "<answer>\n\\boxed{40}\n</answer>", "42", 0.0, 1.0),  # 4.8 % off
        ("orsta/math_mm", "\\boxed{3}", "4", 0.0, 0.0),
        (
            "orsta/counting_clevr",
            "<think>\nthree\n</think>\n<answer>\nthree\n</answer>",
            "3",
            0.0,
            0.0,
        ),
        (
            "orsta/counting_clevr",
            "<think>\n\\boxed{3}\n</think>\n<answer>\n\\boxed{4}\n</answer>",
            "3",
            0.0,
            0.0,
        ),
    ],
)
def test_the_issues_examples_under_both_orsta_presets(
    apps: Any, source: str, response: str, gold: str, orsta: float, native: float
) -> None:
    sample = {"data_source": source, "response": response, "ground_truth": gold}
    assert rewards_of(apps, ("orsta.yaml", "orsta_native.yaml"), sample) == [orsta, native]
