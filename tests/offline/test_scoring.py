"""``raas score``: in-process through the router, against a live server, and no row lost."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from devtools.live import LiveServer
from reward_service.contract.errors import RequestError
from reward_service.contract.schemas import Sample
from reward_service.offline import require
from reward_service.offline.scorers import RemoteScorer, local_scorer
from reward_service.offline.scoring import Job, Report, failure, run, score_samples
from reward_service.offline.spec import RowMapping
from reward_service.settings import Settings
from tests.offline.data import mixed_rows, vtriune_rows, write_jsonl, write_vtriune
from trainer_client.client import RewardClient

BAD = {
    3: {"verifier": "no_such_verifier"},
    7: {"params": {"tolerance": "not a number"}},
    11: {"verifier": None},  # no verifier and no server route: the router refuses it
    15: {"response": 42},
    19: {"format": "no_such_format"},
    23: {"weights": {"accuracy": 0, "format": 0}},
}


def bad_rows() -> list[dict[str, Any]]:
    rows = mixed_rows(60, seed=3)
    for index, change in BAD.items():
        rows[index] = {**rows[index], **change}
        if rows[index]["verifier"] is None:
            del rows[index]["verifier"]
    return rows


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def jobs(tmp: Path) -> dict[str, Job]:
    mixed = write_jsonl(tmp / "mixed.jsonl", bad_rows())
    with mixed.open("a") as file:
        file.write("this line is not JSON\n")
    vtriune = write_vtriune(tmp / "vtriune.parquet")
    quiet = {"progress": False, "batch_size": 16, "inflight": 2}
    return {
        "mixed": Job(mixed, tmp / "mixed.out.jsonl", **quiet),
        "mixed_parquet": Job(mixed, tmp / "mixed.out.parquet", part_rows=16, **quiet),
        "vtriune": Job(vtriune, tmp / "vtriune.out.parquet", **quiet),
    }


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Job, Report]]:
    """Every job scored by one in-process pool (and the mixed one twice: the rerun resumes)."""
    todo = jobs(tmp_path_factory.mktemp("scored"))

    async def score_all() -> dict[str, tuple[Job, Report]]:
        settings = Settings(pool_workers=1, pool_spares=0)
        async with local_scorer(settings, None, None) as scorer:
            done = {name: (job, await run(job, scorer)) for name, job in todo.items()}
            done["rerun"] = (todo["mixed"], await run(todo["mixed"], scorer))
        return done

    return asyncio.run(score_all())


def test_every_row_is_written_in_order(scored: dict[str, tuple[Job, Report]]) -> None:
    job, report = scored["mixed"]
    rows = read_jsonl(job.out)
    assert [row["raas_row"] for row in rows] == list(range(61)) == list(range(report.total))
    assert report.statuses["ok"] == 61 - len(BAD) - 1


@pytest.mark.parametrize(
    ("index", "names"),
    [
        (3, "verifier"),
        (7, "params.tolerance"),
        (11, "verifier"),
        (15, "response"),
        (19, "format"),
        (23, "weights"),
        (60, "response"),
    ],
)
def test_a_row_whose_spec_is_bad_is_written_invalid_input(
    scored: dict[str, tuple[Job, Report]], index: int, names: str
) -> None:
    row = read_jsonl(scored["mixed"][0].out)[index]
    assert (row["raas_status"], row["raas_reward"]) == ("invalid_input", None)
    assert names in row["raas_error"]
    assert row.get("raas_line", "") == ("this line is not JSON" if index == 60 else "")


def test_rows_keep_their_input_columns(scored: dict[str, tuple[Job, Report]]) -> None:
    rows = read_jsonl(scored["mixed"][0].out)
    source = bad_rows()
    for index in (0, 1, 2, 3):
        assert {k: v for k, v in rows[index].items() if not k.startswith("raas_")} == source[index]


def test_a_finished_output_is_left_alone(scored: dict[str, tuple[Job, Report]]) -> None:
    job, report = scored["rerun"]
    assert (report.already, report.scored) == (61, 0)
    assert len(read_jsonl(job.out)) == 61


def test_parquet_output_holds_the_same_results(scored: dict[str, tuple[Job, Report]]) -> None:
    table = pq.read_table(scored["mixed_parquet"][0].out)
    as_jsonl = read_jsonl(scored["mixed"][0].out)
    assert table.num_rows == 61
    assert pq.ParquetFile(scored["mixed_parquet"][0].out).num_row_groups == 4  # 16-row parts
    for row, expected in zip(table.to_pylist(), as_jsonl, strict=True):
        assert (row["raas_status"], row["raas_reward"]) == (
            expected["raas_status"],
            expected["raas_reward"],
        )
        assert json.loads(row["raas_components"]) == expected["raas_components"]


def test_vtriune_parquet_keeps_its_columns(scored: dict[str, tuple[Job, Report]]) -> None:
    job, _ = scored["vtriune"]
    schema = pq.read_schema(job.out)
    source = pq.read_schema(job.source)
    assert schema.names[: len(source)] == source.names
    assert schema.field("images").type == source.field("images").type
    assert schema.field("raas_reward").type == pa.float64()
    rows = pq.read_table(job.out).to_pylist()
    assert rows[0]["images"][0]["bytes"] == b"\x89PNG fake"
    assert [r["raas_status"] for r in rows] == ["ok", "ok", "ok", "invalid_input", "invalid_input"]
    assert [r["raas_verifier"] for r in rows[:3]] == ["math", "math", "detection"]
    assert rows[3]["raas_error"].startswith("weights")
    assert "no_such_verifier" in rows[4]["raas_error"]


def test_vtriune_rows_score_as_judge_scores_them(
    scored: dict[str, tuple[Job, Report]], server: LiveServer
) -> None:
    """The offline reward of an Orsta row is V-Triune's ``final_reward`` from ``/judge``."""
    rows = pq.read_table(scored["vtriune"][0].out).to_pylist()
    for row, source in zip(rows[:3], vtriune_rows()[:3], strict=True):
        model = source["reward_model"]
        parm = {**(model.get("verifier_parm") or {}), "step": 0, "total_steps": 1}
        payload = {
            "response": source["response"],
            "prompt": "",
            "answer": "",
            "solution": model["ground_truth"],
            "data_source": source["data_source"],
            "reward_verifier": model["verifier"],
            "reward_verifier_parm": json.dumps(parm),
            "accuracy_ratio": model["accuracy_ratio"],
            "format_ratio": model["format_ratio"],
        }
        judged = httpx.post(f"{server.url}/judge", json=payload, timeout=30).json()
        assert row["raas_reward"] == pytest.approx(judged["rewards"]["final_reward"], abs=1e-12)
    assert [r["raas_reward"] for r in rows[:3]] == pytest.approx([1.0, 1 / 1.1, 1.0])


