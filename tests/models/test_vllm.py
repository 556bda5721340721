"""A ``bt`` model served by vLLM: against a stand-in speaking vLLM's ``/classify`` subset,
backed by the same tiny model (vLLM itself cannot run here)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry
from transformers import AutoModelForSequenceClassification

from devtools.live import InThreadServer
from devtools.ports import free_port
from reward_service.contract.task import Outcome, Task
from reward_service.metrics import Metrics
from reward_service.models.backend import ModelBackend
from reward_service.models.bt import BTScorer
from reward_service.models.vllm import scores
from tests.models.conftest import Tiny
from tests.models.helpers import rm_task, run, sentence, spec


class StandInVLLM(InThreadServer):
    """``POST /classify`` like ``vllm serve <seq-cls model>``: token-id inputs, one entry per
    input with ``probs`` (sigmoid applied unless ``use_activation`` is false)."""

    def __init__(self, path: Path, fail_with: int | None = None) -> None:
        self.model = AutoModelForSequenceClassification.from_pretrained(path).eval()
        self.requests: list[dict[str, Any]] = []
        self.fail_with = fail_with
        self.app = FastAPI()
        self.app.post("/classify")(self.classify)
        super().__init__()

    async def classify(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.requests.append(body)
        if self.fail_with is not None:
            return JSONResponse({"error": "boom"}, self.fail_with)
        data = []
        for index, ids in enumerate(body["input"]):
            with torch.inference_mode():
                score = float(self.model(input_ids=torch.tensor([ids])).logits[0, 0])
            value = (
                score
                if body.get("use_activation") is False
                else float(torch.sigmoid(torch.tensor(score)))
            )
            data.append({"index": index, "label": "LABEL_0", "probs": [value], "num_classes": 1})
        data.reverse()  # order is by "index", not by position
        usage = {"prompt_tokens": 0, "total_tokens": 0, "completion_tokens": 0}
        return JSONResponse(
            {
                "id": "classify-1",
                "object": "list",
                "created": 0,
                "model": body.get("model"),
                "data": data,
                "usage": usage,
            }
        )


@pytest.fixture(scope="module")
def vllm(tiny: Tiny) -> Iterator[StandInVLLM]:
    with StandInVLLM(tiny.llama) as server:
        yield server


async def score_remotely(url: str, path: Path, tasks: list[Task]) -> list[Outcome]:
    remote = spec("rm", path, remote_url=url, remote_model="tiny-rm", max_wait_ms=20)
    backend = ModelBackend([remote], Metrics(CollectorRegistry()))
    await backend.start()
    try:
        return await backend.run(tasks)
    finally:
        await backend.close()


def test_remote_scores_equal_local_scores(tiny: Tiny, vllm: StandInVLLM) -> None:
    tasks = [rm_task("rm", sentence(n, n)) for n in (1, 4, 9, 16)]
    outcomes = run(score_remotely(vllm.url, tiny.llama, tasks))
    local = BTScorer.load(spec("rm", tiny.llama))
    expected = local.forward([local.prepare(t) for t in tasks])
    assert [o.status for o in outcomes] == ["ok"] * 4
    assert [o.details["score"] for o in outcomes] == pytest.approx(expected, abs=1e-5)
    request = vllm.requests[-1]
    assert request["use_activation"] is False
    assert request["model"] == "tiny-rm"
    assert request["input"][0] == local.prepare(tasks[0]).data  # token ids, chat-formatted


def test_an_unreachable_server_is_unavailable(tiny: Tiny) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    outcomes = run(score_remotely(url, tiny.llama, [rm_task("rm", "x")]))
    assert outcomes[0].status == "unavailable"
    assert "ConnectError" in (outcomes[0].error or "")


def test_a_server_error_is_an_error(tiny: Tiny) -> None:
    with StandInVLLM(tiny.llama, fail_with=500) as server:
        outcomes = run(score_remotely(server.url, tiny.llama, [rm_task("rm", "x")]))
    assert outcomes[0].status == "error"
    assert "HTTP 500" in (outcomes[0].error or "")


class TestScores:
    def test_newer_servers_name_the_field_logits(self) -> None:
        payload = {"data": [{"index": 1, "logits": [2.5]}, {"index": 0, "logits": [-1.0]}]}
        assert scores(payload, 2) == [-1.0, 2.5]

    @pytest.mark.parametrize(
        "payload",
        [
            {"data": []},
            {"data": [{"index": 0, "probs": [0.1, 0.9]}]},  # two labels: not a BT model
            {"data": [{"index": 3, "probs": [1.0]}]},
            {"data": [{"index": 0, "probs": [float("nan")]}]},
            {"error": "model not found"},
        ],
    )
    def test_malformed_answers_are_errors(self, payload: dict[str, Any]) -> None:
        with pytest.raises(RuntimeError):
            scores(payload, 1)
