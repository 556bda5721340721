"""Source-level monitoring end to end (in-process app, real pool, fresh registry): perception
aggregates, response length in characters and tokens, in ``summary.by_source`` and Prometheus."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from tokenizers import Tokenizer, models, pre_tokenizers

from devtools.inproc import app_client
from devtools.live import LiveServer
from reward_service.metrics import Metrics
from reward_service.pool.backend import build_pool
from reward_service.settings import Settings

GT = [{"bbox_2d": [100, 100, 300, 300], "label": "cat"}]
SCHEDULE = [[0.5, 0.5], [1.0, 0.9]]


@pytest.fixture(scope="module")
def tokenizer_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A whitespace word-level tokenizer: a response's token count is its word count."""
    words = ["<unk>", "the", "box", "is", "here", "wait", "<answer>", "</answer>"]
    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    tokenizer.save(str(path))
    return path


def detection(response: str) -> dict[str, Any]:
    return {
        "data_source": "det",
        "verifier": "detection",
        "ground_truth": GT,
        "response": response,
        "params": {"iou_threshold": "dynamic", "dynamic_schedule": SCHEDULE, "monitor_map": True},
    }


def grounding(response: str) -> dict[str, Any]:
    return {
        "data_source": "ground",
        "verifier": "iou",
        "ground_truth": [0, 0, 100, 100],
        "response": response,
        "params": {"threshold": "dynamic", "dynamic_schedule": SCHEDULE},
    }


def boxes(*coords: list[int]) -> str:
    items = [{"bbox_2d": c, "label": "cat"} for c in coords]
    return f"the box is here <answer> {json.dumps(items).replace(' ', '')} </answer>"


BATCH = [
    detection(boxes([100, 100, 300, 300])),  # IoU 1
    detection(boxes([100, 100, 300, 200])),  # IoU 0.5
    detection("wait the box is here"),  # no answer: not parsed
    grounding("[0, 0, 100, 50]"),  # IoU 0.5, below the late τ 0.9
    grounding("no box"),
    {"data_source": "math", "verifier": "math", "ground_truth": "4", "response": "\\boxed{4}"},
]


def post(client: Any, step: int) -> dict[str, Any]:
    response = client.post("/reward", json={"samples": BATCH, "step": step, "total_steps": 10})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_summary_and_metrics(tokenizer_file: Path) -> None:
    with app_client(tokenizer=str(tokenizer_file)) as (client, registry):
        early, late = post(client, step=1), post(client, step=9)
    det = early["summary"]["by_source"]["det"]
    expected = {
        "iou_mean": 0.75,
        "map_mean": 0.5,
        "map50_mean": 1.0,
        "threshold": 0.5,
        "parsed_ratio": 2 / 3,
        # V-Triune's label-first report: IoU 1, 0.5 and an unread answer (0)
        "iou50_mean": 0.5,
        "recall50_mean": 2 / 3,
        "precision75_mean": 1 / 3,
        "iou99_mean": 1 / 3,
    }
    assert {k: det["perception"][k] for k in expected} == pytest.approx(expected, abs=0.05)
    assert det["n"]["parsed"] == 3
    assert det["response_tokens_mean"] == pytest.approx((7 + 7 + 5) / 3)  # words
    assert det["n"]["response_tokens"] == 3
    ground = early["summary"]["by_source"]["ground"]
    assert ground["perception"]["iou_mean"] == 0.5
    assert ground["perception"]["parsed_ratio"] == 0.5
    assert ground["reward_mean"] == 0.25  # IoU 0.5 passes τ 0.5
    late_ground = late["summary"]["by_source"]["ground"]
    assert late_ground["perception"]["threshold"] == 0.9  # the schedule advanced with the step
    assert late_ground["reward_mean"] == 0.0
    assert early["summary"]["by_source"]["math"]["perception"] is None

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value("raas_perception_threshold", data_source="ground") == 0.9  # the latest batch
    assert value("raas_perception_iou_count", data_source="det") == 4  # two parsed, two batches
    # matched IoU: at τ 0.9 the 0.5-IoU box matches nothing: (1 + 0.5) + (1 + 0)
    assert value("raas_perception_iou_sum", data_source="det") == pytest.approx(2.5)
    assert value("raas_perception_map50_count", data_source="det") == 4
    assert value("raas_perception_answers_total", data_source="det", parsed="false") == 2
    assert value("raas_perception_answers_total", data_source="det", parsed="true") == 4
    assert value("raas_response_chars_count", data_source="math") == 2
    assert value("raas_response_tokens_count", data_source="det") == 6
    assert value("raas_response_tokens_sum", data_source="det") == 38


