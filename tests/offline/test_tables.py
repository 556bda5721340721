"""Rows in and out of files: skipping into Parquet row groups, JSONL's torn and odd lines."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reward_service.offline.sinks import JsonlSink
from reward_service.offline.tables import count_rows, read_batches


@pytest.mark.parametrize("start", [0, 1, 99, 100, 101, 250, 300])
def test_parquet_reading_starts_at_any_row(tmp_path: Path, start: int) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"n": list(range(300))}), path, row_group_size=100)
    rows = [row["n"] for batch in read_batches(path, start, size=64) for row in batch]
    assert rows == list(range(start, 300))
    assert count_rows(path) == 300


def test_jsonl_rows_blank_lines_and_lines_that_are_not_objects(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"a": 1}\n\n[1, 2]\nnot json\n{"a": 2}\n')
    rows = [row for batch in read_batches(path, 1, size=2) for row in batch]
    assert rows == [{"raas_line": "[1, 2]"}, {"raas_line": "not json"}, {"a": 2}]
    assert count_rows(path) == 4


def test_a_torn_last_line_is_cut_off(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_bytes(b'{"raas_row": 0}\n{"raas_row": 1}\n{"raas_r')
    sink = JsonlSink(path)
    assert (sink.done, sink.last_row()) == (2, {"raas_row": 1})
    sink.write([{"raas_row": 2}])
    sink.finish()
    assert path.read_bytes() == b'{"raas_row":0}\n{"raas_row":1}\n{"raas_row":2}\n'.replace(
        b'{"raas_row":0}\n{"raas_row":1}', b'{"raas_row": 0}\n{"raas_row": 1}'
    )
