"""CSV: a header of column names, then one line per record (RFC 4180, UTF-8).

Cells are text: timestamps in ISO 8601 UTC with milliseconds, booleans ``true`` /
``false``, the fingerprint in hex, JSON columns as JSON text, an absent value (and
an event without extra fields) as an empty cell.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from typing import Any, Generic

from datacoral.export.output import Sink
from datacoral.export.records import Kind, Record, Table, extra_json, iso_timestamp


def _boolean(value: bool) -> str:
    return "true" if value else "false"


def _json(value: str | dict[str, str]) -> str | None:
    return value if isinstance(value, str) else extra_json(value)  # text: as stored


def _hex(value: bytes) -> str:
    return value.hex()


#: How a cell is written, for the kinds the csv module does not write as wanted itself.
_CELLS: dict[Kind, Callable[[Any], str | None]] = {
    Kind.TIMESTAMP: iso_timestamp,
    Kind.BOOLEAN: _boolean,
    Kind.JSON: _json,
    Kind.BINARY: _hex,
}


class CSVWriter(Generic[Record]):
    """Writes the header at once, then each record as one CSV line."""

    def __init__(self, sink: Sink, table: Table[Record]) -> None:
        self._sink = sink
        self._table = table
        self._cells = [
            (index, _CELLS[column.kind])
            for index, column in enumerate(table.columns)
            if column.kind in _CELLS
        ]
        self._write_lines([[column.name for column in table.columns]])

    def write(self, records: Sequence[Record]) -> None:
        values = self._table.values
        self._write_lines([self._line(values(record)) for record in records])

    def finish(self) -> None:
        self._sink.flush()

    def _write_lines(self, lines: list[list[Any]]) -> None:
        text = io.StringIO()
        csv.writer(text).writerows(lines)
        # A lone surrogate (which a stored text may hold) cannot be UTF-8: written escaped.
        self._sink.write(text.getvalue().encode("utf-8", "backslashreplace"))

    def _line(self, values: tuple[Any, ...]) -> list[Any]:
        line = list(values)
        for index, cell in self._cells:
            value = line[index]
            if value is not None:
                line[index] = cell(value)
        return line
