"""Routing by task type (``RAAS_ROUTES``): precedence, globs, modality, 422s, the example files."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from devtools.inproc import app_client
from devtools.live import LiveServer
from reward_service.contract.schemas import Sample, Weights
from reward_service.routing.route_spec import MAX_ROUTES, Route
from reward_service.routing.routes import RouteTable
from reward_service.settings import Settings
from reward_service.verifiers import load_verifiers

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "routes"

load_verifiers()

TABLE = [
    {"data_source": "det_*", "verifier": "detection", "params": {"iou_threshold": 0.5}},
    {"data_source": "det_coco", "verifier": "detection", "params": {"map": 1.0}},
    {
        "data_source": "*_math",
        "verifier": "math",
        "format": "think_answer",
        "weights": {"accuracy": 1.0, "format": 0.1},
    },
    {
        "data_source": "rlhf",
        "verifier": "rm",
        "params": {"model": "text"},
        "with_images": {"params": {"model": "vision"}},
    },
    {"data_source": "*", "verifier": "math"},
]


def routed(sample: dict[str, Any], routes: list[dict[str, Any]] | None = None) -> Sample:
    table = RouteTable([Route.model_validate(r) for r in (TABLE if routes is None else routes)])
    parsed = Sample.model_validate({"response": "r", **sample})
    assert table.apply(parsed)
    return parsed


@pytest.mark.parametrize(
    ("sample", "verifier", "params"),
    [
        ({"data_source": "det_coco"}, "detection", {"map": 1.0}),  # exact beats an earlier glob
        ({"data_source": "det_v3"}, "detection", {"iou_threshold": 0.5}),
        ({"data_source": "mm_math"}, "math", {}),
        ({"data_source": "anything"}, "math", {}),  # the catch-all, last
        ({"data_source": "DET_v3"}, "math", {}),  # globs are case-sensitive
        ({"data_source": "rlhf"}, "rm", {"model": "text"}),
        ({"data_source": "rlhf", "images": ["a.png"]}, "rm", {"model": "vision"}),
        # the sample's params win key by key; the route's others stay
        (
            {"data_source": "det_v3", "params": {"completeness": 0.5}},
            "detection",
            {"iou_threshold": 0.5, "completeness": 0.5},
        ),
        (
            {"data_source": "det_v3", "params": {"iou_threshold": 0.9}},
            "detection",
            {"iou_threshold": 0.9},
        ),
        # a sample naming another verifier is its own spec: nothing from the route
        ({"data_source": "det_v3", "verifier": "iou"}, "iou", {}),
        ({"data_source": "det_v3", "verifier": "detection"}, "detection", {"iou_threshold": 0.5}),
    ],
)
def test_route_precedence(sample: dict[str, Any], verifier: str, params: dict[str, Any]) -> None:
    resolved = routed(sample)
    assert (resolved.verifier, resolved.params) == (verifier, params)


@pytest.mark.parametrize(
    ("sample", "fmt", "weights"),
    [
        ({"data_source": "mm_math"}, "think_answer", (1.0, 0.1)),
        ({"data_source": "mm_math", "format": None}, None, (1.0, 0.1)),  # explicit null drops it
        ({"data_source": "mm_math", "weights": {"format": 0.5}}, "think_answer", (1.0, 0.5)),
        ({"data_source": "mm_math", "verifier": "chart"}, None, (1.0, 0.0)),
        ({"data_source": "det_v3"}, None, (1.0, 0.0)),
    ],
)
def test_route_format_and_weights(
    sample: dict[str, Any], fmt: str | None, weights: tuple[float, float]
) -> None:
    resolved = routed(sample)
    assert resolved.format == fmt
    assert (resolved.weights.accuracy, resolved.weights.format) == weights


def test_with_images_replaces_only_the_fields_it_names() -> None:
    routes = [
        {
            "data_source": "vqa",
            "verifier": "math",
            "format": "think_answer",
            "with_images": {"verifier": "choice"},
        }
    ]
    assert routed({"data_source": "vqa", "images": ["x"]}, routes).verifier == "choice"
    assert routed({"data_source": "vqa", "images": ["x"]}, routes).format == "think_answer"
    assert routed({"data_source": "vqa", "images": []}, routes).verifier == "math"


def test_no_verifier_and_no_route() -> None:
    table = RouteTable([Route.model_validate(r) for r in TABLE[:2]])
    sample = Sample.model_validate({"data_source": "mm_math", "response": "r"})
    assert not table.apply(sample)
    detail = table.missing(sample, 3)
    assert detail["loc"] == ["samples", 3, "verifier"]
    assert "'mm_math'" in detail["msg"]
    assert "'det_coco'" in detail["msg"]
    empty = RouteTable([])
    assert not empty.apply(sample)
    assert "RAAS_ROUTES" in empty.missing(sample, 0)["msg"]


@pytest.mark.parametrize(
    ("route", "message"),
    [
        ({"data_source": "a", "verifier": "nope"}, "unknown verifier 'nope'"),
        ({"data_source": "a", "verifier": "math", "format": "nope"}, "unknown format"),
        ({"data_source": "a", "verifier": "math", "params": {"strict": "maybe"}}, "strict"),
        ({"data_source": "a", "verifier": "math", "params": {"oops": 1}}, "oops"),
        (
            {
                "data_source": "a",
                "verifier": "rm",
                "params": {"model": "m"},
                "with_images": {"verifier": "nope"},
            },
            "(with_images)",
        ),
    ],
)
def test_a_bad_route_stops_the_service_at_start(route: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match="RAAS_ROUTES route 0") as raised:
        RouteTable([Route.model_validate(route)])
    assert message in str(raised.value)


def test_params_a_sample_completes_are_accepted() -> None:
    """``normalize_pixels`` needs each sample's ``image_size``; ``rm`` its ``model``."""
    RouteTable(
        [
            Route.model_validate(
                {"data_source": "d", "verifier": "detection", "params": {"normalize_pixels": True}}
            ),
            Route.model_validate({"data_source": "r", "verifier": "rm"}),
        ]
    )


