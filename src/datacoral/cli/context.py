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
from datacoral.storage import open_storage
from datacoral.storage.base import AdminStorage, StorageUnavailable, StorageUnusable
from datacoral.storage.target import DatabaseURL, Target, parse_target

F = TypeVar("F", bound=Callable[..., Any])

DB_ENVVAR = "DATACORAL_DB"


class DatabaseTarget(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.3 on
    """``--db``: a SQLite file's path, or a ``postgresql://`` URL (never echoed with
    its password)."""

    name = "path-or-url"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, (Path, DatabaseURL)):
            return value
        try:
            return parse_target(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def db_option(*, envvar: str | None = None) -> Callable[[F], F]:
    """``--db PATH|URL``, accepted on the root group and on every command."""
    return click.option(
        "--db",
        "db",
        type=DatabaseTarget(),
        envvar=envvar,
        default=None,
        help="SQLite database file, or PostgreSQL URL postgresql://user@host:5432/name"
        f" [env {DB_ENVVAR}; default {DEFAULT_DB}].",
    )


def json_option(function: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(function)


def resolve_db(db: Target | None) -> Target:
    """The command's ``--db``, else the root's (or ``DATACORAL_DB``), else the default."""
    if db is not None:
        return db
    root = click.get_current_context().find_root()
    root_db = root.params.get("db")
    return parse_target(root_db) if root_db is not None else Path(DEFAULT_DB)


@contextmanager
def open_store(db: Target | None, *, create: bool = False) -> Iterator[AdminStorage]:
    """The store for a command; a store not created yet is an error unless the command
    creates. A storage failure inside the block becomes a CLI error naming the database.
    """
    target = resolve_db(db)
    store = open_storage(target)
    try:
        if not create and not store.exists():
            raise CLIError(_not_created(target))
        yield store
    except StorageUnavailable as exc:
        raise storage_error(exc, target) from exc
    except StorageUnusable as exc:
        raise CLIError(str(exc)) from exc
    finally:
        store.close()


def _not_created(target: Target) -> str:
    if isinstance(target, DatabaseURL):
        return (
            f"the database {target} has no Datacoral tables yet: run `datacoral serve --db URL`"
            " once (it creates them), or pass another --db (or set DATACORAL_DB)"
        )
    return f"no database at {target}: run `datacoral serve` once, or pass --db (or set {DB_ENVVAR})"
