"""Rows written to JSONL or Parquet, in order and resumably.

Rows are written in input order, so what a killed run leaves is a prefix, and a restart skips
exactly that many input rows:

- JSONL: the output is its own journal, flushed per batch; a torn last line (killed mid-write) is
  cut off on restart. orjson writes it, keys in the row's order, bytes as base64 text.
- Parquet cannot be appended to: rows go to ``OUT.parts/`` as parts of exactly ``part_rows`` rows,
  each written under a temporary name and renamed (a part is whole or absent). When the input is
  done the parts are copied into ``OUT``, one row group each, and removed. Parts are cut at the
  same rows in a resumed run, so it writes the same bytes as an uninterrupted one.
- Column types in Parquet: a Parquet input's own plus the result columns; from JSONL, what pyarrow
  infers from the first part, a column whose values mix types there (``ground_truth`` as text for
  one task and boxes for another) as JSON text (named in the schema's ``raas.json_columns``
  metadata). A later row that does not fit stops the run with a message, and keys absent from the
  first part are not kept: write JSONL for rows whose shape varies along the file. Columns named
  in ``json_columns`` (free-form objects) are stored as JSON text in Parquet.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import orjson

from reward_service.offline.tables import Row, TableError, json_default, jsonl_row, kind

JSON_META = b"raas.json_columns"  # JSONL columns of mixed types, kept as JSON text in Parquet


def jsonl_line(row: Row) -> bytes:
    return orjson.dumps(row, default=json_default, option=orjson.OPT_APPEND_NEWLINE)


class Sink(Protocol):
    """Where rows go, in order; ``done`` rows were already there when it was opened."""

    done: int

    def write(self, rows: list[Row]) -> None: ...

    def finish(self) -> None:
        """Every row is written: complete the file."""

    def abort(self) -> None:
        """Stop here, leaving what is written to be resumed."""


class JsonlSink:
    def __init__(self, path: Path, fresh: bool = False) -> None:
        self.path = path
        if fresh:
            path.unlink(missing_ok=True)
        self.done = _cut_torn_tail(path) if path.exists() else 0
        self._file = path.open("ab")

    def last_row(self) -> Row | None:
        """The last complete row already in the file (to check it belongs to this input)."""
        if not self.done:
            return None
        with self.path.open("rb") as file:
            file.seek(max(0, self.path.stat().st_size - (1 << 20)))
            return jsonl_row(file.read().rstrip(b"\n").rsplit(b"\n", 1)[-1])

    def write(self, rows: list[Row]) -> None:
        self._file.write(b"".join(jsonl_line(row) for row in rows))
        self._file.flush()

    def finish(self) -> None:
        self._file.close()

    def abort(self) -> None:
        self._file.close()


def _cut_torn_tail(path: Path) -> int:
    """Complete lines in ``path``, after truncating a last line without its newline."""
    lines, end = 0, 0
    with path.open("rb") as file:
        offset = 0
        for line in file:
            offset += len(line)
            if line.endswith(b"\n"):
                lines, end = lines + 1, offset
    if end != path.stat().st_size:
        with path.open("r+b") as file:
            file.truncate(end)
    return lines


class ParquetSink:
    """Parts of ``part_rows`` rows under ``OUT.parts/``, gathered into ``OUT`` by ``finish``."""

    def __init__(
        self,
        path: Path,
        base: Any,
        extra: Any,
        part_rows: int = 2048,
        json_columns: Iterable[str] = (),
        fresh: bool = False,
    ) -> None:
        import pyarrow as pa

        self.path, self.parts = path, path.with_name(path.name + ".parts")
        self.part_rows, self.json_columns = part_rows, tuple(json_columns)
        self._extra: pa.Schema = extra
        if fresh:
            path.unlink(missing_ok=True)
            shutil.rmtree(self.parts, ignore_errors=True)
        self.complete = path.exists() and not self.parts.exists()
        self.schema: pa.Schema | None = None if base is None else self._full(base)
        self._buffer: list[Row] = []
        self.done = self._existing()

    def _full(self, base: Any) -> Any:
        import pyarrow as pa

        names = set(self._extra.names)
        fields = [f for f in base if f.name not in names]
        return pa.schema([*fields, *self._extra])

    def _part_files(self) -> list[Path]:
        return sorted(self.parts.glob("part-*.parquet")) if self.parts.exists() else []

    def _existing(self) -> int:
        import pyarrow.parquet as pq

        if self.complete:
            return int(pq.ParquetFile(self.path).metadata.num_rows)
        files = self._part_files()
        sizes = [pq.ParquetFile(f).metadata.num_rows for f in files]
        if any(size != self.part_rows for size in sizes[:-1]):
            raise TableError(f"{self.parts}: parts of another size than --part-rows")
        if files:
            self.schema = pq.read_schema(files[0])
            mixed = (self.schema.metadata or {}).get(JSON_META, b"[]")
            self.json_columns = (*self.json_columns, *orjson.loads(mixed))
        return sum(sizes)

    def _inferred(self, rows: list[Row]) -> Any:
        """Columns of the first part: pyarrow's type, or JSON text where values mix types."""
        import pyarrow as pa

        names = dict.fromkeys(k for row in rows for k in row if k not in self._extra.names)
        fields, mixed = [], []
        for name in names:
            try:
                found = pa.array([row.get(name) for row in rows]).type
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                found = pa.string()
                mixed.append(name)
            fields.append(pa.field(name, pa.string() if pa.types.is_null(found) else found))
        self.json_columns = (*self.json_columns, *mixed)
        meta = {JSON_META: orjson.dumps(mixed)}
        return pa.schema([*fields, *self._extra], metadata=meta)

    def write(self, rows: list[Row]) -> None:
        if self.complete:
            raise TableError(f"{self.path} is complete already; remove it to write again")
        self._buffer.extend(rows)
        while len(self._buffer) >= self.part_rows:
            self._flush(self._buffer[: self.part_rows])
            del self._buffer[: self.part_rows]

    def _flush(self, rows: list[Row]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self.schema is None:
            self.schema = self._inferred(rows)
        for row in rows:
            for name in self.json_columns:
                if row.get(name) is not None:
                    row[name] = orjson.dumps(row[name], default=json_default).decode()
        try:
            table = pa.Table.from_pylist(rows, schema=self.schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise TableError(
                f"a row does not fit the Parquet columns ({exc}); write JSONL"
            ) from exc
        self.parts.mkdir(parents=True, exist_ok=True)
        final = self.parts / f"part-{self.done // self.part_rows:08d}.parquet"
        temporary = final.with_suffix(".tmp")
        pq.write_table(table, temporary)
        os.replace(temporary, final)
        self.done += len(rows)

    def abort(self) -> None:
        self._buffer = []  # rows short of a part are scored again on resume

    def finish(self) -> None:
        """Write what is buffered as the last part, then gather the parts into ``OUT``."""
        import pyarrow.parquet as pq

        if self.complete:
            return
        if self._buffer:
            self._flush(self._buffer)
            self._buffer = []
        files = self._part_files()
        if not files:
            if self.schema is None:
                raise TableError(f"{self.path}: no rows to write")
            pq.write_table(self.schema.empty_table(), self.path)
            return
        temporary = self.path.with_name(self.path.name + ".tmp")
        with pq.ParquetWriter(temporary, pq.read_schema(files[0])) as writer:
            for file in files:
                writer.write_table(pq.read_table(file))
        os.replace(temporary, self.path)
        shutil.rmtree(self.parts)
        self.complete = True


def open_sink(
    path: Path,
    base: Any,
    extra: Any,
    *,
    part_rows: int = 2048,
    json_columns: Iterable[str] = (),
    fresh: bool = False,
) -> JsonlSink | ParquetSink:
    """A sink for ``path``'s format; ``base``/``extra`` (Arrow schemas) matter for Parquet."""
    if kind(path) == "jsonl":
        return JsonlSink(path, fresh)
    return ParquetSink(path, base, extra, part_rows, json_columns, fresh)
