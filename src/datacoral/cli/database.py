"""Why the database file cannot be used, said in one line a person can act on.

SQLite reports a missing directory, a read-only file and a file that is not a
database in words about itself ("unable to open database file", "attempt to
write a readonly database"). This module turns those into messages about the
file the user named, with the exit code they call for: a path that cannot be a
database is bad input (1); a database that cannot be used now is 3.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from datacoral.cli.errors import CLIError, StorageFailure
from datacoral.storage.base import StorageUnavailable
from datacoral.storage.target import Target

#: SQLite result codes (their names, as Python 3.11+ reports them) -> our kinds.
_KINDS = {
    "SQLITE_NOTADB": "not_a_database",
    "SQLITE_READONLY": "read_only",
    "SQLITE_CANTOPEN": "cannot_open",
    "SQLITE_BUSY": "locked",
    "SQLITE_LOCKED": "locked",
    "SQLITE_FULL": "full",
}
#: The same, from the messages, for Python 3.10 (no ``sqlite_errorname``).
_MESSAGES = {
    "file is not a database": "not_a_database",
    "readonly database": "read_only",
    "unable to open database file": "cannot_open",
    "database is locked": "locked",
    "database table is locked": "locked",
    "database or disk is full": "full",
}


def storage_error(exc: StorageUnavailable, target: Target | None) -> CLIError:
    """The CLI error for a storage failure on the database ``target`` (None: unknown).
    PostgreSQL's failures come worded already (datacoral.storage.postgres_errors)."""
    cause = exc.__cause__
    if not isinstance(cause, sqlite3.Error):
        return StorageFailure(str(exc))
    path = target if isinstance(target, Path) else None
    kind = _kind(cause)
    file = f"the database {path}" if path is not None else "the database"
    if kind == "not_a_database":
        named = str(path) if path is not None else "the database file"
        return CLIError(
            f"{named} is not a SQLite database: give --db a Datacoral database file,"
            " or the name of a new one"
        )
    if kind == "read_only":
        return StorageFailure(read_only(path, directory=_directory_is_read_only(cause, path)))
    if kind == "cannot_open" and path is not None:
        return _cannot_open(path, cause)
    if kind == "locked":
        return StorageFailure(
            f"storage unavailable: {cause}: another process is writing to {file}; try again"
        )
    if kind == "full":
        return StorageFailure(f"storage unavailable: {cause} ({file})")
    where = f" ({file})" if path is not None else ""
    return StorageFailure(f"storage unavailable: {cause}{where}")


def read_only(path: Path | None, *, directory: bool = False) -> str:
    """The message for a database that can be read but not written."""
    file = f"the database {path}" if path is not None else "the database"
    if directory and path is not None:
        return (
            f"cannot write to {file}: its directory {_directory(path)} is read-only, and SQLite"
            f" needs to create {path.name}-wal and {path.name}-shm beside it"
        )
    return f"cannot write to {file}: the file is read-only (check its permissions and owner)"


def _kind(error: sqlite3.Error) -> str | None:
    name = getattr(error, "sqlite_errorname", None)
    if isinstance(name, str):
        for code, kind in _KINDS.items():
            if name == code or name.startswith(f"{code}_"):
                return kind
    text = str(error)
    for message, kind in _MESSAGES.items():
        if message in text:
            return kind
    return None


def _directory_is_read_only(error: sqlite3.Error, path: Path | None) -> bool:
    if getattr(error, "sqlite_errorname", None) == "SQLITE_READONLY_DIRECTORY":
        return True
    return path is not None and not os.access(_directory(path), os.W_OK)


def _directory(path: Path) -> Path:
    """The directory of ``path``, absolute (``.`` tells a person nothing)."""
    return Path(os.path.abspath(path)).parent


def _cannot_open(path: Path, cause: sqlite3.Error) -> CLIError:
    parent = _directory(path)
    if not parent.is_dir():
        return CLIError(f"cannot create the database {path}: there is no directory {parent}")
    if not path.exists() and not os.access(parent, os.W_OK | os.X_OK):
        return StorageFailure(
            f"cannot create the database {path}: the directory {parent} is not writable"
        )
    if path.exists() and not os.access(path, os.R_OK):
        return StorageFailure(
            f"cannot open the database {path}: the file is not readable"
            " (check its permissions and owner)"
        )
    return StorageFailure(f"cannot open the database {path}: {cause}")
