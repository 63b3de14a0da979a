"""The export formats, and the one interface their writers share."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Protocol, TypeVar

from datacoral.export.csv_writer import CSVWriter
from datacoral.export.ndjson_writer import NDJSONWriter
from datacoral.export.output import Sink
from datacoral.export.parquet_writer import ROW_GROUP_ROWS, ParquetWriter
from datacoral.export.records import Record, Table

Record_contra = TypeVar("Record_contra", contravariant=True)


class Format(enum.Enum):
    """What an export writes."""

    NDJSON = "ndjson"
    CSV = "csv"
    PARQUET = "parquet"


class Writer(Protocol[Record_contra]):
    """Writes records of one table to a binary sink, page by page."""

    def write(self, records: Sequence[Record_contra]) -> None:
        """Write (or hold, for a Parquet row group) one page of records."""

    def finish(self) -> None:
        """Write what is held and what ends the file; the sink stays open."""


def open_writer(
    file_format: Format,
    sink: Sink,
    table: Table[Record],
    *,
    row_group_rows: int = ROW_GROUP_ROWS,
) -> Writer[Record]:
    """A writer of ``table`` in ``file_format`` to ``sink`` (CSV writes its header at
    once); ``row_group_rows`` is Parquet's records per row group."""
    if file_format is Format.NDJSON:
        return NDJSONWriter(sink, table)
    if file_format is Format.CSV:
        return CSVWriter(sink, table)
    return ParquetWriter(sink, table, row_group_rows=row_group_rows)
