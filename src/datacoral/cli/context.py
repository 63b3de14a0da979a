"""What every command shares: the ``--db`` option (or ``--server`` and ``--token``) and
opening the store."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from datacoral.cli.config_option import CONFIG_ENVVAR
from datacoral.cli.database import storage_error
from datacoral.cli.errors import CLIError
from datacoral.config import DEFAULT_DB
from datacoral.config_file import read_config_file
from datacoral.storage import open_storage
from datacoral.storage.base import AdminStorage, StorageUnavailable, StorageUnusable
from datacoral.storage.target import DatabaseURL, Target, parse_target

F = TypeVar("F", bound=Callable[..., Any])

DB_ENVVAR = "DATACORAL_DB"
SERVER_ENVVAR = "DATACORAL_SERVER"
TOKEN_ENVVAR = "DATACORAL_TOKEN"


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


def server_options(function: F) -> F:
    """``--server URL`` and ``--token TOKEN`` (root group only): run the commands against
    an endpoint's admin API (``serve --admin``) instead of a database."""
    function = click.option(
        "--token",
        envvar=TOKEN_ENVVAR,
        default=None,
        metavar="TOKEN",
        help=f"The admin token --server needs [env {TOKEN_ENVVAR}].",
    )(function)
    return click.option(
        "--server",
        envvar=SERVER_ENVVAR,
        default=None,
        metavar="URL",
        callback=_check_server,
        help="An endpoint serving the admin API (https://host:port, `serve --admin`): the"
        f" commands work there instead of on --db [env {SERVER_ENVVAR}].",
    )(function)


def _check_server(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    from datacoral.cli.remote import parse_server

    try:
        return parse_server(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def remote_store() -> AdminStorage | None:
    """The store of the root's ``--server`` (with its ``--token``), or None without one."""
    root = click.get_current_context().find_root()
    server = root.params.get("server")
    if server is None:
        return None
    if root.get_parameter_source("db") is click.core.ParameterSource.COMMANDLINE:
        raise click.UsageError("give --db or --server, not both")
    token = root.params.get("token")
    if not token:
        raise CLIError(
            f"--server needs an admin token: --token TOKEN or {TOKEN_ENVVAR}"
            " (`datacoral token create --all` makes one that covers every environment)"
        )
    from datacoral.cli.remote import RemoteStore

    return RemoteStore(server, token)


def json_option(function: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(function)


def resolve_db(db: Target | None) -> Target:
    """The command's ``--db``, else the root's (or ``DATACORAL_DB``), else ``db`` in the
    ``[serve]`` table of the file ``DATACORAL_CONFIG`` names (the server's own database),
    else the default."""
    if db is not None:
        return db
    root = click.get_current_context().find_root()
    root_db = root.params.get("db")
    if root_db is not None:
        return parse_target(root_db)
    return _db_of_config_file() or Path(DEFAULT_DB)


def _db_of_config_file() -> Target | None:
    named = os.environ.get(CONFIG_ENVVAR)
    if not named:
        return None
    found = read_config_file(Path(named)).table("serve").get("db")
    if found is None:
        return None
    value = found.value
    return value if isinstance(value, (Path, DatabaseURL)) else parse_target(str(value))


@contextmanager
def open_store(db: Target | None, *, create: bool = False) -> Iterator[AdminStorage]:
    """The store for a command: the command's ``--db``, else the root's ``--server``
    (:func:`remote_store`), else the root's ``--db`` or the default. A store not created
    yet is an error unless the command creates. A storage failure inside the block becomes
    a CLI error naming the database.
    """
    remote = remote_store() if db is None else None
    target: Target | None = None
    if remote is None:
        target = resolve_db(db)
        store = open_storage(target)
    else:
        store = remote
    try:
        if target is not None and not create and not store.exists():
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
