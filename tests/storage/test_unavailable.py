"""A locked database gives StorageUnavailable; the writer recovers once it is free."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from datacoral.storage.base import StorageUnavailable
from datacoral.storage.sqlite import SQLiteStorage
from tests.storage.factories import good_event


@pytest.fixture
def quick_storage(db_path: Path) -> Iterator[SQLiteStorage]:
    store = SQLiteStorage(db_path, busy_timeout=0.05, ready_probe_interval=0)
    store.open()
    yield store
    store.close()


def test_locked_database_then_recovery(quick_storage: SQLiteStorage, db_path: Path) -> None:
    other = sqlite3.connect(db_path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StorageUnavailable, match="database is locked"):
            asyncio.run(quick_storage.commit([good_event()], []))
        assert not quick_storage.is_ready()
        assert quick_storage.stats().failed_transactions == 1
    finally:
        other.execute("ROLLBACK")
        other.close()

    deadline = time.monotonic() + 5
    while not quick_storage.is_ready():
        assert time.monotonic() < deadline, "storage did not become ready again"
    result = asyncio.run(quick_storage.commit([good_event()], []))
    assert result.stored == 1
    assert quick_storage.is_ready()
    assert quick_storage.count_events("dev")[0].good == 1


def test_admin_calls_on_a_locked_database_are_unavailable(
    quick_storage: SQLiteStorage, db_path: Path
) -> None:
    other = sqlite3.connect(db_path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StorageUnavailable):
            quick_storage.create_environment("qa")
        # Reads still work under WAL while another connection writes.
        assert quick_storage.get_environment("dev") is not None
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert quick_storage.create_environment("qa").name == "qa"
