"""End to end over HTTP: ``raas serve`` with in-process models, and ``raas worker model`` as its
own process behind a router (``RAAS_MODEL_WORKERS``), on the tiny models."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from devtools.live import LiveServer
from devtools.tiny import data_uri, png
from reward_service.models.bt import BTScorer
from tests.models.conftest import Tiny
from tests.models.helpers import reward, rm_task, sentence, spec

pytestmark = pytest.mark.slow

PROMPT = "what is two plus two ?"
ANSWER = "the answer is four ."


def models_json(tiny: Tiny) -> str:
    return json.dumps(
        [
            {
                "name": "rm",
                "path": str(tiny.llama),
                "kind": "bt",
                "max_input_tokens": 64,
                "max_tokens_per_batch": 2048,
            },
            {"name": "vis", "path": str(tiny.vision), "kind": "bt_vision"},
            {"name": "emb", "path": str(tiny.llama), "kind": "bmas"},
            {"name": "broken", "path": str(tiny.broken), "kind": "bt"},
        ]
    )


def sample(verifier: str, response: str, **fields: Any) -> dict[str, Any]:
    return {"verifier": verifier, "response": response, "data_source": "live", **fields}


def rm(model: str, response: str = ANSWER, **fields: Any) -> dict[str, Any]:
    return sample("rm", response, prompt=PROMPT, params={"model": model}, **fields)


def expected_rm(tiny: Tiny) -> float:
    """The reward computed in this process, unbatched."""
    scorer = BTScorer.load(spec("rm", tiny.llama))
    task = rm_task("rm", ANSWER, PROMPT)
    return reward(scorer, task, scorer.forward([scorer.prepare(task)])[0]).accuracy


def post(url: str, samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    response = httpx.post(f"{url}/reward", json={"samples": samples}, timeout=120)
    response.raise_for_status()
    results: list[dict[str, Any]] = response.json()["results"]
    return results


@pytest.fixture(scope="module")
def embedded(tiny: Tiny) -> Iterator[LiveServer]:
    live = LiveServer.start(RAAS_MODELS=models_json(tiny), RAAS_POOL_WORKERS="1")
    yield live
    live.stop()


def test_models_and_rules_in_one_batch(tiny: Tiny, embedded: LiveServer) -> None:
    results = post(
        embedded.url,
        [
            rm("rm"),
            rm("vis", images=[data_uri(png(1))]),
            sample("bmas", ANSWER, ground_truth=ANSWER, params={"model": "emb"}),
            sample("bmas", "", ground_truth=ANSWER, params={"model": "emb", "clamp": "affine"}),
            sample("math", "<answer>\\boxed{4}</answer>", ground_truth="4"),
            sample("choice", "<answer>B</answer>", ground_truth="b"),
            rm("missing"),
            rm("broken"),
            rm("rm", response=sentence(80)),
        ],
    )
    status = [r["status"] for r in results]
    assert status == ["ok"] * 6 + ["unavailable", "unavailable", "invalid_input"]
    assert results[0]["reward"] == pytest.approx(expected_rm(tiny), abs=1e-5)
    assert "score" in results[0]["details"]
    assert 0 < results[1]["reward"] < 1
    assert [r["reward"] for r in results[2:6]] == [1.0, 0.0, 1.0, 1.0]
    assert "configured: broken, emb, rm, vis" in results[6]["error"]
    assert "failed to load" in results[7]["error"]
    assert "at most 64" in results[8]["error"]


def test_readiness_and_metrics_show_the_models(embedded: LiveServer) -> None:
    post(embedded.url, [rm("rm")])
    ready = httpx.get(f"{embedded.url}/readyz").json()
    models = ready["model_backend"]["models"]
    assert {name: m["state"] for name, m in models.items()} == {
        "rm": "loaded",
        "vis": "loaded",
        "emb": "loaded",
        "broken": "failed",
    }
    text = httpx.get(f"{embedded.url}/metrics").text
    assert 'raas_model_queue_depth{model="rm"} 0.0' in text
    assert 'raas_model_loaded{model="broken"} 0.0' in text
    assert 'raas_model_batch_rows_count{model="rm"}' in text


def test_verifier_list_includes_the_model_verifiers(embedded: LiveServer) -> None:
    listed = httpx.get(f"{embedded.url}/v1/verifiers").json()["verifiers"]
    schemas = {v["name"]: v["params_schema"] for v in listed}
    assert schemas["rm"]["required"] == ["model"]
    assert set(schemas["bmas"]["properties"]) == {"model", "combine", "clamp"}


def test_a_model_worker_behind_a_router(tiny: Tiny) -> None:
    # the worker first: a router that finds it not ready takes it back only at its next check
    worker = LiveServer.start("worker", "model", RAAS_MODELS=models_json(tiny))
    router = LiveServer.start(RAAS_MODEL_WORKERS=worker.url, RAAS_POOL_WORKERS="1")
    try:
        math = sample("math", "\\boxed{4}", ground_truth="4")
        first = post(router.url, [rm("rm"), rm("broken"), math])
        assert [r["status"] for r in first] == ["ok", "unavailable", "ok"]
        assert first[0]["reward"] == pytest.approx(expected_rm(tiny), abs=1e-5)
        worker.stop()
        second = post(router.url, [rm("rm"), math])
        assert [r["status"] for r in second] == ["unavailable", "ok"]  # rules keep serving
    finally:
        router.stop()
        worker.stop()


def test_without_a_model_backend_model_verifiers_are_unavailable(client: httpx.Client) -> None:
    results = client.post("/reward", json={"samples": [rm("rm")]}).json()["results"]
    assert results[0]["status"] == "unavailable"
    assert "no model backend" in results[0]["error"]


def test_a_model_worker_needs_models() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "reward_service.cli", "worker", "model", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert done.returncode != 0
    assert "RAAS_MODELS" in done.stderr
