"""Run a suite against every storage backend: ``sqlite`` and ``postgres``.

The collector and CLI suites take their database from a fixture parametrised
with :data:`BACKENDS` (their conftest.py), so each of their tests runs once per
backend and every promise is proven twice. A test that is about SQLite itself
(file permissions, WAL, locks taken with sqlite3) is marked
``@pytest.mark.sqlite_only``: it runs for ``sqlite`` only (the ``postgres`` copy
is deselected, not skipped); ``@pytest.mark.postgres_only`` is the other way round.
Tests about PostgreSQL alone: tests/storage/
test_postgres_storage.py, tests/collector/test_postgres_unavailable.py and
tests/cli/test_postgres_url.py; tests/collector/test_many_collectors.py runs three
collectors over each backend.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from datacoral.storage.target import Target
from tests.support import postgres
from tests.support.services import require

BACKENDS = ("sqlite", "postgres")


def new_target(request: pytest.FixtureRequest, backend: str, directory: Path, name: str) -> Target:
    """A new, empty store of ``backend``: a file in ``directory``, or a fresh schema."""
    if backend == "sqlite":
        return directory / name
    database: postgres.RunDatabase = request.getfixturevalue("postgres_database")
    return database.new_schema()


class Targets:
    """Makes new, empty stores of one backend (for module-scoped servers)."""

    def __init__(
        self, request: pytest.FixtureRequest, backend: str, factory: pytest.TempPathFactory
    ):
        self.backend = backend
        self._factory = factory
        self._database: postgres.RunDatabase | None = None
        if backend == "postgres":
            self._database = request.getfixturevalue("postgres_database")

    def new(self, label: str) -> Target:
        """A new store: ``<tmp>/<label>/events.sqlite``, or a fresh schema."""
        if self._database is not None:
            return self._database.new_schema()
        return self._factory.mktemp(label) / "events.sqlite"


def require_backend(backend: str) -> None:
    """Skip (or fail, when services are required) without the backend's server."""
    if backend == "postgres":
        reason = postgres.unavailable_reason()
        require(reason is None, reason or "")


def everything_stored(target: Target) -> bytes:
    """All a store holds, raw: the SQLite file with its WAL and shared-memory files, or
    every row of every table of the PostgreSQL schema as text (to look for secrets)."""
    if isinstance(target, Path):
        return b"".join(p.read_bytes() for p in target.parent.glob(target.name + "*"))
    import psycopg

    with psycopg.connect(target.url, autocommit=True) as conn:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = current_schema()"
            )
        ]
        dumps = [
            str(row[0] or "")
            for table in tables
            for row in conn.execute(
                f'SELECT string_agg(t::text, chr(10)) FROM "{table}" AS t'  # type: ignore[arg-type]
            )
        ]
    return "\n".join(dumps).encode()
