"""The HTTP contract, against a real ``raas serve`` process on 127.0.0.1."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import httpx
import pytest

from devtools.inproc import app_client
from devtools.live import LiveServer, is_alive, wait_exited
from reward_service.contract.registry import FORMATS, VERIFIERS
from tests.conftest import SHARED_DEADLINE_S, load_vectors

PATHOLOGICAL = {
    "response": "\\boxed{10^{10^{10^{10}}}}",
    "ground_truth": "\\boxed{1}",
    "verifier": "math",
}
DEADLINE_S = SHARED_DEADLINE_S  # the shared test server's RAAS_SAMPLE_TIMEOUT_S


def math_sample(i: int) -> dict[str, Any]:
    return {
        "id": i,
        "response": f"so \\boxed{{{i}}}",
        "ground_truth": str(i % 7),
        "verifier": "math",
    }


def post(client: httpx.Client, samples: list[dict[str, Any]], **extra: Any) -> httpx.Response:
    return client.post("/reward", json={"samples": samples, **extra})


@pytest.mark.parametrize("vector", load_vectors(), ids=lambda v: v["id"])
def test_reward_vector_over_http(client: httpx.Client, vector: dict[str, Any]) -> None:
    extra = {k: vector[k] for k in ("step", "total_steps") if k in vector}
    response = post(client, [vector["sample"]], **extra)
    assert response.status_code == 200, response.text
    (result,) = response.json()["results"]
    assert result["id"] == vector["sample"]["id"]
    expect = vector["expect"]
    if "status" in expect:
        assert result["status"] == expect["status"]
        assert result["reward"] is None
        assert result["error"]
    else:
        assert result["status"] == "ok", result
        assert result["reward"] == pytest.approx(expect["reward"], abs=1e-5)


def test_all_vectors_in_one_mixed_batch(client: httpx.Client) -> None:
    vectors = [
        v for v in load_vectors() if v.get("step", 1) == 1 and v.get("total_steps", 100) == 100
    ]
    response = post(client, [v["sample"] for v in vectors], step=1, total_steps=100)
    results = response.json()["results"]
    assert [r["id"] for r in results] == [v["sample"]["id"] for v in vectors]
    for vector, result in zip(vectors, results, strict=True):
        expected = vector["expect"].get("reward")
        assert result["reward"] == (None if expected is None else pytest.approx(expected, abs=1e-5))


class TestTimeouts:
    def test_pathological_sample_times_out_and_the_batch_survives(
        self, client: httpx.Client
    ) -> None:
        samples = [math_sample(i) for i in range(63)]
        samples.insert(17, {**PATHOLOGICAL, "id": "bad"})
        results = post(client, samples).json()["results"]
        assert results[17]["status"] == "timeout"
        assert results[17]["reward"] is None
        assert f"exceeded the {DEADLINE_S:g} s deadline" in results[17]["error"]
        others = results[:17] + results[18:]
        assert [r["status"] for r in others] == ["ok"] * 63
        assert [r["reward"] for r in others] == [1.0 if i % 7 == i else 0.0 for i in range(63)]
        follow_up = post(client, [math_sample(3)]).json()["results"]
        assert follow_up[0]["reward"] == 1.0

    def test_timeouts_fire_while_requests_are_served_concurrently(self, server: LiveServer) -> None:
        # Two requests in flight at once, each with a hanging sample. If math-verify ran in a
        # thread or on the event loop, signal-based timeouts could not fire and both would hang.
        async def one(http: httpx.AsyncClient, tag: str) -> list[Any]:
            samples = [{**PATHOLOGICAL, "id": tag}, *(math_sample(i) for i in range(8))]
            response = await http.post("/reward", json={"samples": samples})
            return list(response.json()["results"])

        async def main() -> list[list[Any]]:
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
                return list(await asyncio.gather(one(http, "a"), one(http, "b")))

        for results in asyncio.run(main()):
            assert results[0]["status"] == "timeout"
            assert all(r["status"] == "ok" for r in results[1:])


class TestMalformedRequests:
    def test_malformed_json(self, client: httpx.Client) -> None:
        response = client.post(
            "/reward", content=b'{"samples": [', headers={"content-type": "application/json"}
        )
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body"]

    @pytest.mark.parametrize(
        ("sample", "loc"),
        [
            ({"response": "x", "verifier": "no_such"}, ["samples", 1, "verifier"]),
            ({"response": 42, "verifier": "math"}, ["samples", 1, "response"]),
            ({"response": ["x"], "verifier": "math"}, ["samples", 1, "response"]),
            ({"verifier": "math"}, ["samples", 1, "response"]),
            (
                {"response": "x", "verifier": "chart", "params": {"tolerance": -1}},
                ["samples", 1, "params", "tolerance"],
            ),
            (
                {"response": "x", "verifier": "math", "params": {"nope": 1}},
                ["samples", 1, "params", "nope"],
            ),
            ({"response": "x", "verifier": "math", "format": "no_such"}, ["samples", 1, "format"]),
            (
                {"response": "x", "verifier": "math", "weights": {"accuracy": 0, "format": 0}},
                ["samples", 1, "weights"],
            ),
            ({"response": "x", "verifier": "math", "surprise": 1}, ["samples", 1, "surprise"]),
        ],
    )
    def test_invalid_sample_is_422_naming_index_and_field(
        self, client: httpx.Client, sample: dict[str, Any], loc: list[Any]
    ) -> None:
        response = post(client, [math_sample(1), sample])
        assert response.status_code == 422
        assert loc in [error["loc"] for error in response.json()["detail"]]

    def test_service_keeps_serving_after_bad_requests(self, client: httpx.Client) -> None:
        for body in (b"", b"null", b"[]", b'{"samples": null}', b"\xff\xfe"):
            assert client.post("/reward", content=body).status_code == 422
        assert post(client, [math_sample(2)]).json()["results"][0]["reward"] == 1.0


class TestSampleLevelFailures:
    def test_oversized_response_is_invalid_input_and_the_rest_are_scored(
        self, client: httpx.Client
    ) -> None:
        huge = {"response": "x" * 70_000 + "\\boxed{1}", "ground_truth": "1", "verifier": "math"}
        results = post(client, [huge, math_sample(1)]).json()["results"]
        assert results[0]["status"] == "invalid_input"
        assert "65536" in results[0]["error"]
        assert results[1]["reward"] == 1.0

    def test_unparsable_ground_truth_is_invalid_input_not_zero(self, client: httpx.Client) -> None:
        sample = {"response": "\\boxed{1}", "ground_truth": "no-math-here ???", "verifier": "math"}
        (result,) = post(client, [sample]).json()["results"]
        assert result["status"] == "invalid_input"
        assert result["reward"] is None


class TestBatchSemantics:
    def test_duplicates_are_scored_once_and_answered_each(self, client: httpx.Client) -> None:
        def deduplicated() -> float:
            return metric(client, "raas_deduplicated_samples_total")

        before = deduplicated()
        samples = [{**math_sample(5), "id": n} for n in range(16)]
        results = post(client, samples).json()["results"]
        assert [r["id"] for r in results] == list(range(16))
        assert {r["reward"] for r in results} == {1.0}
        assert deduplicated() - before == 15

    def test_format_weight_combines_with_accuracy(self, client: httpx.Client) -> None:
        sample = {
            "response": "<think>\nx\n</think>\n<answer>\n\\boxed{3}\n</answer>",
            "ground_truth": "3",
            "verifier": "math",
            "format": "think_answer",
            "weights": {"accuracy": 0.5, "format": 0.5},
        }
        (result,) = post(client, [sample]).json()["results"]
        assert result["components"] == {"accuracy": 1.0, "format": 1.0}
        assert result["reward"] == 1.0
        (wrong,) = post(client, [{**sample, "ground_truth": "4"}]).json()["results"]
        assert wrong["reward"] == pytest.approx(0.5)

    def test_summary_by_source(self, client: httpx.Client) -> None:
        samples = [
            {**math_sample(1), "data_source": "a", "response": "wait, \\boxed{1}"},
            {**math_sample(1), "data_source": "a", "response": "\\boxed{2}"},
            {**math_sample(1), "data_source": "b"},
            {**PATHOLOGICAL, "data_source": "b"},
        ]
        summary = post(client, samples).json()["summary"]["by_source"]
        assert summary["a"]["count"] == 2
        assert summary["a"]["reward_mean"] == 0.5
        assert summary["a"]["reflection_ratio"] == 0.5
        assert summary["a"]["reflection_ratio_correct"] == 1.0
        assert summary["a"]["reflection_ratio_incorrect"] == 0.0
        assert summary["b"]["status_counts"] == {"ok": 1, "timeout": 1}
        assert summary["b"]["reward_mean"] == 1.0


def metric(client: httpx.Client, name: str, **labels: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        series, _, value = line.rpartition(" ")
        wanted = [f'{k}="{v}"' for k, v in labels.items()]
        if series.split("{")[0] == name and all(w in series for w in wanted):
            return float(value)
    return 0.0


class TestOps:
    def test_health_and_readiness(self, client: httpx.Client) -> None:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz").json()
        assert ready["pool"] == {"size": 2, "ready": 2}

    def test_verifiers_endpoint_lists_the_registry(self, client: httpx.Client) -> None:
        listed = {v["name"]: v for v in client.get("/v1/verifiers").json()["verifiers"]}
        assert set(listed) == set(VERIFIERS) | set(FORMATS)
        assert listed["chart"]["params_schema"]["properties"]["tolerance"]["default"] == 0.05
        assert all(v["summary"] for v in listed.values())

    def test_the_metrics_endpoint_serves_the_apps_registry(self, client: httpx.Client) -> None:
        assert metric(client, "raas_pool_size") == 2
        assert metric(client, "raas_pool_ready") == 2


def test_metrics_count_samples_by_source_verifier_and_status() -> None:
    with app_client() as (http, registry):
        samples = [{**math_sample(1), "data_source": "m"}] * 3 + [{**math_sample(2)}]
        assert http.post("/reward", json={"samples": samples}).status_code == 200
    labels = {"data_source": "m", "verifier": "math", "status": "ok"}
    assert registry.get_sample_value("raas_samples_total", labels) == 3
    assert registry.get_sample_value("raas_reward_count", {"data_source": "m"}) == 3
    assert registry.get_sample_value("raas_reward_sum", {"data_source": "m"}) == 3.0
    assert registry.get_sample_value("raas_deduplicated_samples_total") == 2  # 3 alike: 1 task
    assert registry.get_sample_value("raas_request_seconds_count", {"endpoint": "/reward"}) == 1


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_stopping_the_server_leaves_no_orphans(sig: signal.Signals) -> None:
    live = LiveServer.start(RAAS_POOL_WORKERS="2")
    pids = live.pool_pids
    assert len(pids) >= 2
    assert all(is_alive(pid) for pid in pids)
    live.stop(sig)
    assert wait_exited(pids) == []
