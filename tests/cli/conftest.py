"""Run ``datacoral`` commands in process against each storage backend.

``db`` is parametrised over tests/support/backends.py's BACKENDS: a SQLite file,
or a fresh schema of the run's PostgreSQL database, migrated as `datacoral serve`
leaves it. Every test that uses it (or ``run``) runs once per backend.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from datacoral.cli.app import cli
from datacoral.storage import open_storage
from datacoral.storage.target import Target, target_argument
from tests.support.backends import BACKENDS, new_target, require_backend

Run = Callable[..., Result]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The storage backend of this run of the test."""
    require_backend(request.param)
    return str(request.param)


@pytest.fixture
def db(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Target:
    """A migrated database (dev, stage, prod), as `datacoral serve` leaves it."""
    target = new_target(request, backend, tmp_path, "cli.sqlite")
    store = open_storage(target)
    store.environments()  # first use creates the schema
    store.close()
    return target


@pytest.fixture
def run(db: Target) -> Run:
    """``run("env", "list")`` runs ``datacoral env list --db <db>`` in process."""
    runner = CliRunner(env={"DATACORAL_DB": None})

    def invoke(*args: str, db_path: Target | None = db) -> Result:
        full = [*args, "--db", target_argument(db_path)] if db_path is not None else list(args)
        return runner.invoke(cli, full, catch_exceptions=False)

    return invoke
