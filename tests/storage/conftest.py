"""An opened SQLite store in a fresh file for each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from datacoral.storage.sqlite import SQLiteStorage


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "events.sqlite"


@pytest.fixture
def storage(db_path: Path) -> Iterator[SQLiteStorage]:
    store = SQLiteStorage(db_path)
    store.open()
    yield store
    store.close()
