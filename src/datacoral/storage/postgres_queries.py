"""Views of stored events for the CLI: counts, tails, one event by id; and
:func:`delete_events`, which empties one environment (test fixtures' reset).

The PostgreSQL twin of :mod:`.sqlite_queries`. Positions are the tables' ``id``
columns (identity, so they only grow). One caveat SQLite does not have: with
several collectors committing at once, a row can become visible after a row
with a higher ``id``, so ``events tail --follow`` may skip a row committed in
that instant; ``events count`` and ``events show`` always see every row.
"""

from __future__ import annotations

import uuid

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
