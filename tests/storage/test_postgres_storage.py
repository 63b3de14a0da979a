"""What PostgreSQL does differently, and the ways it is made to keep the promises.

The promises both backends share run on both (the ``storage`` fixture, and the
collector and CLI suites). Here: events PostgreSQL cannot store become bad rows,
collectors migrate a new database together, commits are durable whatever the
session's ``synchronous_commit``, and a collector's copy of keys follows changes.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from datacoral.admin.keys import hash_key
from datacoral.storage import postgres_migrations
from datacoral.storage.base import CommitResult, StorageError, StorageUnavailable
from datacoral.storage.postgres import PostgresStorage
from datacoral.storage.postgres_metadata import MetadataWatcher
from datacoral.storage.target import DatabaseURL
from tests.storage.factories import good_event
from tests.support.postgres import RunDatabase


@pytest.fixture
def url(postgres_database: RunDatabase) -> DatabaseURL:
    return postgres_database.new_schema()


@pytest.fixture
def store(url: DatabaseURL) -> Iterator[PostgresStorage]:
    opened = PostgresStorage(url)
    opened.open()
    yield opened
    opened.close()


def test_what_postgresql_cannot_store_becomes_a_bad_row(store: PostgresStorage) -> None:
    kept = good_event()
    refused = [
        good_event(page_title="nul\x00inside"),
        good_event(unstruct_event='{"schema":"test","data":{"x":"\\u0000"}}'),
        good_event(extra={"tz": "lone \udc80 surrogate"}),
        good_event(derived_tstamp=-300_000_000_000_000),  # before 4713 BC
    ]
    repeat = good_event(event_id=refused[0].event_id, fingerprint=b"other", page_title="fine")
    result = asyncio.run(store.commit([*refused, kept, repeat], []))
    assert result == CommitResult(stored=2, duplicates=0, conflicts=0, bad_rows=4)
    rows = [stored.row for stored in store.latest_bad_rows("dev", 10)]
    assert [row.kind for row in rows] == ["storage_violation"] * 4
    reasons = " | ".join(row.reason for row in rows)
    assert "page_title: holds the character U+0000" in reasons
    assert "unstruct_event: holds the character U+0000" in reasons
    assert "holds a lone surrogate" in reasons
    assert "derived_tstamp: before 4713 BC" in reasons
    assert [len(store.find_events(e.event_id)) for e in (kept, repeat)] == [1, 1]


def test_collectors_starting_together_migrate_once(url: DatabaseURL) -> None:
    fresh = PostgresStorage(url)
    try:
        assert not fresh.exists()
    finally:
        fresh.close()
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def start() -> None:
        store = PostgresStorage(url)
        try:
            barrier.wait(10)
            store.open()
            assert [e.name for e in store.environments()] == ["dev", "stage", "prod"]
        except BaseException as exc:
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    checker = PostgresStorage(url)
    try:
        assert checker.exists()
        versions = checker._call(
            lambda conn: conn.execute(
                "SELECT version FROM datacoral_migrations ORDER BY version"
            ).fetchall()
        )
    finally:
        checker.close()
    # Each migration applied once, though four processes started on an empty schema.
    assert versions == [(v,) for v in range(1, postgres_migrations.SCHEMA_VERSION + 1)]


def test_a_newer_schema_is_refused(url: DatabaseURL) -> None:
    store = PostgresStorage(url)
    try:
        store.environments()
        store._call(lambda conn: conn.execute("INSERT INTO datacoral_migrations VALUES (99)"))
    finally:
        store.close()
    newer = PostgresStorage(url)
    with pytest.raises(StorageError, match="newer than this datacoral understands"):
        newer.open()
    newer.close()


def test_commits_are_durable_even_when_the_session_says_otherwise(
    postgres_database: RunDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    schema_url = postgres_database.new_schema()
    relaxed = DatabaseURL(schema_url.url + quote(" -csynchronous_commit=off"))
    store = PostgresStorage(relaxed)
    try:
        store.open()
        asyncio.run(store.commit([good_event()], []))
        setting = store._call(lambda conn: conn.execute("SHOW synchronous_commit").fetchone())
    finally:
        store.close()
    assert setting == ("on",)
    assert "synchronous_commit is off" in caplog.text


def test_a_change_made_elsewhere_reaches_an_open_store_at_once(
    store: PostgresStorage, url: DatabaseURL
) -> None:
    other = PostgresStorage(url)  # as the CLI, in another process, would
    try:
        info, key = other.create_key("dev")
        assert store.lookup_key(hash_key(key)) is not None
        other.revoke_key(info.key_id)
        started = time.monotonic()
        while not store.lookup_key(hash_key(key)).revoked:  # type: ignore[union-attr]
            assert time.monotonic() - started < 1.0, "the revocation did not arrive"
        other.add_origin("stage", "https://shop.example.com")
        while not store.environments()[1].origins:
            assert time.monotonic() - started < 1.0, "the origin did not arrive"
    finally:
        other.close()


def test_a_copy_not_confirmed_in_time_is_not_used(url: DatabaseURL) -> None:
    store = PostgresStorage(url)
    store.environments()  # migrates
    store.close()
    now = [100.0]
    watcher = MetadataWatcher(store._connect, max_age=2.0, clock=lambda: now[0])
    watcher._reconnect()  # the first load, without the thread: the clock stands still
    try:
        assert [e.name for e in watcher.current().environments] == ["dev", "stage", "prod"]
        now[0] += 2.5
        with pytest.raises(StorageUnavailable, match="no word from the database"):
            watcher.current()
    finally:
        watcher.stop()
