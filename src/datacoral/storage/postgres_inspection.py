"""What the inspection API reads from the PostgreSQL store: the twin of
:mod:`.sqlite_inspection`.

Every read names the environment and is bounded by its limit; good events are read
newest first by ``id``. A context filter is one ``jsonb`` containment: the stored list
of contexts must contain an entity of each schema asked for.
"""

from __future__ import annotations

import uuid

import orjson

from datacoral.storage import postgres_rows as rows
from datacoral.storage.base import EventCounts, EventQuery, StoredBadRow, StoredEvent
from datacoral.storage.postgres_admin import Connection, require_environment


def environment_counts(conn: Connection, environment: str) -> EventCounts:
    """Good, bad, duplicate and unvalidated counts of ``environment``, from its indexes."""
    require_environment(conn, environment)

    def count(sql: str) -> int:
        row = conn.execute(sql, (environment,)).fetchone()
        return int(row[0]) if row is not None and row[0] is not None else 0

    return EventCounts(
        environment,
        good=count("SELECT count(*) FROM good_events WHERE environment = %s"),
        bad=count("SELECT count(*) FROM bad_rows WHERE environment = %s"),
        duplicates=count("SELECT duplicates FROM duplicate_counts WHERE environment = %s"),
        # Read from the partial index good_events_unvalidated (postgres_migrations.py).
        unvalidated=count(
            "SELECT count(*) FROM good_events WHERE environment = %s AND NOT schema_validated"
        ),
    )


def query_events(conn: Connection, environment: str, query: EventQuery) -> list[StoredEvent]:
    """The good events of ``environment`` that ``query`` picks, newest first."""
    require_environment(conn, environment)
    conditions = ["environment = %s"]
    args: list[object] = [environment]
    if query.event is not None:
        conditions.append("event = %s")
        args.append(query.event)
    if query.schema is not None:
        conditions.append(
            "event_vendor = %s AND event_name = %s AND event_format = %s AND event_version = %s"
        )
        args.extend(query.schema)
    if query.context_schemas:
        conditions.append("contexts @> %s::jsonb")
        wanted = [{"schema": schema} for schema in query.context_schemas]
        args.append(orjson.dumps(wanted).decode())
    if query.event_ids:
        conditions.append("event_id = ANY(%s)")
        args.append([uuid.UUID(event_id) for event_id in query.event_ids])
    if query.app_id is not None:
        conditions.append("app_id = %s")
        args.append(query.app_id)
    if query.since is not None:
        conditions.append("collector_tstamp >= to_timestamp(%s / 1000.0)")
        args.append(query.since)
    if query.until is not None:
        conditions.append("collector_tstamp < to_timestamp(%s / 1000.0)")
        args.append(query.until)
    found = conn.execute(
        f"{rows.SELECT_GOOD} WHERE {' AND '.join(conditions)} ORDER BY id DESC LIMIT %s",
        (*args, query.limit),
    )
    return [StoredEvent(*rows.good_event(row)) for row in found]


def recent_bad_rows(conn: Connection, environment: str, limit: int) -> list[StoredBadRow]:
    """The ``limit`` newest bad rows of ``environment``, newest first."""
    require_environment(conn, environment)
    found = conn.execute(
        f"{rows.SELECT_BAD} WHERE environment = %s ORDER BY id DESC LIMIT %s",
        (environment, limit),
    )
    return [StoredBadRow(*rows.bad_row(row)) for row in found]