def test_the_same_exact_source_twice_is_refused() -> None:
    twice = [Route.model_validate({"data_source": "a", "verifier": "math"})] * 2
    with pytest.raises(ValueError, match="'a' twice"):
        RouteTable(twice)


def test_settings_read_yaml_json_and_inline(tmp_path: Path) -> None:
    import yaml

    (tmp_path / "r.yaml").write_text(yaml.safe_dump({"routes": TABLE}))
    (tmp_path / "r.json").write_text(json.dumps(TABLE))
    for given in (tmp_path / "r.yaml", tmp_path / "r.json", json.dumps({"routes": TABLE})):
        routes = Settings(routes=str(given)).routes
        assert [r.data_source for r in routes] == [r["data_source"] for r in TABLE]
    assert Settings(routes="").routes == []
    with pytest.raises(ValidationError, match="no file"):
        Settings(routes=str(tmp_path / "missing.yaml"))
    with pytest.raises(ValidationError, match="extra"):
        Settings(routes=json.dumps([{"data_source": "a", "verifier": "math", "colour": 1}]))


REFLECTING = [
    {"data_source": "vt/*", "verifier": "math"},
    {"data_source": "own", "verifier": "math", "reflection": "raas"},
]


@pytest.mark.parametrize(
    ("given", "source", "mode"),
    [
        ({"reflection": "vtriune", "routes": REFLECTING}, "vt/a", "vtriune"),  # the file's
        ({"reflection": "vtriune", "routes": REFLECTING}, "own", "raas"),  # the route's own
        ({"reflection": "vtriune", "routes": REFLECTING}, "elsewhere", None),  # no route
        ({"routes": REFLECTING}, "vt/a", None),  # no default: the router's raas
        (REFLECTING, "own", "raas"),  # a bare list
    ],
)
def test_reflection_mode_from_the_file_and_the_route(
    given: Any, source: str, mode: str | None, tmp_path: Path
) -> None:
    import yaml

    (tmp_path / "r.yaml").write_text(yaml.safe_dump(given))
    for form in (str(tmp_path / "r.yaml"), json.dumps(given)):
        assert RouteTable(Settings(routes=form).routes).reflection(source) == mode


def test_an_unknown_reflection_mode_stops_the_start() -> None:
    with pytest.raises(ValidationError, match="reflection"):
        Settings(routes=json.dumps({"reflection": "words", "routes": REFLECTING}))


