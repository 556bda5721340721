"""Traffic as reasoning RL sends it, through a real ``raas serve`` (uvloop, as shipped).

Long responses in big batches, a sample of megabytes, a batch full of hanging samples beside
another trainer's small one, a client that gives up, and a body of 200 MB while liveness probes
keep coming.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from devtools.live import LiveServer, post_elsewhere

DEADLINE_S = 1.0
MAX_QUEUED = 100
LIVENESS_TIMEOUT_S = 1.0  # a Kubernetes liveness probe's default timeoutSeconds
WORDS = (
    "so",
    "the",
    "total",
    "is",
    "then",
    "we",
    "get",
    "let",
    "us",
    "consider",
    "wait",
    "the",
    "value",
    "of",
    "which",
    "means",
)


@pytest.fixture(scope="module")
def busy() -> Iterator[LiveServer]:
    """A server of its own (its metrics start at zero), with room for 6 MB responses."""
    live = LiveServer.start(
        RAAS_SAMPLE_TIMEOUT_S=str(DEADLINE_S),
        RAAS_MAX_RESPONSE_CHARS="6000000",
        RAAS_MAX_QUEUED_TASKS=str(MAX_QUEUED),
        RAAS_POOL_SPARES="1",  # as shipped: killed children are replaced from a warm spare
    )
    yield live
    live.stop()


@pytest.fixture(autouse=True)
def no_child_crashes(busy: LiveServer) -> Iterator[None]:
    """Whatever a test sends, no pool child may die by itself (killing one at its deadline is a
    ``timeout`` restart, not a ``crash``)."""
    yield
    assert metric(busy, "raas_pool_restarts_total", reason="crash") == 0


def metric(server: LiveServer, name: str, **labels: str) -> float:
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def reasoning(rng: random.Random, chars: int) -> str:
    words = rng.choices(WORDS, k=chars // 4 + 1)  # words average more than 3 letters
    return " ".join(words)[:chars]


def choice_sample(rng: random.Random, chars: int, right: bool) -> dict[str, Any]:
    letter = "B" if right else "C"
    response = f"<think>\n{reasoning(rng, chars)}\n</think>\n<answer>\n({letter})\n</answer>"
    return {"verifier": "choice", "response": response, "ground_truth": "B"}


def bombs(n: int) -> list[dict[str, Any]]:
    """Distinct power towers (so none is deduplicated away) that never finish in a child."""
    return [
        {
            "verifier": "math",
            "response": f"\\boxed{{10^{{10^{{10^{{{10 + i}}}}}}}}}",
            "ground_truth": "1",
            "data_source": "bombs",
        }
        for i in range(n)
    ]


def post(server: LiveServer, samples: list[dict[str, Any]], timeout: float = 300) -> httpx.Response:
    body = orjson.dumps({"samples": samples})
    headers = {"content-type": "application/json"}
    return httpx.post(f"{server.url}/reward", content=body, headers=headers, timeout=timeout)


def wait_for(condition: Any, what: str, limit_s: float = 60.0) -> None:
    """Poll an observable condition (a metric), failing only if it never comes."""
    give_up = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < give_up, f"never happened: {what}"
        time.sleep(0.02)


def in_background(fn: Any) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(fn()), daemon=True)
    thread.start()
    return thread, out


def test_a_thousand_16kb_responses_all_score(busy: LiveServer) -> None:
    rng = random.Random(0)
    samples = [choice_sample(rng, 16_000, right=i % 3 != 0) for i in range(1024)]
    results = post(busy, samples).json()["results"]
    assert [r["status"] for r in results] == ["ok"] * 1024
    assert [r["reward"] for r in results] == [0.0 if i % 3 == 0 else 1.0 for i in range(1024)]


def test_a_5mb_response_is_scored_whole_by_the_pool(busy: LiveServer) -> None:
    sample = choice_sample(random.Random(1), 5_000_000, right=True)
    (result,) = post(busy, [sample]).json()["results"]
    assert (result["status"], result["reward"]) == ("ok", 1.0)


def test_a_5mb_response_is_refused_by_default_limits(client: httpx.Client) -> None:
    sample = choice_sample(random.Random(1), 5_000_000, right=True)
    (result,) = client.post("/reward", json={"samples": [sample]}).json()["results"]
    assert result["status"] == "invalid_input"
    assert "longer than 65536 characters" in result["error"]


def test_a_rule_worker_answers_a_5mb_task_and_stays_ready() -> None:
    worker = LiveServer.start("worker", "rules")
    try:
        task = choice_sample(random.Random(2), 5_000_000, right=True)
        small = choice_sample(random.Random(3), 100, right=True)
        answer = httpx.post(f"{worker.url}/v1/tasks", json={"tasks": [task, small]}, timeout=60)
        big, fine = answer.json()["outcomes"]
        assert big["status"] == "invalid_input"  # the worker applies the limits itself
        assert (fine["status"], fine["accuracy"]) == ("ok", 1.0)
        assert httpx.get(f"{worker.url}/readyz", timeout=5).status_code == 200
    finally:
        worker.stop()


def test_hanging_samples_do_not_hold_back_another_trainer(busy: LiveServer) -> None:
    before = metric(busy, "raas_timeouts_total", verifier="math")
    # the bomb-laden trainer gives up after a while: its other bombs are then dropped, unrun
    heavy, heavy_out = in_background(lambda: _post_and_give_up(busy, bombs(16), DEADLINE_S * 4))
    wait_for(lambda: metric(busy, "raas_pool_busy") == 2, "both children on the bombs")
    small = post(busy, [{"verifier": "math", "response": "\\boxed{4}", "ground_truth": "4"}] * 8)
    timed_out_meanwhile = metric(busy, "raas_timeouts_total", verifier="math") - before
    assert [r["reward"] for r in small.json()["results"]] == [1.0] * 8
    assert heavy.is_alive()  # the bombs are far from done...
    assert timed_out_meanwhile <= 2  # ...yet the small request waited one deadline at most
    heavy.join()
    assert heavy_out == ["gave up"]


def test_a_full_queue_answers_429_and_a_client_that_leaves_takes_its_work_along(
    busy: LiveServer,
) -> None:
    def kills() -> float:  # a request that is dropped records no task metrics: count the kills
        return metric(busy, "raas_pool_restarts_total", reason="timeout")

    before = kills()
    # two chunks of at most 32 go to the children at once: the rest stays queued
    flood, flood_out = in_background(lambda: _post_and_give_up(busy, bombs(MAX_QUEUED + 70)))
    wait_for(lambda: metric(busy, "raas_pool_queued") > MAX_QUEUED - 8, "the flood queued")
    refused = post(busy, bombs(8))
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    flood.join()
    assert flood_out == ["gave up"]
    when_it_left = kills()
    wait_for(lambda: metric(busy, "raas_pool_queued") == 0, "the queue emptied")
    wait_for(lambda: metric(busy, "raas_pool_busy") == 0, "the children freed")
    after = kills()
    assert after - when_it_left <= 4  # what was running then (and one next chunk per child)
    assert after - before < MAX_QUEUED  # the queued bombs were dropped, never run
    again = post(busy, [{"verifier": "math", "response": "\\boxed{4}", "ground_truth": "4"}])
    assert again.json()["results"][0]["reward"] == 1.0


def _post_and_give_up(
    server: LiveServer, samples: list[dict[str, Any]], after_s: float = DEADLINE_S * 3
) -> str:
    try:
        post(server, samples, timeout=after_s)
    except httpx.ReadTimeout:
        return "gave up"  # httpx closes the connection: the server sees the client leave
    return "answered"


def test_liveness_probes_are_answered_while_a_200mb_body_is_handled(
    busy: LiveServer, tmp_path: Path
) -> None:
    rng = random.Random(4)
    variants = [choice_sample(rng, 6_000, right=k % 2 == 0) for k in range(64)]
    samples = [variants[i % 64] for i in range(33_000)]
    samples.append(choice_sample(rng, 10_000_000, right=True))  # over the limit: not scanned
    body, answer = tmp_path / "body.json", tmp_path / "answer.json"
    body.write_bytes(orjson.dumps({"samples": samples}))
    assert body.stat().st_size > 200_000_000  # parsed in pieces; a sample is one piece
    headers = {"content-type": "application/json"}
    sender = post_elsewhere(f"{busy.url}/reward", body, answer, headers)
    probes = 0
    with httpx.Client(base_url=busy.url, timeout=LIVENESS_TIMEOUT_S) as probe:
        while sender.poll() is None:
            assert probe.get("/healthz").status_code == 200  # a ReadTimeout fails the test
            probes += 1
            time.sleep(0.05)
    assert sender.wait() == 0
    results = orjson.loads(answer.read_bytes())["results"]
    assert len(results) == len(samples)
    assert results[2]["reward"] == 1.0
    assert results[3]["reward"] == 0.0
    assert results[-1]["status"] == "invalid_input"
    assert probes >= 5
