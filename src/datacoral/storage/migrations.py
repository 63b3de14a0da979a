"""Versioned schema of the SQLite store.

The version lives in ``PRAGMA user_version``. Each migration runs once, in its
own write transaction, and is never edited after release: a schema change is a
new function appended to :data:`MIGRATIONS`. Migration 1 creates everything and
the default environments; migration 2 gives each environment its schema validation
mode (``lenient`` for the environments that exist) and indexes the good events stored
unvalidated, which ``events count`` counts; migration 3 adds the admin tokens; migration 4
gives environments and keys their rate limits (none for those that exist).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from datacoral.admin.environments import DEFAULT_ENVIRONMENTS
from datacoral.storage.base import StorageError

_SCHEMA_1 = (
    """
    CREATE TABLE environments (
        name TEXT PRIMARY KEY,
        created_at INTEGER NOT NULL
    )
    """,
    """
    CREATE TABLE environment_origins (
        environment TEXT NOT NULL,
        origin TEXT NOT NULL,
        PRIMARY KEY (environment, origin)
    )
    """,
    """
    CREATE TABLE api_keys (
        key_id TEXT PRIMARY KEY,
        key_hash BLOB NOT NULL UNIQUE,
        environment TEXT NOT NULL,
        label TEXT,
        prefix TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        last_used_at INTEGER,
        revoked_at INTEGER
    )
    """,
    # A rowid table: its rowid orders events by arrival for `events tail`.
    # event_id is the UUID's 16 bytes (see the note in sqlite.py).
    """
    CREATE TABLE good_events (
        event_id BLOB NOT NULL,
        environment TEXT NOT NULL,
        fingerprint BLOB NOT NULL,
        platform TEXT NOT NULL,
        event TEXT NOT NULL,
        collector_tstamp INTEGER NOT NULL,
        derived_tstamp INTEGER NOT NULL,
        app_id TEXT,
        name_tracker TEXT,
        v_tracker TEXT,
        event_vendor TEXT,
        event_name TEXT,
        event_format TEXT,
        event_version TEXT,
        dvce_created_tstamp INTEGER,
        dvce_sent_tstamp INTEGER,
        true_tstamp INTEGER,
        user_id TEXT,
        domain_userid TEXT,
        network_userid TEXT,
        domain_sessionid TEXT,
        domain_sessionidx INTEGER,
        user_ipaddress TEXT,
        useragent TEXT,
        page_url TEXT,
        page_title TEXT,
        page_referrer TEXT,
        se_category TEXT,
        se_action TEXT,
        se_label TEXT,
        se_property TEXT,
        se_value REAL,
        tr_orderid TEXT,
        tr_affiliation TEXT,
        tr_total REAL,
        tr_tax REAL,
        tr_shipping REAL,
        tr_city TEXT,
        tr_state TEXT,
        tr_country TEXT,
        tr_currency TEXT,
        ti_orderid TEXT,
        ti_sku TEXT,
        ti_name TEXT,
        ti_category TEXT,
        ti_price REAL,
        ti_quantity INTEGER,
        ti_currency TEXT,
        unstruct_event TEXT,
        contexts TEXT,
        schema_validated INTEGER NOT NULL,
        extra TEXT
    )
    """,
    "CREATE UNIQUE INDEX good_events_identity ON good_events (environment, event_id)",
    """
    CREATE TABLE bad_rows (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        reason TEXT NOT NULL,
        payload TEXT NOT NULL,
        environment TEXT,
        event_id TEXT,
        received_tstamp INTEGER NOT NULL
    )
    """,
    "CREATE INDEX bad_rows_environment ON bad_rows (environment, id)",
    """
    CREATE TABLE duplicate_counts (
        environment TEXT PRIMARY KEY,
        duplicates INTEGER NOT NULL
    )
    """,
)


def _migration_1(conn: sqlite3.Connection) -> None:
    for statement in _SCHEMA_1:
        conn.execute(statement)
    conn.executemany(
        "INSERT INTO environments (name, created_at)"
        " VALUES (?, CAST(strftime('%s', 'now') AS INTEGER) * 1000)",
        [(name,) for name in DEFAULT_ENVIRONMENTS],
    )


def _migration_2(conn: sqlite3.Connection) -> None:
    # What the environment does with Iglu schemas (datacoral.admin.environments).
    conn.execute(
        "ALTER TABLE environments ADD COLUMN validation TEXT NOT NULL DEFAULT 'lenient'"
        " CHECK (validation IN ('strict', 'lenient', 'off'))"
    )
    # Counting the unvalidated events by scanning the table would take seconds per
    # million events; this index holds only them (validated events never touch it), and
    # its entries are appended in rowid order, so an insert pays little for it.
    conn.execute(
        "CREATE INDEX good_events_unvalidated ON good_events (environment)"
        " WHERE schema_validated = 0"
    )


def _migration_3(conn: sqlite3.Connection) -> None:
    # Admin tokens (datacoral.admin.tokens): stored as their digest, like API keys, each
    # for one environment. The endpoint reads them only for the inspection API, off the
    # hot path, so no collector keeps a copy and revocation needs no notification.
    conn.execute(
        """
        CREATE TABLE admin_tokens (
            token_id TEXT PRIMARY KEY,
            token_hash BLOB NOT NULL UNIQUE,
            environment TEXT NOT NULL,
            label TEXT,
            prefix TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            revoked_at INTEGER
        )
        """
    )


def _migration_4(conn: sqlite3.Connection) -> None:
    # Rate limits (datacoral.admin.rate_limits): NULL in all three columns is no limit.
    # The collector reads them with the environments and with each key's record.
    for table in ("environments", "api_keys"):
        conn.execute(
            f"ALTER TABLE {table} ADD COLUMN rate_limit_events INTEGER"
            " CHECK (rate_limit_events > 0)"
        )
        conn.execute(
            f"ALTER TABLE {table} ADD COLUMN rate_limit_period INTEGER"
            " CHECK (rate_limit_period IN (1, 60))"
        )
        conn.execute(
            f"ALTER TABLE {table} ADD COLUMN rate_limit_burst INTEGER CHECK (rate_limit_burst > 0)"
        )


Migration = Callable[[sqlite3.Connection], None]

#: Migration ``i`` (0-based) brings the schema from version ``i`` to ``i + 1``.
MIGRATIONS: tuple[Migration, ...] = (_migration_1, _migration_2, _migration_3, _migration_4)
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    """The version the database file is at (0 for a new file)."""
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema up to :data:`SCHEMA_VERSION`; returns the version reached.

    ``conn`` must be in autocommit mode (``isolation_level=None``). Safe when
    several processes open a new file at once: each step re-reads the version
    inside its write transaction.
    """
    if schema_version(conn) == SCHEMA_VERSION:
        return SCHEMA_VERSION
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = schema_version(conn)
            if current > SCHEMA_VERSION:
                raise StorageError(
                    f"the database schema is version {current}, newer than this datacoral"
                    f" understands ({SCHEMA_VERSION}); upgrade datacoral"
                )
            if current == SCHEMA_VERSION:
                conn.execute("COMMIT")
                return current
            MIGRATIONS[current](conn)
            # PRAGMA does not take parameters; the value is our own integer.
            conn.execute(f"PRAGMA user_version = {current + 1:d}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
