"""Records in and out of the PostgreSQL tables.

A batch of rows travels as one parameter: the records as a JSON array, which
``json_to_recordset`` turns into rows on the server. Encoding a batch is one
``orjson.dumps`` call (about a microsecond of client CPU per event), where a
parameter per value through ``executemany`` costs some twenty. Timestamps
travel as integer milliseconds and become ``timestamptz`` in the statement; the
self-describing event and contexts travel as the JSON text the collector
produced and become ``jsonb``.

PostgreSQL cannot store every string SQLite can: text and ``jsonb`` refuse the
character U+0000, and ``timestamptz`` ends before 4713 BC. :func:`unstorable`
names what an event would break, so the writer keeps it as a bad row instead.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import orjson

from datacoral.storage.base import BadRow, GoodEvent

_FIELDS = tuple(f.name for f in dataclasses.fields(GoodEvent))
_TIMESTAMPS = frozenset(f for f in _FIELDS if f.endswith("_tstamp"))
_JSON_TEXT = frozenset(("unstruct_event", "contexts"))
_FLOATS = frozenset(("se_value", "tr_total", "tr_tax", "tr_shipping", "ti_price"))
_INTEGERS = frozenset(("domain_sessionidx", "ti_quantity"))
#: The earliest instant ``timestamptz`` holds (4713-11-24 BC), in ms since the epoch.
EARLIEST_MS = -210_866_803_200_000
_NUL = b"\\u0000"


def _record_type(name: str) -> str:
    if name == "event_id":
        return "uuid"
    if name in _TIMESTAMPS or name in _INTEGERS:
        return "bigint"
    if name in _FLOATS:
        return "float8"
    if name == "schema_validated":
        return "boolean"
    if name == "extra":
        return "jsonb"
    return "text"


def _stored_value(name: str) -> str:
    """The SQL that turns record field ``name`` into its column's value."""
    if name in _TIMESTAMPS:
        return f"to_timestamp(r.{name} / 1000.0)"
    if name in _JSON_TEXT:
        return f"r.{name}::jsonb"
    if name == "fingerprint":
        return "decode(r.fingerprint, 'hex')"
    if name == "extra":
        return "nullif(r.extra, '{}'::jsonb)"
    return f"r.{name}"


def _read_value(name: str) -> str:
    """The SQL that reads column ``name`` back as the record field wants it."""
    if name in _TIMESTAMPS:
        return f"(extract(epoch FROM {name}) * 1000)::bigint"
    if name in _JSON_TEXT or name == "event_id":
        return f"{name}::text"
    return name


_COLUMNS = [name for name in _FIELDS]
INSERT_GOOD = (
    f"INSERT INTO good_events ({', '.join(_COLUMNS)})"
    f" SELECT {', '.join(_stored_value(name) for name in _COLUMNS)}"
    " FROM json_to_recordset(%s::json)"
    f" AS r({', '.join(f'{name} {_record_type(name)}' for name in _COLUMNS)})"
    " ON CONFLICT (environment, event_id) DO NOTHING"
    " RETURNING environment, event_id::text"
)
SELECT_GOOD = f"SELECT id, {', '.join(_read_value(name) for name in _COLUMNS)} FROM good_events"

BAD_COLUMNS = ("kind", "reason", "payload", "environment", "event_id", "received_tstamp")
INSERT_BAD = (
    f"INSERT INTO bad_rows ({', '.join(BAD_COLUMNS)})"
    " SELECT r.kind, r.reason, r.payload, r.environment, r.event_id,"
    " to_timestamp(r.received_tstamp / 1000.0)"
    " FROM json_to_recordset(%s::json) AS r(kind text, reason text, payload text,"
    " environment text, event_id text, received_tstamp bigint)"
)
SELECT_BAD = (
    f"SELECT id, {', '.join(BAD_COLUMNS[:-1])},"
    " (extract(epoch FROM received_tstamp) * 1000)::bigint FROM bad_rows"
)


def _hex(value: object) -> str:
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError


def good_json(events: list[GoodEvent]) -> bytes:
    """The events as the JSON array :data:`INSERT_GOOD` takes."""
    return orjson.dumps(events, default=_hex)


def bad_json(rows: list[BadRow]) -> bytes:
    """The bad rows as the JSON array :data:`INSERT_BAD` takes, made storable: a NUL
    character, or a lone surrogate should one reach here, is written as an escape."""
    try:
        encoded = orjson.dumps(rows)
    except orjson.JSONEncodeError:
        encoded = b""
    if encoded and _NUL not in encoded:
        return encoded
    return orjson.dumps([_storable_bad_row(row) for row in rows])


def try_good_json(events: list[GoodEvent]) -> bytes | None:
    """:func:`good_json`, or None when some event holds what PostgreSQL cannot store
    (U+0000, or a lone surrogate, which the encoder refuses)."""
    try:
        payload = good_json(events)
    except orjson.JSONEncodeError:
        return None
    return None if _NUL in payload else payload


def unstorable(event: GoodEvent) -> str | None:
    """Why PostgreSQL cannot store ``event`` as it is, or None when it can."""
    if event.derived_tstamp < EARLIEST_MS:
        return "derived_tstamp: before 4713 BC, the earliest time PostgreSQL stores"
    for name in _FIELDS:
        value = getattr(event, name)
        if isinstance(value, str):
            try:
                text = json.loads(value) if name in _JSON_TEXT else value
            except ValueError:
                text = value
            found = _unstorable_text(text)
            if found:
                return f"{name}: holds {found}, which PostgreSQL cannot store"
    found = _unstorable_text(event.extra)
    if found:
        return f"a field without a column of its own holds {found}, which PostgreSQL cannot store"
    return None


def _unstorable_text(value: Any) -> str | None:
    """What in ``value`` (text, or JSON decoded) PostgreSQL's text and jsonb refuse."""
    if isinstance(value, str):
        if "\x00" in value:
            return "the character U+0000"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "a lone surrogate (half of a UTF-16 pair)"
        return None
    if isinstance(value, dict):
        items: list[Any] = [*value.keys(), *value.values()]
        return next((found for item in items if (found := _unstorable_text(item))), None)
    if isinstance(value, list):
        return next((found for item in value if (found := _unstorable_text(item))), None)
    return None


def _storable(text: str | None) -> str | None:
    if text is None:
        return None
    return text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")


def _storable_bad_row(row: BadRow) -> dict[str, Any]:
    return {
        "kind": _storable(row.kind),
        "reason": _storable(row.reason),
        "payload": _storable(row.payload),
        "environment": _storable(row.environment),
        "event_id": _storable(row.event_id),
        "received_tstamp": row.received_tstamp,
    }


def good_event(row: tuple[Any, ...]) -> tuple[int, GoodEvent]:
    """The position and event of a row selected with :data:`SELECT_GOOD`."""
    values = dict(zip(_COLUMNS, row[1:], strict=True))
    values["fingerprint"] = bytes(values["fingerprint"])
    values["extra"] = values["extra"] or {}
    return int(row[0]), GoodEvent(**values)


def bad_row(row: tuple[Any, ...]) -> tuple[int, BadRow]:
    """The position and bad row of a row selected with :data:`SELECT_BAD`."""
    position, kind, reason, payload, environment, event_id, received = row
    return int(position), BadRow(
        reason=reason,
        payload=payload,
        received_tstamp=int(received),
        environment=environment,
        event_id=event_id,
        kind=kind,
    )
