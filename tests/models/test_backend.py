"""``ModelBackend``: routing by model, statuses per task, batching across concurrent calls."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from reward_service.contract.registry import VERIFIERS
from reward_service.contract.task import Outcome, Task
from reward_service.metrics import Metrics
from reward_service.models.backend import ModelBackend
from reward_service.models.batcher import Batcher
from reward_service.models.bt import BTScorer
from reward_service.models.config import ModelSpec
from tests.models.conftest import Tiny
from tests.models.helpers import bmas_task, reward, rm_task, run, sentence, spec


def specs(tiny: Tiny) -> list[ModelSpec]:
    return [
        spec("rm", tiny.llama, max_input_tokens=64, max_tokens_per_batch=1024),
        spec("emb", tiny.llama, "bmas"),
        spec("broken", tiny.broken),
    ]


async def with_backend(
    model_specs: Sequence[ModelSpec], *calls: Sequence[Task]
) -> tuple[list[list[Outcome]], ModelBackend]:
    backend = ModelBackend(model_specs, Metrics(CollectorRegistry()))
    await backend.start()
    try:
        return list(await asyncio.gather(*(backend.run(c) for c in calls))), backend
    finally:
        await backend.close()


def test_statuses_per_task_in_one_batch(tiny: Tiny) -> None:
    tasks = [
        rm_task("rm", "the answer is four ."),
        bmas_task("emb", "the cat sat", "the cat sat"),
        rm_task("nope", "x"),
        rm_task("broken", "x"),
        rm_task("rm", sentence(80)),
        bmas_task("rm", "a", "a"),  # rm is a bt model: bmas needs kind bmas
        rm_task("rm", "the answer is four .", fmt="think_answer"),
    ]
    (outcomes,), _ = run(with_backend(specs(tiny), tasks))
    ok, bmas, missing, broken, oversized, wrong_kind, formatted = outcomes
    assert ok.status == "ok"
    assert 0 < (ok.accuracy or 0) < 1
    assert "score" in ok.details
    assert (bmas.status, bmas.accuracy) == ("ok", 1.0)
    assert missing.status == "unavailable"
    assert "configured: broken, emb, rm" in (missing.error or "")
    assert broken.status == "unavailable"
    assert "failed to load" in (broken.error or "")
    assert oversized.status == "invalid_input"
    assert "at most 64" in (oversized.error or "")
    assert wrong_kind.status == "invalid_input"
    assert "kind bmas" in (wrong_kind.error or "")
    assert formatted.accuracy == pytest.approx(ok.accuracy, abs=1e-6)
    assert formatted.format == 0.0  # the think_answer checker ran on the response


def test_the_reward_is_the_sigmoid_of_the_models_score(tiny: Tiny) -> None:
    task = rm_task("rm", "the answer is four .")
    (outcomes,), _ = run(with_backend(specs(tiny)[:1], [task]))
    scorer = BTScorer.load(spec("rm", tiny.llama))
    raw = scorer.forward([scorer.prepare(task)])[0]
    assert outcomes[0].details["score"] == pytest.approx(raw, abs=1e-5)
    assert outcomes[0].accuracy == pytest.approx(reward(scorer, task, raw).accuracy, abs=1e-6)


def test_a_failed_load_is_reported_and_the_others_serve(tiny: Tiny) -> None:
    async def main() -> tuple[dict[str, Any], bool, list[Outcome]]:
        backend = ModelBackend(specs(tiny), Metrics(CollectorRegistry()))
        await backend.start()
        assert backend.readiness()[1] is False  # still loading
        try:
            outcomes = await backend.run([rm_task("rm", "four")])
            await asyncio.gather(*(m.done.wait() for m in backend.models.values()))
            body, ready = backend.readiness()
            return body, ready, outcomes
        finally:
            await backend.close()

    body, ready, outcomes = run(main())
    assert ready
    assert body["models"]["rm"]["state"] == "loaded"
    assert body["models"]["broken"]["state"] == "failed"
    assert "config" in body["models"]["broken"]["error"].lower()
    assert outcomes[0].status == "ok"


def test_concurrent_calls_share_forward_passes(tiny: Tiny) -> None:
    calls = [[rm_task("rm", sentence(n % 9 + 1, c))] for c in range(24) for n in (c,)]
    seen: list[Batcher[Any, Any]] = []

    async def main() -> list[list[Outcome]]:
        backend = ModelBackend(specs(tiny)[:1], Metrics(CollectorRegistry()))
        await backend.start()
        await backend.models["rm"].done.wait()
        batcher = backend.models["rm"].batcher
        assert batcher is not None
        seen.append(batcher)
        try:
            return list(await asyncio.gather(*(backend.run(c) for c in calls)))
        finally:
            await backend.close()

    results = run(main())
    assert all(r[0].status == "ok" for r in results)
    assert seen[0].stats.rows == 24
    assert seen[0].stats.batches < 24


def test_a_rule_verifier_task_is_an_error_here(tiny: Tiny) -> None:
    math = Task("math", VERIFIERS.get("math").params(), "1", '"1"')
    (outcomes,), _ = run(with_backend(specs(tiny)[:1], [math]))
    assert outcomes[0].status == "error"
    assert "not a model verifier" in (outcomes[0].error or "")
