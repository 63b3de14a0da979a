"""One entry to every backend: ``open_storage(target)`` for what ``--db`` names.

A :class:`~datacoral.storage.target.DatabaseURL` (``postgresql://...``) gives
:class:`~datacoral.storage.postgres.PostgresStorage`; a path gives
:class:`~datacoral.storage.sqlite.SQLiteStorage`. Backends are imported here,
when chosen: a SQLite user needs no PostgreSQL driver installed.
"""

from __future__ import annotations

import os

from datacoral.storage.base import AdminStorage
from datacoral.storage.target import DatabaseURL, Target, parse_target


def open_storage(
    target: Target | str | os.PathLike[str], *, busy_timeout: float = 2.0
) -> AdminStorage:
    """The backend for ``target``, not yet opened (the CLI uses it so; the collector
    calls :meth:`~datacoral.storage.base.Storage.open`). ``busy_timeout``: seconds a
    write waits for a lock held by another process before it fails as unavailable."""
    parsed = parse_target(target)
    if isinstance(parsed, DatabaseURL):
        from datacoral.storage.postgres import PostgresStorage

        return PostgresStorage(parsed, busy_timeout=busy_timeout)
    from datacoral.storage.sqlite import SQLiteStorage

    return SQLiteStorage(parsed, busy_timeout=busy_timeout)