def test_against_a_server_the_output_is_the_same(
    scored: dict[str, tuple[Job, Report]], server: LiveServer, tmp_path: Path
) -> None:
    local = scored["mixed"][0]
    job = Job(local.source, tmp_path / "remote.jsonl", batch_size=16, progress=False)

    async def remote() -> Report:
        with RewardClient(server.url, max_batch=16) as client:
            return await run(job, RemoteScorer(client, None, None))

    report = asyncio.run(remote())
    assert report.scored == 61
    assert job.out.read_bytes() == local.out.read_bytes()


class Refusing:
    """A server that refuses any batch holding sample "bad" without naming it (as a 413 does)."""

    def __init__(self) -> None:
        self.calls = 0

    async def score(self, samples: list[Sample]) -> list[dict[str, Any]]:
        self.calls += 1
        if any(s.response == "bad" for s in samples):
            raise RequestError([{"msg": "too large"}])
        return [failure("ok", "scored") for _ in samples]


def test_a_refusal_naming_no_sample_is_split_down_to_it() -> None:
    samples = [Sample(verifier="math", response="bad" if i == 5 else "x") for i in range(8)]
    results = asyncio.run(score_samples(Refusing(), samples))
    assert [r["status"] for r in results] == ["ok"] * 5 + ["invalid_input"] + ["ok"] * 2
    assert "too large" in results[5]["error"]


def test_without_the_offline_extra_the_command_says_what_to_install() -> None:
    with pytest.raises(
        SystemExit, match=r"raas score needs no_such_module: pip install 'raas\[offline\]'"
    ):
        require("score", "json", "no_such_module")


def test_mapping_is_the_default_for_a_job() -> None:
    assert Job(Path("a.jsonl"), Path("b.jsonl")).how == RowMapping()


def test_rows_without_a_verifier_take_the_servers_routes(tmp_path: Path) -> None:
    """Routed by ``data_source``: scored by the route's verifier, which the output names."""
    rows = [
        {"data_source": "grounding", "response": "[0, 0, 10, 10]", "ground_truth": [0, 0, 10, 20]},
        {"data_source": "math", "response": "\\boxed{4}", "ground_truth": "4"},
        {"data_source": "unrouted", "response": "\\boxed{4}", "ground_truth": "4"},
    ]
    job = Job(write_jsonl(tmp_path / "in.jsonl", rows), tmp_path / "out.jsonl", progress=False)
    routes = [
        {"data_source": "grounding", "verifier": "iou"},
        {"data_source": "math", "verifier": "math"},
    ]

    async def score() -> None:
        settings = Settings(pool_workers=1, pool_spares=0, routes=routes)
        async with local_scorer(settings, None, None) as scorer:
            await run(job, scorer)

    asyncio.run(score())
    out = read_jsonl(job.out)
    assert [r["raas_verifier"] for r in out] == ["iou", "math", None]
    assert [r["raas_reward"] for r in out] == [0.5, 1.0, None]
    assert out[2]["raas_status"] == "invalid_input"
    assert "no route matches data_source 'unrouted'" in out[2]["raas_error"]
