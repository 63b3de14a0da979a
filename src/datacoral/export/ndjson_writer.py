"""NDJSON: one JSON object per line, as ``events tail --json`` prints them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Generic

import orjson

from datacoral.export.output import Sink
from datacoral.export.records import Record, Table


class NDJSONWriter(Generic[Record]):
    """Writes each record as one line of compact JSON (UTF-8, ``\\n`` after each)."""

    def __init__(self, sink: Sink, table: Table[Record]) -> None:
        self._sink = sink
        self._table = table

    def write(self, records: Sequence[Record]) -> None:
        as_json = self._table.as_json
        self._sink.write(b"".join([_line(as_json(record)) for record in records]))

    def finish(self) -> None:
        self._sink.flush()


def _line(value: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(value, option=orjson.OPT_APPEND_NEWLINE)
    except (TypeError, orjson.JSONEncodeError):
        # orjson refuses what the standard library writes: a lone surrogate (as \\udXXX)
        # and an integer wider than 64 bits, either possible in a decoded context.
        return json.dumps(value, separators=(",", ":")).encode() + b"\n"
