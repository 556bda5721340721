"""The example routes that name reward models, on the tiny models: MiMo-VL's RLHF route picks the
image+text model for samples with images; Mixed-R1's open-ended route scores with BMAS; and a
text-only model never scores a sample's images away in silence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devtools.inproc import app_client
from devtools.tiny import data_uri, png
from reward_service.verifiers._text import TRUNCATED
from tests.models.conftest import Tiny

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[2] / "routes"
PROMPT, ANSWER = "what is two plus two ?", "the answer is four ."


def models(tiny: Tiny) -> list[dict[str, Any]]:
    return [
        {"name": "rm-text", "path": str(tiny.llama), "kind": "bt"},
        {"name": "rm-vision", "path": str(tiny.vision), "kind": "bt_vision"},
        {"name": "bmas", "path": str(tiny.llama), "kind": "bmas"},
    ]


def score(client: Any, samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    response = client.post("/reward", json={"samples": samples})
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def test_mimo_rlhf_route_picks_the_model_by_modality(tiny: Tiny) -> None:
    image = data_uri(png(3))
    routed = [
        {"data_source": "mimo/rlhf_general", "prompt": PROMPT, "response": ANSWER},
        {
            "data_source": "mimo/rlhf_general",
            "prompt": PROMPT,
            "response": ANSWER,
            "images": [image],
        },
    ]
    named = [
        {**routed[0], "verifier": "rm", "params": {"model": "rm-text"}},
        {**routed[1], "verifier": "rm", "params": {"model": "rm-vision"}},
    ]
    with app_client(routes=str(EXAMPLES / "mimo_vl.yaml"), models=models(tiny)) as (client, _):
        by_route, by_name = score(client, routed), score(client, named)
    assert [r["status"] for r in by_route] == ["ok", "ok"]
    assert [r["reward"] for r in by_route] == pytest.approx([r["reward"] for r in by_name])
    assert by_route[0]["reward"] != pytest.approx(by_route[1]["reward"])  # two different models


def test_mixed_r1_open_ended_route_scores_with_bmas(tiny: Tiny) -> None:
    """BMAS reads the final answer: in Mixed-R1's <think>/<answer> layout an answer identical
    to the reference scores 1, and a rollout cut off while thinking says why it scored 0."""
    think = f"<think>\nhm\n</think>\n<answer>\n{ANSWER}\n</answer>"
    source = "mixed_r1/open_ended_caption"
    samples = [
        {"data_source": source, "response": think, "ground_truth": ANSWER},
        {
            "data_source": source,
            "response": think,
            "ground_truth": "a completely different caption .",
        },
        {"data_source": source, "response": f"<think>\n{ANSWER}", "ground_truth": ANSWER},
    ]
    with app_client(routes=str(EXAMPLES / "mixed_r1.yaml"), models=models(tiny)) as (client, _):
        results = score(client, samples)
    assert [r["status"] for r in results] == ["ok", "ok", "ok"]
    assert results[0]["components"] == {"accuracy": 1.0, "format": 1.0}
    assert results[0]["reward"] == 1.0
    assert results[1]["components"]["accuracy"] < 1.0
    assert results[2]["components"]["accuracy"] == 0.0
    assert results[2]["details"]["reason"] == TRUNCATED


def test_a_text_only_model_refuses_images(tiny: Tiny) -> None:
    sample = {"response": ANSWER, "prompt": PROMPT, "verifier": "rm", "images": [data_uri(png(1))]}
    with app_client(models=models(tiny)) as (client, _):
        refused, relaxed = score(
            client,
            [
                {**sample, "params": {"model": "rm-text"}},
                {**sample, "params": {"model": "rm-text", "ignore_images": True}},
            ],
        )
    assert refused["status"] == "invalid_input"
    assert "reads text only" in refused["error"]
    assert relaxed["status"] == "ok"
