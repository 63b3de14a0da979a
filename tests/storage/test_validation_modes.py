"""Each environment's schema validation mode, and the count of events stored unvalidated.

The mode is a column of ``environments`` (SQLite migration 2, PostgreSQL migration 3):
``lenient`` by default and for the environments of a database made before it. The
unvalidated count is read from a partial index of the good events stored with
``schema_validated`` false, built by the same migrations over the events already there.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from datacoral.admin.environments import ValidationMode
from datacoral.storage import migrations, postgres_migrations
from datacoral.storage.base import AdminError, AdminStorage, EnvironmentRecord, EventCounts
from datacoral.storage.postgres import PostgresStorage
from datacoral.storage.sqlite import SQLiteStorage
from tests.storage.factories import good_event
from tests.support.postgres import RunDatabase

STRICT, LENIENT, OFF = ValidationMode.STRICT, ValidationMode.LENIENT, ValidationMode.OFF


def test_environments_are_lenient_unless_created_otherwise(storage: AdminStorage) -> None:
    assert {e.name: e.validation for e in storage.environments()} == {
        "dev": LENIENT,
        "stage": LENIENT,
        "prod": LENIENT,
    }
    created = storage.create_environment("qa", ["https://a.example"], STRICT)
    assert created == EnvironmentRecord("qa", ("https://a.example",), STRICT)
    assert storage.get_environment("qa") == created
    assert storage.environments()[-1] == created


def test_set_validation_changes_only_that_environment(storage: AdminStorage) -> None:
    storage.add_origin("prod", "https://shop.example")
    changed = storage.set_validation("prod", STRICT)
    assert changed == EnvironmentRecord("prod", ("https://shop.example",), STRICT)
    assert storage.set_validation("dev", OFF).validation is OFF
    assert [(e.name, e.validation) for e in storage.environments()] == [
        ("dev", OFF),
        ("stage", LENIENT),
        ("prod", STRICT),
    ]
    assert storage.set_validation("prod", LENIENT).validation is LENIENT


def test_set_validation_refuses_what_it_cannot_do(storage: AdminStorage) -> None:
    with pytest.raises(AdminError, match="no environment 'nope'"):
        storage.set_validation("nope", STRICT)
    with pytest.raises(ValueError, match="invalid validation mode 'loose': use strict"):
        storage.set_validation("dev", "loose")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="invalid validation mode"):
        storage.create_environment("qa", (), "everything")  # type: ignore[arg-type]
    assert storage.get_environment("qa") is None


def test_unvalidated_events_are_counted(storage: AdminStorage) -> None:
    events = [
        good_event("dev", schema_validated=True),
        good_event("dev"),
        good_event("dev"),
        good_event("prod", schema_validated=True),
    ]
    asyncio.run(storage.commit(events, []))
    resent = good_event("dev", event_id=events[1].event_id)  # a duplicate: counted once
    asyncio.run(storage.commit([resent], []))
    counts = {c.environment: c for c in storage.count_events()}
    assert counts["dev"] == EventCounts("dev", good=3, bad=0, duplicates=1, unvalidated=2)
    assert counts["prod"] == EventCounts("prod", good=1, bad=0, duplicates=0, unvalidated=0)
    assert storage.count_events("stage") == [EventCounts("stage", 0, 0, 0, 0)]


def test_deleting_an_environment_forgets_its_count(storage: AdminStorage) -> None:
    storage.create_environment("qa", (), OFF)
    asyncio.run(storage.commit([good_event("qa")], []))
    assert storage.count_events("qa")[0].unvalidated == 1
    storage.delete_environment("qa", force=True)
    storage.create_environment("qa")
    assert storage.count_events("qa")[0].unvalidated == 0


def _sqlite_version_1(path: Path) -> None:
    """A database file as datacoral made it before validation modes, with one event."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        migrations.MIGRATIONS[0](conn)
        conn.execute("PRAGMA user_version = 1")
        conn.execute("COMMIT")
    finally:
        conn.close()


def test_a_sqlite_file_from_before_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    _sqlite_version_1(path)
    with SQLiteStorage(path) as store:
        assert {e.validation for e in store.environments()} == {LENIENT}
        asyncio.run(store.commit([good_event("dev"), good_event("prod")], []))
        assert [c.unvalidated for c in store.count_events()] == [1, 0, 1]
    conn = sqlite3.connect(path)
    try:
        assert migrations.schema_version(conn) == migrations.SCHEMA_VERSION
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT environment, count(*) FROM good_events"
            " WHERE schema_validated = 0 GROUP BY environment"
        ).fetchall()
    finally:
        conn.close()
    assert "good_events_unvalidated" in str(plan)  # the count reads the partial index


def test_sqlite_migration_2_keeps_the_events_already_stored(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    _sqlite_version_1(path)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute(
            "INSERT INTO good_events (event_id, environment, fingerprint, platform, event,"
            " collector_tstamp, derived_tstamp, schema_validated) VALUES"
            " (randomblob(16), 'stage', x'00', 'web', 'page_view', 1, 1, 0)"
        )
    finally:
        conn.close()
    with SQLiteStorage(path) as store:
        assert store.count_events("stage") == [EventCounts("stage", 1, 0, 0, unvalidated=1)]
        assert store.set_validation("stage", STRICT).validation is STRICT


def test_a_postgresql_schema_from_before_is_migrated(postgres_database: RunDatabase) -> None:
    import psycopg

    url = postgres_database.new_schema()
    with psycopg.connect(url.url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE datacoral_migrations (version integer PRIMARY KEY,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for version, sql in enumerate(postgres_migrations.MIGRATIONS[:2], start=1):
            conn.execute(sql)
            conn.execute("INSERT INTO datacoral_migrations (version) VALUES (%s)", (version,))
        conn.execute("INSERT INTO environments (name) VALUES ('dev'), ('stage'), ('prod')")
        conn.execute(
            "INSERT INTO good_events (event_id, environment, fingerprint, platform, event,"
            " collector_tstamp, derived_tstamp, schema_validated) VALUES"
            " (gen_random_uuid(), 'prod', '\\x00', 'web', 'page_view', now(), now(), false)"
        )
    store = PostgresStorage(url)
    try:
        store.open()
        assert {e.validation for e in store.environments()} == {LENIENT}
        assert store.count_events("prod") == [EventCounts("prod", 1, 0, 0, unvalidated=1)]
        assert store.set_validation("prod", STRICT).validation is STRICT
        versions = store._call(
            lambda conn: conn.execute("SELECT max(version) FROM datacoral_migrations").fetchone()
        )
    finally:
        store.close()
    assert versions == (postgres_migrations.SCHEMA_VERSION,)