def test_orsta_preset_monitors_as_vtriune() -> None:
    table = RouteTable(Settings(routes=str(EXAMPLES / "orsta.yaml")).routes)
    assert {table.reflection(s) for s in ("orsta/math", "orsta/detection_coco")} == {"vtriune"}


def test_the_number_of_routes_is_bounded_in_every_form() -> None:
    many = [{"data_source": f"s{i}", "verifier": "math"} for i in range(MAX_ROUTES + 1)]
    for given in (many, json.dumps(many), json.dumps({"routes": many})):
        with pytest.raises(ValidationError, match=str(MAX_ROUTES)):
            Settings(routes=given)
    assert len(Settings(routes=many[:MAX_ROUTES]).routes) == MAX_ROUTES


@pytest.mark.parametrize("name", ["orsta.yaml", "orsta_native.yaml"])
def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv("RAAS_ROUTES", str(EXAMPLES / name))
    assert len(Settings().routes) == 8


# --- over HTTP, on a live `raas serve` -----------------------------------------------------------


@pytest.fixture(scope="module")
def routed_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    import yaml

    path = tmp_path_factory.mktemp("routes") / "routes.yaml"
    path.write_text(yaml.safe_dump({"routes": TABLE}))
    server = LiveServer.start(RAAS_ROUTES=str(path), RAAS_POOL_WORKERS="1")
    yield server
    server.stop()


def test_live_routes_and_scores(routed_server: LiveServer) -> None:
    box = [{"bbox_2d": [10, 10, 50, 50], "label": "cat"}]
    samples = [
        {"data_source": "mm_math", "response": think("\\boxed{4}"), "ground_truth": "4"},
        {
            "data_source": "det_v3",
            "response": f"<answer>{json.dumps(box)}</answer>",
            "ground_truth": box,
        },
        {"data_source": "mm_math", "response": think("\\boxed{5}"), "ground_truth": "4"},
    ]
    answer = httpx.post(f"{routed_server.url}/reward", json={"samples": samples}).json()
    results = answer["results"]
    assert [r["status"] for r in results] == ["ok"] * 3
    assert results[0]["components"] == {"accuracy": 1.0, "format": 1.0}
    assert results[1]["details"]["tau"] == 0.5  # the route's params reached the verifier
    assert [r["verifier"] for r in results] == ["math", "detection", "math"]  # what was chosen
    assert results[2]["components"] == {"accuracy": 0.0, "format": 1.0}
    assert set(answer["summary"]["by_source"]) == {"mm_math", "det_v3"}


def test_live_catch_all_routes_an_unlisted_source(routed_server: LiveServer) -> None:
    narrow = [
        {"data_source": "x", "verifier": "math", "response": "1", "ground_truth": "1"},
        {"data_source": "rlhf_v2", "response": "\\boxed{1}", "ground_truth": "1"},
    ]
    response = httpx.post(f"{routed_server.url}/reward", json={"samples": narrow})
    assert response.status_code == 200  # the catch-all "*" routes rlhf_v2 to math
    assert response.json()["results"][1]["components"] == {"accuracy": 1.0}


def test_live_routes_endpoint(routed_server: LiveServer) -> None:
    routes = httpx.get(f"{routed_server.url}/v1/routes").json()["routes"]
    assert [r["data_source"] for r in routes] == ["det_coco", "rlhf", "det_*", "*_math", "*"]
    assert routes[1]["with_images"] == {"params": {"model": "vision"}}


def test_live_422_without_routes(server: LiveServer) -> None:
    response = httpx.post(
        f"{server.url}/reward", json={"samples": [{"data_source": "a", "response": "1"}]}
    )
    assert response.status_code == 422
    (detail,) = response.json()["detail"]
    assert detail["loc"] == ["samples", 0, "verifier"]
    assert "no routes are configured" in detail["msg"]


# --- the example route files ---------------------------------------------------------------------


def think(answer: str) -> str:
    return f"<think>\nLet me see.\n</think>\n<answer>\n{answer}\n</answer>"


