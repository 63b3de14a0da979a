"""Stored events and bad rows as flat records: the columns every export format writes.

A good event's columns are ``position`` and then the :class:`GoodEvent` fields in
their declared order; a bad row's are ``position`` and the :class:`BadRow` fields.
Each column has a :class:`Kind`, derived from the field's type, that a writer turns
into its format's type (Parquet's timestamp, a CSV cell, a JSON value).
:func:`event_json` is the JSON object ``events show``, ``events tail --json`` and
the NDJSON export print for a good event.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import enum
import functools
import json
from collections.abc import Callable
from operator import attrgetter
from typing import Any, Generic, TypeVar

import orjson

from datacoral.storage.base import BadRow, GoodEvent, StoredBadRow, StoredEvent

Record = TypeVar("Record")


class Kind(enum.Enum):
    """What a column holds, whatever the format writes it as."""

    STRING = "string"
    INTEGER = "integer"
    FLOAT = "float"
    BOOLEAN = "boolean"
    TIMESTAMP = "timestamp"  # integer milliseconds since the epoch, UTC
    JSON = "json"  # JSON text, or (``extra``) a dict of strings
    BINARY = "binary"


@dataclasses.dataclass(frozen=True, slots=True)
class Column:
    """One exported column: its name and what it holds."""

    name: str
    kind: Kind


#: The Python types of the record fields, as their annotations spell them.
_KINDS_OF_TYPES = {
    "str": Kind.STRING,
    "str | None": Kind.STRING,
    "int": Kind.INTEGER,
    "int | None": Kind.INTEGER,
    "float | None": Kind.FLOAT,
    "bool": Kind.BOOLEAN,
    "bytes": Kind.BINARY,
    "dict[str, str]": Kind.JSON,
}
#: Text columns whose text is JSON, which the JSON formats decode.
JSON_TEXT_FIELDS = ("unstruct_event", "contexts")


def _kind(field: dataclasses.Field[Any]) -> Kind:
    if field.name.endswith("_tstamp"):
        return Kind.TIMESTAMP
    if field.name in JSON_TEXT_FIELDS:
        return Kind.JSON
    return _KINDS_OF_TYPES[str(field.type)]


def _columns(record: type[Any]) -> tuple[Column, ...]:
    fields = dataclasses.fields(record)
    return (Column("position", Kind.INTEGER), *(Column(f.name, _kind(f)) for f in fields))


GOOD_COLUMNS = _columns(GoodEvent)
BAD_COLUMNS = _columns(BadRow)
_GOOD_FIELDS = tuple(column.name for column in GOOD_COLUMNS[1:])
_BAD_FIELDS = tuple(column.name for column in BAD_COLUMNS[1:])
_good_values: Callable[[GoodEvent], tuple[Any, ...]] = attrgetter(*_GOOD_FIELDS)
_bad_values: Callable[[BadRow], tuple[Any, ...]] = attrgetter(*_BAD_FIELDS)


def good_values(stored: StoredEvent) -> tuple[Any, ...]:
    """The values of :data:`GOOD_COLUMNS` for one event, as stored (``extra`` a dict)."""
    return (stored.position, *_good_values(stored.event))


def bad_values(stored: StoredBadRow) -> tuple[Any, ...]:
    """The values of :data:`BAD_COLUMNS` for one bad row."""
    return (stored.position, *_bad_values(stored.row))


def event_json(stored: StoredEvent) -> dict[str, Any]:
    """An event as JSON-ready values: JSON columns decoded, the fingerprint in hex."""
    values = dict(zip(_GOOD_FIELDS, _good_values(stored.event), strict=True))
    values = {"position": stored.position, **values}
    values["fingerprint"] = stored.event.fingerprint.hex()
    values["extra"] = dict(stored.event.extra)
    for name in JSON_TEXT_FIELDS:
        text = values[name]
        # Text the collector could not decode stays as it was stored.
        if text is not None:
            with contextlib.suppress(ValueError):
                values[name] = json.loads(text)
    return values


def bad_row_json(stored: StoredBadRow) -> dict[str, Any]:
    """A bad row as JSON-ready values, with its position first."""
    values = dict(zip(_BAD_FIELDS, _bad_values(stored.row), strict=True))
    return {"position": stored.position, **values}


_EPOCH = datetime.datetime(1970, 1, 1)


def iso_timestamp(ms: int) -> str:
    """Milliseconds since the epoch in ISO 8601, UTC (``2026-11-26T12:00:00.123Z``); a
    time past year 9999, which ISO 8601 cannot write, as the number itself."""
    seconds, millis = divmod(ms, 1000)
    second = _iso_second(seconds)
    return f"{second}.{millis:03d}Z" if second else str(ms)


@functools.lru_cache(maxsize=1024)
def _iso_second(seconds: int) -> str:
    # Cached: an export's timestamps come in order, many to a second.
    try:
        return (_EPOCH + datetime.timedelta(seconds=seconds)).isoformat()
    except OverflowError:
        return ""


@dataclasses.dataclass(frozen=True, slots=True)
class Table(Generic[Record]):
    """What an export of one kind of record writes: its columns, their values for a
    record (in column order), and the record as a JSON object."""

    name: str  # what a summary calls the records: "events", "bad rows"
    columns: tuple[Column, ...]
    values: Callable[[Record], tuple[Any, ...]]
    as_json: Callable[[Record], dict[str, Any]]


GOOD_EVENTS: Table[StoredEvent] = Table("events", GOOD_COLUMNS, good_values, event_json)
BAD_ROWS: Table[StoredBadRow] = Table("bad rows", BAD_COLUMNS, bad_values, bad_row_json)


def extra_json(extra: dict[str, str]) -> str | None:
    """An event's ``extra`` fields as JSON text, or None when it has none."""
    if not extra:
        return None
    try:
        return orjson.dumps(extra).decode()
    except TypeError:  # a lone surrogate: orjson refuses it, json writes it as \\uXXXX
        return json.dumps(extra)
