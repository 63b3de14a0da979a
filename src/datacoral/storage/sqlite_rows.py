"""Row tuples for the SQLite tables: records in, records out, nothing else.

The good-events columns are named after the :class:`GoodEvent` fields, so the
mapping is derived from the dataclass; a test checks it against the schema.
The event id is stored as the UUID's 16 bytes and read back in canonical form.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from operator import attrgetter
from typing import Any

from datacoral.storage.base import BadRow, GoodEvent

_PLAIN_FIELDS = tuple(
    f.name for f in dataclasses.fields(GoodEvent) if f.name not in ("event_id", "extra")
)
#: Column order of good-event rows: event id, the plain fields, then ``extra``.
GOOD_COLUMNS = ("event_id", *_PLAIN_FIELDS, "extra")
_plain_values = attrgetter(*_PLAIN_FIELDS)

INSERT_GOOD = (
    f"INSERT INTO good_events ({', '.join(GOOD_COLUMNS)})"
    f" VALUES ({', '.join('?' * len(GOOD_COLUMNS))})"
    " ON CONFLICT (environment, event_id) DO NOTHING"
)
SELECT_GOOD = f"SELECT rowid, {', '.join(GOOD_COLUMNS)} FROM good_events"

BAD_COLUMNS = ("kind", "reason", "payload", "environment", "event_id", "received_tstamp")
INSERT_BAD = (
    f"INSERT INTO bad_rows ({', '.join(BAD_COLUMNS)}) VALUES ({', '.join('?' * len(BAD_COLUMNS))})"
)
SELECT_BAD = f"SELECT id, {', '.join(BAD_COLUMNS)} FROM bad_rows"

GoodRow = tuple[Any, ...]
BadRowTuple = tuple[str, str, str, str | None, str | None, int]


def event_id_bytes(event_id: str) -> bytes:
    """The 16 stored bytes of a UUID event id; ValueError when it is not a UUID."""
    return uuid.UUID(event_id).bytes


def good_row(event: GoodEvent, event_id: bytes) -> GoodRow:
    """The row tuple for ``event``, whose id is already converted to ``event_id``."""
    extra = json.dumps(event.extra, ensure_ascii=False) if event.extra else None
    values: tuple[Any, ...] = _plain_values(event)
    return (event_id, *values, extra)


def good_event(row: tuple[Any, ...]) -> tuple[int, GoodEvent]:
    """The position and event of a row selected with :data:`SELECT_GOOD`."""
    position, event_id, *plain, extra = row
    values = dict(zip(_PLAIN_FIELDS, plain, strict=True))
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


def event_json(event: GoodEvent) -> str:
    """The event's canonical fields as JSON, used as the payload of its bad rows."""
    values = dataclasses.asdict(event)
    values["fingerprint"] = event.fingerprint.hex()
    return json.dumps(values, ensure_ascii=False, separators=(",", ":"))
