"""Views of stored events for the CLI: counts, tails, one event by id, every event of
a time range page by page (``events export``); and :func:`delete_events`, which
empties one environment (test fixtures' reset).

Nothing here is on the endpoint's path; the queries use the indexes the writer
needs anyway (rowid order, the (environment, event id) identity) and the small
partial index of unvalidated events (migration 2).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from datacoral.storage import sqlite_rows as rows
from datacoral.storage.base import EventCounts, StoredBadRow, StoredEvent
from datacoral.storage.sqlite_admin import require_environment, write_transaction


def count_events(conn: sqlite3.Connection, environment: str | None = None) -> list[EventCounts]:
    """Good, bad, duplicate and unvalidated counts per environment (all, or the one named)."""
    if environment is not None:
        require_environment(conn, environment)
        names: list[str | None] = [environment]
    else:
        names = [
            name
            for (name,) in conn.execute("SELECT name FROM environments ORDER BY created_at, rowid")
        ]
    good = dict(conn.execute("SELECT environment, count(*) FROM good_events GROUP BY environment"))
    bad = dict(conn.execute("SELECT environment, count(*) FROM bad_rows GROUP BY environment"))
    duplicates = dict(conn.execute("SELECT environment, duplicates FROM duplicate_counts"))
    # Read from the partial index good_events_unvalidated (migrations.py), not the table.
    unvalidated = dict(
        conn.execute(
            "SELECT environment, count(*) FROM good_events WHERE schema_validated = 0"
            " GROUP BY environment"
        )
    )
    if environment is None and bad.get(None):
        names.append(None)  # bad rows of requests no environment could be given to
    return [
        EventCounts(
            name,
            good.get(name, 0),
            bad.get(name, 0),
            duplicates.get(name, 0),
            unvalidated.get(name, 0),
        )
        for name in names
    ]


def latest_events(conn: sqlite3.Connection, environment: str, limit: int) -> list[StoredEvent]:
    """The ``limit`` newest good events of ``environment``, oldest first."""
    require_environment(conn, environment)
    found = conn.execute(
        f"{rows.SELECT_GOOD} WHERE environment = ? ORDER BY rowid DESC LIMIT ?",
        (environment, limit),
    ).fetchall()
    return [StoredEvent(*rows.good_event(row)) for row in reversed(found)]


def events_after(
    conn: sqlite3.Connection, environment: str, position: int, limit: int
) -> list[StoredEvent]:
    """Good events of ``environment`` stored after ``position``, oldest first."""
    found = conn.execute(
        f"{rows.SELECT_GOOD} WHERE rowid > ? AND environment = ? ORDER BY rowid LIMIT ?",
        (position, environment, limit),
    )
    return [StoredEvent(*rows.good_event(row)) for row in found]


def latest_bad_rows(conn: sqlite3.Connection, environment: str, limit: int) -> list[StoredBadRow]:
    """The ``limit`` newest bad rows of ``environment``, oldest first."""
    require_environment(conn, environment)
    found = conn.execute(
        f"{rows.SELECT_BAD} WHERE environment = ? ORDER BY id DESC LIMIT ?",
        (environment, limit),
    ).fetchall()
    return [StoredBadRow(*rows.bad_row(row)) for row in reversed(found)]


def bad_rows_after(
    conn: sqlite3.Connection, environment: str, position: int, limit: int
) -> list[StoredBadRow]:
    """Bad rows of ``environment`` stored after ``position``, oldest first."""
    found = conn.execute(
        f"{rows.SELECT_BAD} WHERE environment = ? AND id > ? ORDER BY id LIMIT ?",
        (environment, position, limit),
    )
    return [StoredBadRow(*rows.bad_row(row)) for row in found]


def find_events(conn: sqlite3.Connection, event_id: str) -> list[StoredEvent]:
    """The good events with this id, one per environment that has it."""
    try:
        stored_id = rows.event_id_bytes(event_id)
    except ValueError:
        raise ValueError(f"not an event id (a UUID): {event_id!r}") from None
    # Naming every environment lets SQLite use the (environment, event_id) index.
    found = conn.execute(
        f"{rows.SELECT_GOOD} WHERE environment IN (SELECT name FROM environments)"
        " AND event_id = ? ORDER BY rowid",
        (stored_id,),
    )
    return [StoredEvent(*rows.good_event(row)) for row in found]


def delete_events(conn: sqlite3.Connection, environment: str) -> None:
    """Delete the good events, bad rows and duplicate count of ``environment``; the
    environment, its keys and origins stay. Positions may then start again lower."""
    with write_transaction(conn):
        require_environment(conn, environment)
        for table in ("good_events", "bad_rows", "duplicate_counts"):
            conn.execute(f"DELETE FROM {table} WHERE environment = ?", (environment,))


def event_pages(
    conn: sqlite3.Connection,
    environment: str,
    since: int | None,
    until: int | None,
    page_size: int,
) -> Iterator[list[StoredEvent]]:
    """Good events of ``environment`` whose ``collector_tstamp`` is in [since, until),
    in storage order, ``page_size`` at a time.

    One statement reads them all, stepped a page at a time: memory stays that of one
    page, and the statement's snapshot is the store as it was when reading began. It
    scans the table in rowid order (``NOT INDEXED``): through the (environment,
    event id) index SQLite would have to sort every row before returning the first.
    """
    bounds, values = _time_bounds("collector_tstamp", since, until)
    found = conn.execute(
        f"{rows.SELECT_GOOD} NOT INDEXED WHERE environment = ?{bounds} ORDER BY rowid",
        (environment, *values),
    )
    while page := found.fetchmany(page_size):
        yield [StoredEvent(*rows.good_event(row)) for row in page]


def bad_row_pages(
    conn: sqlite3.Connection,
    environment: str,
    since: int | None,
    until: int | None,
    page_size: int,
) -> Iterator[list[StoredBadRow]]:
    """Bad rows of ``environment`` whose ``received_tstamp`` is in [since, until), in
    storage order (the (environment, id) index), ``page_size`` at a time; one
    statement, as :func:`event_pages`."""
    bounds, values = _time_bounds("received_tstamp", since, until)
    found = conn.execute(
        f"{rows.SELECT_BAD} WHERE environment = ?{bounds} ORDER BY id", (environment, *values)
    )
    while page := found.fetchmany(page_size):
        yield [StoredBadRow(*rows.bad_row(row)) for row in page]


def count_in_range(
    conn: sqlite3.Connection, environment: str, since: int | None, until: int | None, *, bad: bool
) -> int:
    """How many good events (or ``bad`` rows) of ``environment`` :func:`event_pages`
    (or :func:`bad_row_pages`) would read."""
    require_environment(conn, environment)
    column = "received_tstamp" if bad else "collector_tstamp"
    bounds, values = _time_bounds(column, since, until)
    table = "bad_rows" if bad else "good_events"
    # Without bounds the count reads an index; with them every row is read anyway.
    scan = " NOT INDEXED" if bounds and not bad else ""
    row = conn.execute(
        f"SELECT count(*) FROM {table}{scan} WHERE environment = ?{bounds}",
        (environment, *values),
    ).fetchone()
    return int(row[0])


def _time_bounds(column: str, since: int | None, until: int | None) -> tuple[str, tuple[int, ...]]:
    """SQL (to follow a WHERE clause) and parameters for ``since <= column < until``."""
    sql, values = "", tuple[int, ...]()
    if since is not None:
        sql, values = f" AND {column} >= ?", (since,)
    if until is not None:
        sql, values = f"{sql} AND {column} < ?", (*values, until)
    return sql, values
