"""Rows streamed in from datasets: JSONL (one JSON object a line) and Parquet (pyarrow).

The format follows the file name: ``.jsonl``/``.ndjson``/``.json`` or ``.parquet``/``.pq``.
Reading yields batches of plain dicts (pyarrow's ``to_pylist``: structs are dicts, binary is
bytes); only one batch (and one Parquet row group's pages) is in memory at a time, and a start
row is reached by skipping whole row groups. Blank JSONL lines are not rows; a line that is not a
JSON object becomes the row ``{"raas_line": text}``, so it is written back with its failure
instead of being lost. Writing (and resuming) is ``sinks``.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from reward_service.contract.errors import RaasError

Row = dict[str, Any]
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
PARQUET_SUFFIXES = (".parquet", ".pq")


class TableError(RaasError):
    """A file raas cannot read or continue (said in words for the command line)."""


def is_parquet(path: Path) -> bool:
    return path.suffix.lower() in PARQUET_SUFFIXES


def kind(path: Path) -> str:
    if path.suffix.lower() in JSONL_SUFFIXES:
        return "jsonl"
    if is_parquet(path):
        return "parquet"
    raise TableError(f"{path}: unknown format; name it .jsonl or .parquet")


# --- reading ---------------------------------------------------------------------------------


def count_rows(path: Path) -> int:
    """Rows in ``path``: Parquet's metadata, or one fast pass over the lines of JSONL."""
    if kind(path) == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    with path.open("rb") as file:
        return sum(1 for line in file if line.strip())


def read_batches(path: Path, start: int = 0, size: int = 512) -> Iterator[list[Row]]:
    """Rows from position ``start`` on, in batches of at most ``size``."""
    if kind(path) == "parquet":
        yield from _parquet_batches(path, start, size)
    else:
        yield from _jsonl_batches(path, start, size)


def parquet_schema(path: Path) -> Any:
    """The Arrow schema of a Parquet file, or ``None`` for JSONL."""
    if kind(path) != "parquet":
        return None
    import pyarrow.parquet as pq

    return pq.read_schema(path)


def jsonl_row(line: bytes) -> Row:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        value = None
    if isinstance(value, dict):
        return value
    return {"raas_line": line.decode("utf-8", "replace").rstrip("\r\n")}


def _jsonl_batches(path: Path, start: int, size: int) -> Iterator[list[Row]]:
    batch: list[Row] = []
    seen = 0
    with path.open("rb") as file:
        for line in file:
            if not line.strip():
                continue
            seen += 1
            if seen <= start:
                continue
            batch.append(jsonl_row(line))
            if len(batch) == size:
                yield batch
                batch = []
    if batch:
        yield batch


def _parquet_batches(path: Path, start: int, size: int) -> Iterator[list[Row]]:
    import pyarrow.parquet as pq

    source = pq.ParquetFile(path)
    groups, skip = [], start
    for index in range(source.num_row_groups):
        rows = source.metadata.row_group(index).num_rows
        if skip >= rows:
            skip -= rows
        else:
            groups.append(index)
    if not groups:
        return
    for batch in source.iter_batches(batch_size=size, row_groups=groups):
        if skip >= batch.num_rows:
            skip -= batch.num_rows
            continue
        yield batch.slice(skip).to_pylist()
        skip = 0


def json_default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