def test_no_tokenizer_no_token_counts() -> None:
    with app_client() as (client, registry):
        answer = post(client, step=0)
    assert answer["summary"]["by_source"]["det"]["response_tokens_mean"] is None
    assert "response_tokens" not in answer["summary"]["by_source"]["det"]["n"]
    assert registry.get_sample_value("raas_response_tokens_count", {"data_source": "det"}) is None


@pytest.mark.parametrize(("name", "message"), [("missing.json", "no tokenizer file")])
def test_a_tokenizer_that_cannot_load_stops_the_start(
    tmp_path: Path, name: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        build_pool(Settings(tokenizer=str(tmp_path / name)), Metrics(CollectorRegistry()))
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match=r"not a tokenizer\.json"):
        build_pool(Settings(tokenizer=str(tmp_path / "bad.json")), Metrics(CollectorRegistry()))


ROUTES = json.dumps(
    {
        "reflection": "vtriune",  # the file's default, as routes/orsta.yaml sets it
        "routes": [
            {"data_source": "vt/*", "verifier": "math"},
            {"data_source": "own", "verifier": "math", "reflection": "raas"},
        ],
    }
)
# (data_source, response, truncated): gold 4; "awaiting" reflects for V-Triune only
TRAFFIC = [
    ("vt/math", "awaiting... \\boxed{4}", False),
    ("vt/math", "\\boxed{5}", True),
    ("vt/math", "wait \\boxed{5}", True),
    ("own", "awaiting... \\boxed{4}", None),
    ("own", "\\boxed{5}", False),
]


def traffic(reflection: str | None = None) -> dict[str, Any]:
    samples = [
        {"data_source": source, "response": response, "ground_truth": "4"}
        | ({} if cut is None else {"truncated": cut})
        for source, response, cut in TRAFFIC
    ]
    return {"samples": samples} | ({} if reflection is None else {"reflection": reflection})


def families(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The exposition as (sample name, sorted labels) → value."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.fixture(scope="module")
def routed() -> Iterator[LiveServer]:
    live = LiveServer.start(RAAS_ROUTES=ROUTES)
    yield live
    live.stop()


def test_reflection_mode_by_route_and_request(routed: LiveServer) -> None:
    by_route = httpx.post(f"{routed.url}/reward", json=traffic()).json()["summary"]["by_source"]
    vt, own = by_route["vt/math"], by_route["own"]
    assert (vt["reflection_mode"], own["reflection_mode"]) == ("vtriune", "raas")
    assert vt["reflection_ratio"] == 2 / 3  # "awaiting" and "wait" by substring
    assert vt["correct_ratio_reflecting"] == 0.5
    assert vt["truncated_ratio"] == 2 / 3
    assert vt["response_length_correct_mean"] == len("awaiting... \\boxed{4}")
    assert own["reflection_ratio"] == 0.0  # whole words: "awaiting" is not "wait"
    assert own["truncated_ratio"] == 0.0
    assert own["n"]["truncated"] == 1
    overridden = httpx.post(f"{routed.url}/reward", json=traffic("raas")).json()
    assert overridden["summary"]["by_source"]["vt/math"]["reflection_ratio"] == 1 / 3
    bad = httpx.post(f"{routed.url}/reward", json=traffic("wordy"))
    assert bad.status_code == 422


def test_prometheus_exposition_on_a_live_server(routed: LiveServer) -> None:
    gt = [
        {"bbox_2d": [0, 0, 100, 100], "label": "cat"},
        {"bbox_2d": [200, 200, 300, 300], "label": "cat"},
    ]
    exact = '<answer>[{"bbox_2d": [0, 0, 100, 100], "label": "cat"}]</answer>'
    det = {
        "data_source": "det_live",
        "verifier": "detection",
        "ground_truth": gt,
        "response": exact,
        "truncated": True,
    }
    answer = httpx.post(f"{routed.url}/reward", json={"samples": [det, det | {"response": "?"}]})
    assert answer.status_code == 200, answer.text
    httpx.post(f"{routed.url}/reward", json=traffic())
    seen = families(httpx.get(f"{routed.url}/metrics").text)

    def value(name: str, **labels: str) -> float | None:
        return seen.get((name, tuple(sorted(labels.items()))))

    at = {"data_source": "det_live", "threshold": "0.99"}
    assert value("raas_perception_at_iou_count", **at, kind="recall") == 2
    assert value("raas_perception_at_iou_sum", **at, kind="recall") == 0.5  # 1 of 2, and 0
    assert value("raas_perception_at_iou_sum", **at, kind="precision") == 1.0
    assert value("raas_truncated_total", data_source="det_live", truncated="true") == 2
    assert value("raas_truncated_total", data_source="vt/math", truncated="true") >= 2
    lengths = {"data_source": "vt/math", "correct": "true"}
    assert value("raas_scored_response_chars_count", **lengths) >= 1
    reflected = {"data_source": "vt/math", "reflects": "true"}
    assert value("raas_reflection_total", **reflected, correct="false") >= 1
