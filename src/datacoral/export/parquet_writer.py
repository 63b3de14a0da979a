"""Parquet with typed columns, written a row group at a time.

Timestamps are ``timestamp[ms, UTC]``, integers ``int64``, decimals ``float64``,
flags ``bool``, the fingerprint ``binary``, and the self-describing event, the
contexts and the extra fields JSON text (``string``), so DuckDB, Spark or a
warehouse reads the file without a schema of its own. Records are converted to
Arrow a page at a time and written as a row group once :data:`ROW_GROUP_ROWS` of
them are held: memory stays that of one row group, whatever the export's size.

pyarrow is the ``export`` extra's; it is imported only when a Parquet file is
written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic

from datacoral.export.errors import PyArrowMissing
from datacoral.export.output import Sink
from datacoral.export.records import Kind, Record, Table, extra_json

#: A row group is written once this many records, or :data:`ROW_GROUP_BYTES` of their
#: Arrow data, are held: large enough for readers to skip and compress well, small
#: enough that memory stays a few tens of megabytes however wide the events are.
ROW_GROUP_ROWS = 50_000
ROW_GROUP_BYTES = 32 * 1024 * 1024


def require_pyarrow() -> None:
    """Raise :class:`PyArrowMissing` unless Parquet can be written."""
    _pyarrow()


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow  # type: ignore[import-untyped]
        import pyarrow.parquet  # type: ignore[import-untyped]
    except ImportError as exc:
        raise PyArrowMissing() from exc
    return pyarrow, pyarrow.parquet


class ParquetWriter(Generic[Record]):
    """Writes records to one Parquet file (zstd-compressed), a row group at a time."""

    def __init__(
        self, sink: Sink, table: Table[Record], *, row_group_rows: int = ROW_GROUP_ROWS
    ) -> None:
        if row_group_rows < 1:
            raise ValueError(f"row_group_rows must be at least 1, got {row_group_rows}")
        pa, parquet = _pyarrow()
        self._pa = pa
        self._table = table
        self._row_group_rows = row_group_rows
        types = {
            Kind.STRING: pa.string(),
            Kind.INTEGER: pa.int64(),
            Kind.FLOAT: pa.float64(),
            Kind.BOOLEAN: pa.bool_(),
            Kind.TIMESTAMP: pa.timestamp("ms", tz="UTC"),
            Kind.JSON: pa.string(),
            Kind.BINARY: pa.binary(),
        }
        self._schema = pa.schema([pa.field(c.name, types[c.kind]) for c in table.columns])
        self._convert: list[Callable[[Sequence[Any]], Sequence[Any]] | None] = [
            _extra_texts if column.name == "extra" else None for column in table.columns
        ]
        self._writer = parquet.ParquetWriter(sink, self._schema, compression="zstd")
        self._batches: list[Any] = []
        self._held = self._held_bytes = 0

    def write(self, records: Sequence[Record]) -> None:
        if not records:
            return
        values = self._table.values
        columns = zip(*[values(record) for record in records], strict=True)
        arrays = [
            self._array(convert(cells) if convert else cells, field.type)
            for cells, convert, field in zip(columns, self._convert, self._schema, strict=True)
        ]
        batch = self._pa.RecordBatch.from_arrays(arrays, schema=self._schema)
        self._batches.append(batch)
        self._held += len(records)
        self._held_bytes += batch.nbytes
        if self._held >= self._row_group_rows or self._held_bytes >= ROW_GROUP_BYTES:
            self._write_row_group()

    def finish(self) -> None:
        """Write the rows held and the file's footer; the sink stays open."""
        self._write_row_group()
        self._writer.close()

    def _write_row_group(self) -> None:
        if not self._held:
            return
        table = self._pa.Table.from_batches(self._batches, schema=self._schema)
        self._writer.write_table(table, row_group_size=self._held)
        self._batches, self._held, self._held_bytes = [], 0, 0

    def _array(self, cells: Sequence[Any], arrow_type: Any) -> Any:
        pa = self._pa
        try:
            return pa.array(cells, type=arrow_type)
        except (pa.ArrowInvalid, UnicodeEncodeError):
            if arrow_type != pa.string():
                raise
            # A lone surrogate, which a stored text may hold, cannot be UTF-8: escaped.
            return pa.array([_utf8(cell) for cell in cells], type=arrow_type)


def _extra_texts(cells: Sequence[Any]) -> list[str | None]:
    return [extra_json(cell) for cell in cells]


def _utf8(text: str | None) -> str | None:
    if text is None:
        return None
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
