"""PostgreSQL's failures, said in one line about the database the user named.

libpq reports a refused connection in two lines and a missing database as a
server ``FATAL``; this module turns them into a :class:`StorageError` a person
can act on. A failure of the database (unreachable, shutting down, read-only, a
lock not granted in time) is :class:`StorageUnavailable`: the collector answers
503 and recovers by itself. A database that cannot be used as named (it does not
exist, the user or password is refused) is :class:`StorageUnusable`. Errors of
our own SQL are not mapped: they are bugs. No message carries the URL's password.
"""

from __future__ import annotations

import re

import psycopg
from psycopg import errors
from psycopg_pool import PoolTimeout

from datacoral.storage.base import StorageError, StorageUnavailable, StorageUnusable
from datacoral.storage.target import DatabaseURL

#: SQLSTATE classes and codes of a database that is not usable now (retry later).
_UNAVAILABLE_STATES = ("08", "53", "57", "58", "40", "55P03", "25006")
_MISSING_DATABASE = re.compile(r'database "(?P<name>[^"]*)" does not exist')
_REFUSED_ROLE = re.compile(
    r'(role "[^"]*" does not exist|password authentication failed[^\n]*'
    r"|no pg_hba\.conf entry[^\n]*|authentication failed[^\n]*)"
)


def is_unavailability(exc: BaseException) -> bool:
    """True for failures of the database or the way to it, not of our SQL."""
    if isinstance(exc, (PoolTimeout, psycopg.OperationalError, psycopg.InterfaceError)):
        return True
    if isinstance(exc, (errors.ReadOnlySqlTransaction, errors.InsufficientPrivilege)):
        return True
    state = getattr(exc, "sqlstate", None) or ""
    return isinstance(exc, psycopg.Error) and state.startswith(_UNAVAILABLE_STATES)


def failure(exc: BaseException, url: DatabaseURL) -> StorageError:
    """The storage error for ``exc``, raised while using the database at ``url``."""
    text = _one_line(url.hide_secret(str(exc)))
    missing = _MISSING_DATABASE.search(text)
    if missing:
        name = missing["name"]
        return StorageUnusable(
            f"there is no database {name!r} on the PostgreSQL server at {url.host}:"
            f" create it (createdb {name}) or correct the URL ({url})"
        )
    refused = _REFUSED_ROLE.search(text)
    if refused:
        return StorageUnusable(
            f"the PostgreSQL server at {url.host} refused the connection: {refused[0]} ({url})"
        )
    if isinstance(exc, errors.InsufficientPrivilege):
        return StorageUnavailable(
            f"storage unavailable: the database user may not do this: {text} ({url})"
        )
    if isinstance(exc, errors.LockNotAvailable):
        return StorageUnavailable(
            "storage unavailable: another session holds a lock this write needs, longer than"
            f" the busy timeout; try again ({url})"
        )
    if isinstance(exc, PoolTimeout):
        return StorageUnavailable(
            f"storage unavailable: no connection to PostgreSQL at {url.host} in time ({url})"
        )
    if text.startswith("connection failed: "):
        return StorageUnavailable(
            f"cannot connect to PostgreSQL at {url.host}: {_connection_reason(text)} ({url})"
        )
    return StorageUnavailable(f"storage unavailable: {text} ({url})")


def _one_line(text: str) -> str:
    parts = [part.strip() for part in text.splitlines() if part.strip()]
    return "; ".join(parts)


def _connection_reason(text: str) -> str:
    """libpq's "connection failed: connection to server at ... failed: REASON"."""
    reason = text.removeprefix("connection failed: ")
    _, sep, after = reason.rpartition(" failed: ")
    reason = after if sep else reason
    return reason.replace("FATAL:  ", "").strip()
