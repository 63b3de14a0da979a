"""An opened store in a fresh database for each test.

``storage`` is parametrised over tests/support/backends.py's BACKENDS, so the
storage promises (commit, duplicates, environments, keys) are checked on both
SQLite and PostgreSQL; tests that take ``db_path`` and open ``SQLiteStorage``
themselves are about SQLite's files and stay SQLite-only.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from datacoral.storage import open_storage
from datacoral.storage.base import AdminStorage
from tests.support.backends import BACKENDS, new_target, require_backend


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "events.sqlite"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    require_backend(request.param)
    return str(request.param)


@pytest.fixture
def storage(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Iterator[AdminStorage]:
    store = open_storage(new_target(request, backend, tmp_path, "events.sqlite"))
    store.open()
    yield store
    store.close()
