"""What the inspection API reads from the SQLite store: one environment's counts, its
good events as an :class:`~datacoral.storage.base.EventQuery` picks them, its newest bad
rows.

Every read names the environment and is bounded by its limit. Good events are read
newest first by rowid, so a query for the few newest events of a busy environment stops
early; the filters are plain column comparisons, and a context filter looks into the
stored JSON list of contexts with ``json_each``.
"""

from __future__ import annotations

import sqlite3

from datacoral.storage import sqlite_rows as rows
from datacoral.storage.base import EventCounts, EventQuery, StoredBadRow, StoredEvent
from datacoral.storage.sqlite_admin import require_environment

_HAS_CONTEXT = (
    "EXISTS (SELECT 1 FROM json_each(good_events.contexts) AS context"
    " WHERE json_extract(context.value, '$.schema') = ?)"
)


def environment_counts(conn: sqlite3.Connection, environment: str) -> EventCounts:
    """Good, bad, duplicate and unvalidated counts of ``environment``, from its indexes."""
    require_environment(conn, environment)

    def count(sql: str) -> int:
        row = conn.execute(sql, (environment,)).fetchone()
        return int(row[0]) if row is not None and row[0] is not None else 0

    return EventCounts(
        environment,
        good=count("SELECT count(*) FROM good_events WHERE environment = ?"),
        bad=count("SELECT count(*) FROM bad_rows WHERE environment = ?"),
        duplicates=count("SELECT duplicates FROM duplicate_counts WHERE environment = ?"),
        # Read from the partial index good_events_unvalidated (migration 2).
        unvalidated=count(
            "SELECT count(*) FROM good_events WHERE environment = ? AND schema_validated = 0"
        ),
    )


def query_events(
    conn: sqlite3.Connection, environment: str, query: EventQuery
) -> list[StoredEvent]:
    """The good events of ``environment`` that ``query`` picks, newest first."""
    require_environment(conn, environment)
    conditions = ["environment = ?"]
    args: list[object] = [environment]
    if query.event is not None:
        conditions.append("event = ?")
        args.append(query.event)
    if query.schema is not None:
        conditions.append(
            "event_vendor = ? AND event_name = ? AND event_format = ? AND event_version = ?"
        )
        args.extend(query.schema)
    for schema in query.context_schemas:
        conditions.append(_HAS_CONTEXT)
        args.append(schema)
    if query.event_ids:
        conditions.append(f"event_id IN ({', '.join('?' * len(query.event_ids))})")
        args.extend(rows.event_id_bytes(event_id) for event_id in query.event_ids)
    if query.app_id is not None:
        conditions.append("app_id = ?")
        args.append(query.app_id)
    if query.since is not None:
        conditions.append("collector_tstamp >= ?")
        args.append(query.since)
    if query.until is not None:
        conditions.append("collector_tstamp < ?")
        args.append(query.until)
    found = conn.execute(
        f"{rows.SELECT_GOOD} WHERE {' AND '.join(conditions)} ORDER BY rowid DESC LIMIT ?",
        (*args, query.limit),
    )
    return [StoredEvent(*rows.good_event(row)) for row in found]


def recent_bad_rows(conn: sqlite3.Connection, environment: str, limit: int) -> list[StoredBadRow]:
    """The ``limit`` newest bad rows of ``environment``, newest first."""
    require_environment(conn, environment)
    found = conn.execute(
        f"{rows.SELECT_BAD} WHERE environment = ? ORDER BY id DESC LIMIT ?",
        (environment, limit),
    )
    return [StoredBadRow(*rows.bad_row(row)) for row in found]
