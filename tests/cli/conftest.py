"""Run ``datacoral`` commands in process against a real database file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from datacoral.cli.app import cli
from datacoral.storage.sqlite import SQLiteStorage

Run = Callable[..., Result]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A migrated database file (dev, stage, prod), as `datacoral serve` leaves it."""
    path = tmp_path / "cli.sqlite"
    store = SQLiteStorage(path)
    store.environments()  # first use creates the schema
    store.close()
    return path


@pytest.fixture
def run(db: Path) -> Run:
    """``run("env", "list")`` runs ``datacoral env list --db <db>`` in process."""
    runner = CliRunner(env={"DATACORAL_DB": None})

    def invoke(*args: str, db_path: Path | None = db) -> Result:
        full = [*args, "--db", str(db_path)] if db_path is not None else list(args)
        return runner.invoke(cli, full, catch_exceptions=False)

    return invoke