BOXES = [{"bbox_2d": [100, 100, 400, 400], "label": "dog"}]
FAR = [{"bbox_2d": [600, 600, 900, 900], "label": "dog"}]
# data_source → (ground truth, a right answer, a wrong answer), in each file's response layout
ORSTA_VTRIUNE = {  # math-verify everywhere but detection: exact numbers, no word golds
    "orsta/math_mm": ("4", "\\boxed{4}", "\\boxed{5}"),
    "orsta/puzzle_algo": ("12", "\\boxed{12}", "\\boxed{13}"),
    "orsta/science_qa": ("0.25", "\\boxed{0.25}", "\\boxed{0.5}"),
    "orsta/chart_qa": ("12.5", "\\boxed{12.5}", "\\boxed{12.9}"),
    "orsta/counting_clevr": ("3", "\\boxed{3}", "\\boxed{4}"),
    "orsta/ocr_est": ("2019", "\\boxed{2019}", "\\boxed{2018}"),
    "orsta/detection_v3det": (BOXES, json.dumps(BOXES), json.dumps(FAR)),
    "orsta/grounding_d3": (BOXES, json.dumps(BOXES), json.dumps(FAR)),
}
ORSTA_NATIVE = {
    "orsta/math_mm": ("4", "\\boxed{4}", "\\boxed{5}"),
    "orsta/puzzle_algo": ("12", "\\boxed{12}", "\\boxed{13}"),
    "orsta/science_qa": ("B", "\\boxed{B}", "\\boxed{C}"),
    "orsta/chart_qa": ("12.5", "\\boxed{12.9}", "\\boxed{14}"),
    "orsta/counting_clevr": (3, "\\boxed{3}", "\\boxed{4}"),
    "orsta/ocr_est": ("STOP", "\\boxed{STOP}", "\\boxed{SHOP}"),
    "orsta/detection_v3det": (BOXES, json.dumps(BOXES), json.dumps(FAR)),
    "orsta/grounding_d3": (BOXES, json.dumps(BOXES), json.dumps(FAR)),
}
MIMO = {
    "mimo/stem_geometry": ("\\frac{1}{2}", "\\boxed{0.5}", "\\boxed{2}"),
    "mimo/grounding_refcoco": ([10, 10, 50, 50], "[10, 10, 50, 50]", "[60, 60, 90, 90]"),
    "mimo/gui_screenspot": ([10, 10, 50, 50], "(30, 30)", "(70, 30)"),
    "mimo/counting": (7, "7", "8"),
    "mimo/video_grounding_charades": ([12.0, 20.0], "[0:12, 0:20]", "[0:30, 0:40]"),
    "mimo/chart_qa": ("40%", "40", "45"),
}
MIXED_R1 = {
    "mixed_r1/yes_no_pope": ("yes", "Yes", "No"),
    "mixed_r1/mcq_mmstar": ("C", "(C)", "(D)"),
    "mixed_r1/chart_chartqa": ("1,234", "1234", "1300"),
    "mixed_r1/grounding_refcoco": ([10, 10, 50, 50], "[10, 10, 50, 50]", "[60, 60, 90, 90]"),
}


def example_samples(cases: dict[str, tuple[Any, str, str]]) -> list[dict[str, Any]]:
    return [
        {
            "data_source": source,
            "ground_truth": truth,
            "response": think(answer),
            "id": f"{source}:{i}",
        }
        for source, (truth, *answers) in cases.items()
        for i, answer in enumerate(answers)
    ]


@pytest.mark.parametrize(
    ("name", "cases"),
    [
        ("orsta.yaml", ORSTA_VTRIUNE),
        ("orsta_native.yaml", ORSTA_NATIVE),
        ("mimo_vl.yaml", MIMO),
        ("mimo_vl_native.yaml", MIMO),
        ("mixed_r1.yaml", MIXED_R1),
    ],
)
def test_example_route_file_routes_and_scores(
    name: str, cases: dict[str, tuple[Any, str, str]]
) -> None:
    """Each task of the file: a right answer scores accuracy 1 and a wrong one less, under the
    route's weights, with no verifier named by the samples."""
    table = RouteTable(Settings(routes=str(EXAMPLES / name)).routes)
    with app_client(routes=str(EXAMPLES / name)) as (client, _):
        response = client.post("/reward", json={"samples": example_samples(cases)})
        assert response.status_code == 200, response.text
    results = response.json()["results"]
    for result in results:
        right = result["id"].endswith(":0")
        assert result["status"] == "ok", result
        accuracy = result["components"]["accuracy"]
        assert accuracy == 1.0 if right else accuracy < 0.5, result  # GIoU pays a far box > 0
        route = table.spec_for(result["id"].rsplit(":", 1)[0], images=False)
        weights = route.weights if route and route.weights else Weights()
        fmt = result["components"].get("format", 0.0)
        expected = (accuracy * weights.accuracy + weights.format * fmt) / (
            weights.accuracy + weights.format
        )
        assert result["reward"] == pytest.approx(expected), result
    assert {r["id"].rsplit(":", 1)[0] for r in results} == set(cases)


