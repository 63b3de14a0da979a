"""Views of stored events for the CLI: counts, tails, one event by id, every event of
a time range page by page (``events export``); and :func:`delete_events`, which
empties one environment (test fixtures' reset).

The PostgreSQL twin of :mod:`.sqlite_queries`. Positions are the tables' ``id``
columns (identity, so they only grow). One caveat SQLite does not have: with
several collectors committing at once, a row can become visible after a row
with a higher ``id``, so ``events tail --follow`` may skip a row committed in
that instant; ``events count`` and ``events show`` always see every row.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from datacoral.storage import postgres_rows as rows
from datacoral.storage.base import AdminError, EventCounts, StoredBadRow, StoredEvent
from datacoral.storage.postgres_admin import Connection, require_environment


def count_events(conn: Connection, environment: str | None = None) -> list[EventCounts]:
    """Good, bad, duplicate and unvalidated counts per environment (all, or the one named)."""
    if environment is not None:
        require_environment(conn, environment)
        names: list[str | None] = [environment]
    else:
        names = [
            name
            for (name,) in conn.execute("SELECT name FROM environments ORDER BY created_at, id")
        ]
    good: dict[str | None, int] = dict(
        conn.execute("SELECT environment, count(*) FROM good_events GROUP BY environment")
    )
    bad: dict[str | None, int] = dict(
        conn.execute("SELECT environment, count(*) FROM bad_rows GROUP BY environment")
    )
    duplicates: dict[str | None, int] = dict(
        conn.execute("SELECT environment, duplicates FROM duplicate_counts")
    )
    # Read from the partial index good_events_unvalidated (postgres_migrations.py).
    unvalidated: dict[str | None, int] = dict(
        conn.execute(
            "SELECT environment, count(*) FROM good_events WHERE NOT schema_validated"
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


def latest_events(conn: Connection, environment: str, limit: int) -> list[StoredEvent]:
    """The ``limit`` newest good events of ``environment``, oldest first."""
    require_environment(conn, environment)
    found = conn.execute(
        f"{rows.SELECT_GOOD} WHERE environment = %s ORDER BY id DESC LIMIT %s",
        (environment, limit),
    ).fetchall()
    return [StoredEvent(*rows.good_event(row)) for row in reversed(found)]


def events_after(
    conn: Connection, environment: str, position: int, limit: int
) -> list[StoredEvent]:
    """Good events of ``environment`` stored after ``position``, oldest first."""
    found = conn.execute(
        f"{rows.SELECT_GOOD} WHERE id > %s AND environment = %s ORDER BY id LIMIT %s",
        (position, environment, limit),
    )
    return [StoredEvent(*rows.good_event(row)) for row in found]


def latest_bad_rows(conn: Connection, environment: str, limit: int) -> list[StoredBadRow]:
    """The ``limit`` newest bad rows of ``environment``, oldest first."""
    require_environment(conn, environment)
    found = conn.execute(
        f"{rows.SELECT_BAD} WHERE environment = %s ORDER BY id DESC LIMIT %s",
        (environment, limit),
    ).fetchall()
    return [StoredBadRow(*rows.bad_row(row)) for row in reversed(found)]


def bad_rows_after(
    conn: Connection, environment: str, position: int, limit: int
) -> list[StoredBadRow]:
    """Bad rows of ``environment`` stored after ``position``, oldest first."""
    found = conn.execute(
        f"{rows.SELECT_BAD} WHERE environment = %s AND id > %s ORDER BY id LIMIT %s",
        (environment, position, limit),
    )
    return [StoredBadRow(*rows.bad_row(row)) for row in found]


def find_events(conn: Connection, event_id: str) -> list[StoredEvent]:
    """The good events with this id, one per environment that has it."""
    try:
        stored_id = uuid.UUID(event_id)
    except ValueError:
        raise ValueError(f"not an event id (a UUID): {event_id!r}") from None
    # Naming every environment lets PostgreSQL use the (environment, event_id) index.
    found = conn.execute(
        f"{rows.SELECT_GOOD} WHERE environment IN (SELECT name FROM environments)"
        " AND event_id = %s ORDER BY id",
        (stored_id,),
    )
    return [StoredEvent(*rows.good_event(row)) for row in found]


def delete_events(conn: Connection, environment: str) -> None:
    """Delete the good events, bad rows and duplicate count of ``environment``; the
    environment, its keys and origins stay."""
    with conn.transaction():
        # Locks the environment's row: it cannot be deleted meanwhile.
        found = conn.execute(
            "SELECT 1 FROM environments WHERE name = %s FOR UPDATE", (environment,)
        ).fetchone()
        if found is None:
            raise AdminError(f"no environment {environment!r}")
        for table in ("good_events", "bad_rows", "duplicate_counts"):
            conn.execute(f"DELETE FROM {table} WHERE environment = %s", (environment,))


def event_pages(
    conn: Connection,
    environment: str,
    since: int | None,
    until: int | None,
    page_size: int,
) -> Iterator[list[StoredEvent]]:
    """Good events of ``environment`` whose ``collector_tstamp`` is in [since, until),
    in storage order, ``page_size`` at a time.

    A server-side cursor, in a transaction of its own on ``conn``, reads them: the
    client holds one page at a time, and the cursor's snapshot (every row committed
    when it opened, whatever order the collectors committed in) stays the same to the
    end. Cursors are planned for their first rows: the scan follows the ``id`` index.
    """
    bounds, values = _time_bounds("collector_tstamp", since, until)
    yield from _pages(
        conn,
        f"{rows.SELECT_GOOD} WHERE environment = %s{bounds} ORDER BY id",
        (environment, *values),
        page_size,
        lambda row: StoredEvent(*rows.good_event(row)),
    )


def bad_row_pages(
    conn: Connection,
    environment: str,
    since: int | None,
    until: int | None,
    page_size: int,
) -> Iterator[list[StoredBadRow]]:
    """Bad rows of ``environment`` whose ``received_tstamp`` is in [since, until), in
    storage order, ``page_size`` at a time; a cursor, as :func:`event_pages`."""
    bounds, values = _time_bounds("received_tstamp", since, until)
    yield from _pages(
        conn,
        f"{rows.SELECT_BAD} WHERE environment = %s{bounds} ORDER BY id",
        (environment, *values),
        page_size,
        lambda row: StoredBadRow(*rows.bad_row(row)),
    )


def count_in_range(
    conn: Connection, environment: str, since: int | None, until: int | None, *, bad: bool
) -> int:
    """How many good events (or ``bad`` rows) of ``environment`` :func:`event_pages`
    (or :func:`bad_row_pages`) would read."""
    require_environment(conn, environment)
    column = "received_tstamp" if bad else "collector_tstamp"
    bounds, values = _time_bounds(column, since, until)
    table = "bad_rows" if bad else "good_events"
    row = conn.execute(
        f"SELECT count(*) FROM {table} WHERE environment = %s{bounds}",
        (environment, *values),
    ).fetchone()
    return int(row[0]) if row is not None else 0


Record = TypeVar("Record")


def _pages(
    conn: Connection,
    query: str,
    params: tuple[object, ...],
    page_size: int,
    record: Callable[[tuple[Any, ...]], Record],
) -> Iterator[list[Record]]:
    with conn.transaction(), conn.cursor(name="datacoral_export") as cursor:
        cursor.itersize = page_size
        cursor.execute(query, params)
        while page := cursor.fetchmany(page_size):
            yield [record(row) for row in page]


def _time_bounds(column: str, since: int | None, until: int | None) -> tuple[str, tuple[int, ...]]:
    """SQL (to follow a WHERE clause) and parameters for ``since <= column < until``.
    The bounds become timestamps as the stored times did (postgres_rows.py), so a row
    stamped at a bound compares equal to it."""
    sql, values = "", tuple[int, ...]()
    if since is not None:
        sql, values = f" AND {column} >= to_timestamp(%s / 1000.0)", (since,)
    if until is not None:
        sql, values = f"{sql} AND {column} < to_timestamp(%s / 1000.0)", (*values, until)
    return sql, values
