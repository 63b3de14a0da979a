"""What every command shares: the ``--db`` option and opening the store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from datacoral.cli.database import storage_error
from datacoral.cli.errors import CLIError
from datacoral.config import DEFAULT_DB
from datacoral.storage.base import StorageUnavailable
from datacoral.storage.sqlite import SQLiteStorage

F = TypeVar("F", bound=Callable[..., Any])

DB_ENVVAR = "DATACORAL_DB"


def db_option(*, envvar: str | None = None) -> Callable[[F], F]:
    """``--db PATH``, accepted on the root group and on every command."""
    return click.option(
        "--db",
        "db",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar=envvar,
        default=None,
        help=f"SQLite database file [env {DB_ENVVAR}; default {DEFAULT_DB}].",
    )


def json_option(function: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(function)


def resolve_db(db: Path | None) -> Path:
    """The command's ``--db``, else the root's (or ``DATACORAL_DB``), else the default."""
    if db is not None:
        return db
    root = click.get_current_context().find_root()
    root_db = root.params.get("db")
    return Path(root_db) if root_db is not None else Path(DEFAULT_DB)


@contextmanager
def open_store(db: Path | None, *, create: bool = False) -> Iterator[SQLiteStorage]:
    """The store for a command; a missing file is an error unless the command creates.

    A storage failure inside the block becomes a CLI error that names the file.
    """
    path = resolve_db(db)
    if not create and not path.exists():
        raise CLIError(
            f"no database at {path}: run `datacoral serve` once, or pass --db (or set {DB_ENVVAR})"
        )
    store = SQLiteStorage(path)
    try:
        yield store
    except StorageUnavailable as exc:
        raise storage_error(exc, path) from exc
    finally:
        store.close()
