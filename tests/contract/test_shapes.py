"""``/reward``'s answer has one shape (``reward_service/contract/shapes.py``, linked as
``trainer_client/shapes.py``): the server builds it, the doc models publish it, the client reads
and merges it, and a field added or misspelt on one side fails here or in the type checker."""

from __future__ import annotations

import ast
import subprocess
import sys
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin, get_type_hints

import pytest
from pydantic import BaseModel

from reward_service.contract import schemas, shapes
from reward_service.contract.monitoring import PERCEPTION
from reward_service.contract.schemas import Sample
from reward_service.contract.task import Outcome
from reward_service.routing.results import result
from reward_service.routing.summary import SourceSummaries
from trainer_client import shapes as client_shapes
from trainer_client import summary as client_summary
from trainer_client.client import _scored
from trainer_client.summary import merge

ROOT = Path(__file__).resolve().parents[2]
# each TypedDict and the pydantic model that documents it in the OpenAPI schema
DOCUMENTED: list[tuple[type, type[BaseModel]]] = [
    (shapes.SampleResult, schemas.SampleResult),
    (shapes.PerceptionSummary, schemas.PerceptionSummary),
    (shapes.SourceSummary, schemas.SourceSummary),
    (shapes.Summary, schemas.Summary),
    (shapes.RewardAnswer, schemas.RewardResponse),
]
SHAPE_OF = {model: shape for shape, model in DOCUMENTED}
DET = {"iou": 0.5, "parsed": True, "threshold": 0.75, "map": 0.25, "map50": 1.0, "iou50": 1.0}
DET |= {"precision50": 1.0, "recall50": 0.5, "iou99": 0.0, "precision99": 0.0, "recall99": 0.0}


def fields(shape: type) -> list[str]:
    return list(get_type_hints(shape))


def plain(hint: Any) -> Any:
    """A field's type without pydantic's constraints (``StrictStr`` is ``str``, ``Annotated[int,
    Field(ge=…)]`` is ``int``), unions as sets, doc models as the TypedDicts they document."""
    origin = get_origin(hint)
    if origin is Annotated:
        return plain(get_args(hint)[0])
    if origin in (Union, types.UnionType):
        return frozenset(plain(arg) for arg in get_args(hint))
    if origin is typing.Literal:
        return hint
    if origin is not None:
        return (origin, tuple(plain(arg) for arg in get_args(hint)))
    return SHAPE_OF.get(hint, hint)


@pytest.mark.parametrize(("shape", "model"), DOCUMENTED, ids=[s.__name__ for s, _ in DOCUMENTED])
def test_the_doc_models_publish_the_shape_field_by_field(
    shape: type, model: type[BaseModel]
) -> None:
    """Same fields in the same (wire) order, each of the same type."""
    assert list(model.model_fields) == fields(shape)
    documented = get_type_hints(model, include_extras=True)
    for name, hint in get_type_hints(shape).items():
        assert plain(documented[name]) == plain(hint), name


def test_the_client_imports_the_servers_file() -> None:
    """One file, two modules: the trainer side's copy is a link to the server's."""
    linked = ROOT / "trainer_client" / "shapes.py"
    assert linked.is_symlink()
    assert linked.resolve() == (ROOT / "reward_service" / "contract" / "shapes.py").resolve()
    assert Path(client_shapes.__file__).resolve() == Path(shapes.__file__).resolve()