def test_trainer_adapters_leave_the_verifier_to_the_routes(
    routed_server: LiveServer, tmp_path: Path
) -> None:
    """verl rows of a data source it knows no verifier for, and raas-train rows without one,
    go without a verifier; the server's routes score them. verl logs the batch's summary."""
    from trainer_client.grpo.data import reward_sample
    from trainer_client.verl import compute_score

    log = tmp_path / "raas_summary.jsonl"
    box = [{"bbox_2d": [10, 10, 50, 50], "label": "cat"}]
    settings = {"url": routed_server.url, "summary_path": str(log), "total_steps": 10}

    async def rollouts() -> list[Any]:  # awaited together, as verl's reward loop does
        return await asyncio.gather(
            compute_score("my/mm_math", think("\\boxed{4}"), "4", {"global_steps": 1}, **settings),
            compute_score(
                "det_v3",
                f"<answer>{json.dumps(box)}</answer>",
                box,
                {"global_steps": 1},
                **settings,
            ),
        )

    scores = [result["score"] for result in asyncio.run(rollouts())]
    assert scores == [1.0, 1.0]  # "*_math" with its format weight, "det_*" detection
    (line,) = [json.loads(text) for text in log.read_text().splitlines()]
    assert line["step"] == 1
    assert line["split"] == "train"
    assert line["threshold/det_v3"] == 0.5
    assert line["reward/my/mm_math"] == 1.0
    sample = reward_sample({"prompt": "q", "ground_truth": "4", "data_source": "x"}, "q", "r")
    assert "verifier" not in sample


def test_raas_train_rows_naming_only_their_source_are_routed(routed_server: LiveServer) -> None:
    """verl's ``reward_model: {"ground_truth", "style"}`` names no verifier: raas-train sends the
    ground truth inside it, and the route of the data source scores it."""
    from trainer_client.client import RewardClient
    from trainer_client.grpo.data import reward_samples

    row = {
        "prompt": "2+2?",
        "data_source": "my/mm_math",
        "reward_model": {"ground_truth": "4", "style": "rule"},
    }
    samples = reward_samples(row, "2+2?", [think("\\boxed{4}"), think("\\boxed{5}")])
    assert all("verifier" not in sample for sample in samples)
    with RewardClient(routed_server.url) as client:
        results = client.score_sync(samples).results
    assert [r.status for r in results] == ["ok", "ok"]
    assert [r.components["accuracy"] for r in results] == [1.0, 0.0]
    assert results[0].reward == 1.0  # the route's format term paid to both
    assert {r.verifier for r in results} == {"math"}


def test_openrlhf_labels_naming_a_routed_source(routed_server: LiveServer) -> None:
    box = [{"bbox_2d": [10, 10, 50, 50], "label": "cat"}]
    body = {
        "query": [
            "q:" + f"<answer>{json.dumps(box)}</answer>",
            "q:" + think("\\boxed{4}"),
            "q:\\boxed{4}",
        ],
        "prompts": ["q:", "q:", "q:"],
        "labels": [
            {"data_source": "det_v3", "ground_truth": box},
            {"data_source": "mm_math", "ground_truth": "4"},
            "4",
        ],
    }
    answer = httpx.post(f"{routed_server.url}/get_reward", json=body).json()
    assert answer["status"] == ["ok", "ok", "ok"]
    assert answer["rewards"] == [1.0, 1.0, 1.0]
    assert answer["extra_logs"]["format"] == [0.0, 1.0, 0.0]  # the mm_math route's checker
