"""Row tuples for the SQLite tables: records in, records out, nothing else.

The good-events columns are named after the :class:`GoodEvent` fields, so the
mapping is derived from the dataclass; a test checks it against the schema.
The event id is stored as the UUID's 16 bytes and read back in canonical form.

Good events are inserted many rows per statement (:func:`insert_good_statement`):
Python's sqlite3 releases the GIL around every step, and ``executemany`` steps
once per row, so under load the writer thread would wait for the GIL (up to the
5 ms switch interval) once per row while the event loop holds it. Binding a
parameter holds the GIL too: ``int``, ``float``, ``str`` and ``bytearray`` bind
directly (30-150 ns), while ``None``, ``bytes`` and ``bool`` go through the
adapter registry first (400-650 ns each, most of it building and clearing two
AttributeErrors). Good-event rows therefore carry :data:`NULL` (a NaN, which
SQLite stores as NULL) for absent values, ``bytearray`` for blobs and ``int``
for flags; and the struct-event and ecommerce columns, absent from most events,
are left out of the statement when no row of the chunk uses them.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import sys
import uuid
from operator import attrgetter
from typing import Any

import orjson

from datacoral.storage.base import BadRow, GoodEvent
from datacoral.storage.duplicates import event_id_bytes as event_id_bytes
from datacoral.storage.duplicates import event_json as event_json

_PLAIN_FIELDS = tuple(
    f.name for f in dataclasses.fields(GoodEvent) if f.name not in ("event_id", "extra")
)
#: Struct-event and ecommerce columns: present in few events.
_OPTIONAL_FIELDS = tuple(f for f in _PLAIN_FIELDS if f.startswith(("se_", "tr_", "ti_")))
_COMMON_FIELDS = tuple(f for f in _PLAIN_FIELDS if f not in _OPTIONAL_FIELDS)
#: Column order of good-event rows: event id, the common fields, ``extra``, then
#: the optional fields, which a *lean* row (:data:`LEAN_WIDTH` values) leaves out.
GOOD_COLUMNS = ("event_id", *_COMMON_FIELDS, "extra", *_OPTIONAL_FIELDS)
LEAN_WIDTH = len(_COMMON_FIELDS) + 2
_common_values = attrgetter(*_COMMON_FIELDS)
_optional_values = attrgetter(*_OPTIONAL_FIELDS)
_FINGERPRINT = _COMMON_FIELDS.index("fingerprint")
_SCHEMA_VALIDATED = _COMMON_FIELDS.index("schema_validated")

#: What a row binds for an absent value: SQLite stores a NaN as NULL (a test checks
#: it), and a float skips the adapter registry that a ``None`` goes through.
NULL = float("nan")
NO_OPTIONAL_VALUES: tuple[float, ...] = (NULL,) * len(_OPTIONAL_FIELDS)
_NO_OPTIONAL_FIELDS: tuple[None, ...] = (None,) * len(_OPTIONAL_FIELDS)

SELECT_GOOD = f"SELECT rowid, {', '.join(GOOD_COLUMNS)} FROM good_events"

#: Rows per multi-row INSERT: powers of two, so that few statements are ever
#: prepared (each is cached by the connection); a shorter chunk is padded with
#: rows of zeros (cheap to bind), which the statement's WHERE drops.
STATEMENT_ROWS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
#: SQLite's bound-parameter limit before 3.32, assumed when it cannot be asked.
_OLD_VARIABLE_LIMIT = 999

BAD_COLUMNS = ("kind", "reason", "payload", "environment", "event_id", "received_tstamp")
INSERT_BAD = (
    f"INSERT INTO bad_rows ({', '.join(BAD_COLUMNS)}) VALUES ({', '.join('?' * len(BAD_COLUMNS))})"
)
SELECT_BAD = f"SELECT id, {', '.join(BAD_COLUMNS)} FROM bad_rows"

GoodRow = tuple[Any, ...]
BadRowTuple = tuple[str, str, str, str | None, str | None, int]


def _extra_json(extra: dict[str, str]) -> str:
    try:
        return orjson.dumps(extra).decode()
    except TypeError:  # e.g. a lone surrogate: orjson refuses it, json escapes it as \uXXXX
        return json.dumps(extra)


def good_row(event: GoodEvent, event_id: bytes) -> GoodRow:
    """The row tuple for ``event``, whose id is already converted to ``event_id``:
    lean (without the optional columns) when the event has none of them. Values are
    in their cheapest form to bind (see the module's docstring)."""
    common = [NULL if value is None else value for value in _common_values(event)]
    common[_FINGERPRINT] = bytearray(event.fingerprint)
    common[_SCHEMA_VALIDATED] = int(event.schema_validated)
    extra = _extra_json(event.extra) if event.extra else NULL
    optional: tuple[Any, ...] = _optional_values(event)
    if optional == _NO_OPTIONAL_FIELDS:
        return (bytearray(event_id), *common, extra)
    return (
        bytearray(event_id),
        *common,
        extra,
        *[NULL if value is None else value for value in optional],
    )


def max_statement_rows(conn: sqlite3.Connection) -> int:
    """The most rows one multi-row INSERT may carry on ``conn`` (a :data:`STATEMENT_ROWS` size)."""
    if sys.version_info >= (3, 11):
        limit = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    else:  # the default limit of the SQLite version (a build may lower it; none do in practice)
        limit = 32766 if sqlite3.sqlite_version_info >= (3, 32, 0) else _OLD_VARIABLE_LIMIT
    fitting = [size for size in STATEMENT_ROWS if size * len(GOOD_COLUMNS) <= limit]
    return fitting[-1]


def statement_rows(count: int) -> int:
    """The statement size that carries ``count`` rows (at most the largest size) with padding."""
    for size in STATEMENT_ROWS:
        if size >= count:
            return size
    return STATEMENT_ROWS[-1]


def insert_good_statement(rows: int, *, lean: bool) -> str:
    """An INSERT of ``rows`` rows (lean ones: without the optional columns) that skips
    padding rows (``event_id`` 0) and leaves (environment, event id) pairs already
    stored alone."""
    columns = GOOD_COLUMNS[:LEAN_WIDTH] if lean else GOOD_COLUMNS
    row = f"({', '.join('?' * len(columns))})"
    return (
        f"INSERT INTO good_events ({', '.join(columns)})"
        f" SELECT * FROM (VALUES {', '.join([row] * rows)}) WHERE column1 IS NOT 0"
        " ON CONFLICT (environment, event_id) DO NOTHING"
    )


def good_event(row: tuple[Any, ...]) -> tuple[int, GoodEvent]:
    """The position and event of a row selected with :data:`SELECT_GOOD`."""
    position, event_id, *common = row[: LEAN_WIDTH + 1]
    extra = common.pop()
    values = dict(zip(_COMMON_FIELDS, common, strict=True))
    values.update(zip(_OPTIONAL_FIELDS, row[LEAN_WIDTH + 1 :], strict=True))
    values["schema_validated"] = bool(values["schema_validated"])
    event = GoodEvent(
        event_id=str(uuid.UUID(bytes=event_id)),
        extra=json.loads(extra) if extra else {},
        **values,
    )
    return int(position), event


def bad_row_tuple(row: BadRow) -> BadRowTuple:
    return (
        row.kind,
        row.reason,
        row.payload,
        row.environment,
        row.event_id,
        row.received_tstamp,
    )


def bad_row(row: tuple[Any, ...]) -> tuple[int, BadRow]:
    """The position and bad row of a row selected with :data:`SELECT_BAD`."""
    position, kind, reason, payload, environment, event_id, received = row
    return int(position), BadRow(
        reason=reason,
        payload=payload,
        received_tstamp=received,
        environment=environment,
        event_id=event_id,
        kind=kind,
    )