def test_the_shared_file_imports_nothing_but_the_standard_library() -> None:
    """Neither package's dependencies, and nothing relative: the file is each package's module."""
    tree = ast.parse((ROOT / "reward_service" / "contract" / "shapes.py").read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "a relative import"
            imported.add((node.module or "").split(".")[0])
    assert imported
    assert imported <= set(sys.stdlib_module_names), imported


def sample(**fields: Any) -> Sample:
    return Sample.model_validate({"verifier": "math", "response": "x" * 10, **fields})


OUTCOMES = [
    ("scored", Outcome("ok", 1.0, 0.5), 0.9),
    ("scored_no_format", Outcome("ok", 0.0), 0.0),
    ("failed", Outcome("timeout", error="late"), None),
    ("failed_no_error", Outcome("error"), None),
]


@pytest.mark.parametrize(
    ("outcome", "reward"), [o[1:] for o in OUTCOMES], ids=[o[0] for o in OUTCOMES]
)
def test_a_result_is_built_in_the_shapes_field_order(
    outcome: Outcome, reward: float | None
) -> None:
    answer = result(sample(id=3), outcome, reward)
    assert list(answer) == fields(shapes.SampleResult)  # the order orjson writes them in
    scored = _scored(answer)  # type: ignore[arg-type]  # the router's dict is the TypedDict
    assert {name: getattr(scored, name) for name in answer} == answer


def summaries() -> SourceSummaries:
    """A source of every kind of sample: scored with and without format, failed, perception
    details, tokens and truncation flags given or not, reflecting or not."""
    out = SourceSummaries()
    rows = [
        ("math", Outcome("ok", 1.0, 0.5), 0.9, True, 12, True),
        ("math", Outcome("ok", 0.0), 0.0, False, None, False),
        ("math", Outcome("timeout", error="late"), None, None, None, None),
        ("det", Outcome("ok", 0.5, details=DET), 0.5, False, 7, None),
        ("det", Outcome("ok", 1.0, details={"iou": 1.0, "parsed": False}), 1.0, True, 3, True),
    ]
    for i, (source, outcome, reward, reflecting, tokens, truncated) in enumerate(rows):
        answer = result(sample(id=i, data_source=source), outcome, reward)
        out.columns(source).add(answer, 10 + i, reflecting, tokens, truncated)
    return out


def test_a_source_summary_is_built_in_the_shapes_field_order() -> None:
    rendered = summaries().render()
    for summary in rendered.values():
        assert list(summary) == fields(shapes.SourceSummary)
    perception = rendered["det"]["perception"]
    assert perception is not None
    assert list(perception) == fields(shapes.PerceptionSummary)
    assert rendered["math"]["perception"] is None


def test_every_mean_has_its_count_under_the_tables_key() -> None:
    """The tables name each mean of the shape (no more, no fewer) and the ``n`` key the server
    counts it under: the client pools by them."""
    hints = get_type_hints(shapes.SourceSummary)
    optional = {name for name, hint in hints.items() if hint == float | None}
    assert set(shapes.MEANS) == optional
    assert list(shapes.PERCEPTION_MEANS) == fields(shapes.PerceptionSummary)
    assert set(shapes.PERCEPTION_MEANS.values()) == {*PERCEPTION, "parsed"}
    counted = set()
    for summary in summaries().render().values():
        counted |= set(summary["n"])
    tables = {*shapes.MEANS.values(), *shapes.PERCEPTION_MEANS.values()}
    assert counted - {"accuracy", "format"} <= tables
    assert {"reward", "response_tokens", "truncated", "length_correct", "iou50"} <= counted


def test_the_client_merges_every_field_of_the_shape() -> None:
    """A source summary merged alone is itself: every field of the shape, every count (a field
    the server adds, or an ``n`` key it renames, and the client drops or misweights it)."""
    rendered = summaries().render()
    merged = merge([rendered])
    assert set(merged) == set(rendered)
    for source, summary in rendered.items():
        got = merged[source]
        assert set(got) == set(fields(shapes.SourceSummary))
        for key, value in summary.items():
            if key == "perception" and value is not None:
                assert got[key] == pytest.approx(dict(value)), key
            else:
                assert got[key] == pytest.approx(value), key


def test_the_clients_scalars_read_fields_of_the_shape() -> None:
    top = set(fields(shapes.SourceSummary))
    inner = {"perception": set(fields(shapes.PerceptionSummary))}
    for path in client_summary._SCALARS.values():
        assert path[0] in top, path
        if len(path) > 1 and path[0] in inner:
            assert path[1] in inner[path[0]], path


MYPY_CASES = [
    ("well_formed", "", None),
    (
        "server_misspells",
        'def built() -> SampleResult:\n    return {"id": 1, "reward": None, "status": "error",'
        ' "components": {}, "details": {}, "error": "x", "verfier": None}\n',
        'Extra key "verfier" for TypedDict "SampleResult"',
    ),
    (
        "server_forgets",
        'def built() -> SampleResult:\n    return {"id": 1, "reward": None, "status": "error",'
        ' "components": {}, "details": {}, "error": "x"}\n',
        'Missing key "verifier" for TypedDict "SampleResult"',
    ),
    (
        "client_misspells",
        'def read(summary: SourceSummary) -> float | None:\n    return summary["reward_men"]\n',
        'TypedDict "SourceSummary" has no key "reward_men"',
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("code", "error"), [c[1:] for c in MYPY_CASES], ids=[c[0] for c in MYPY_CASES]
)
def test_the_type_checker_holds_both_sides_to_the_shape(
    tmp_path: Path, code: str, error: str | None
) -> None:
    """A key misspelt or left out where the server builds a result, or misspelt where the
    client reads one, is a type error (the server's module and the client's link checked as the
    one type they are)."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from __future__ import annotations\n"
        "from reward_service.contract.shapes import SampleResult\n"
        "from trainer_client.shapes import RewardAnswer, SourceSummary\n\n\n" + code
    )
    checked = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "--cache-dir=/dev/null",
            "--config-file=",
            "--follow-imports=silent",
            str(probe),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    if error is None:
        assert checked.returncode == 0, checked.stdout
    else:
        assert checked.returncode == 1, checked.stdout
        assert error in checked.stdout, checked.stdout
