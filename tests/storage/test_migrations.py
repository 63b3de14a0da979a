"""A new file gets the whole schema and the default environments; reopening keeps data."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from datacoral.storage import migrations
from datacoral.storage.base import Storage, StorageError
from datacoral.storage.sqlite import SQLiteStorage
from datacoral.storage.sqlite_rows import GOOD_COLUMNS


def _raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


@pytest.mark.sqlite_only  # SQLite's statements, files or encodings
def test_new_file_is_migrated_to_the_latest_version(storage: SQLiteStorage, db_path: Path) -> None:
    raw = _raw(db_path)
    try:
        assert migrations.schema_version(raw) == migrations.SCHEMA_VERSION
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {name for (name,) in raw.execute("SELECT name FROM sqlite_master")}
    finally:
        raw.close()
    expected = {"environments", "environment_origins", "api_keys", "good_events", "bad_rows"}
    assert expected | {"duplicate_counts"} <= tables


def test_default_environments_exist(storage: SQLiteStorage) -> None:
    assert [env.name for env in storage.environments()] == ["dev", "stage", "prod"]


@pytest.mark.sqlite_only  # SQLite's statements, files or encodings
def test_good_event_columns_match_the_record(storage: SQLiteStorage, db_path: Path) -> None:
    raw = _raw(db_path)
    try:
        columns = [row[1] for row in raw.execute("PRAGMA table_info(good_events)")]
    finally:
        raw.close()
    assert sorted(columns) == sorted(GOOD_COLUMNS)


def test_reopening_keeps_data_and_does_not_migrate_again(db_path: Path) -> None:
    with SQLiteStorage(db_path) as first:
        first.create_environment("qa")
        info, _ = first.create_key("qa")
    with SQLiteStorage(db_path) as second:
        assert [env.name for env in second.environments()] == ["dev", "stage", "prod", "qa"]
        assert [key.key_id for key in second.list_keys("qa")] == [info.key_id]


def test_admin_methods_work_without_open(db_path: Path) -> None:
    store: Storage = SQLiteStorage(db_path)  # mypy checks the protocol is implemented
    try:
        assert [env.name for env in store.environments()] == ["dev", "stage", "prod"]
        assert not store.is_ready()  # no writer until open()
    finally:
        store.close()


def test_a_newer_schema_is_refused(db_path: Path) -> None:
    raw = _raw(db_path)
    try:
        raw.execute(f"PRAGMA user_version = {migrations.SCHEMA_VERSION + 1}")
    finally:
        raw.close()
    store = SQLiteStorage(db_path)
    with pytest.raises(StorageError, match="newer than this datacoral"):
        store.environments()
    store.close()


def test_synchronous_must_be_a_known_level(db_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous"):
        SQLiteStorage(db_path, synchronous="OFF")  # type: ignore[arg-type]
