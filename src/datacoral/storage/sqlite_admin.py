"""Environments, origins and API keys in the SQLite store.

Plain functions over an autocommit connection; :class:`SQLiteStorage` calls them
under its side-connection lock. Keys are stored only as their digest
(:func:`datacoral.admin.keys.hash_key`); the plaintext leaves
:func:`create_key` once, to the caller, and is written nowhere.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from datacoral.admin import keys, origins
from datacoral.admin.environments import (
    DEFAULT_VALIDATION,
    ValidationMode,
    parse_validation_mode,
    validate_environment_name,
)
from datacoral.admin.rate_limits import RateLimit, from_columns, to_columns
from datacoral.storage.base import AdminError, EnvironmentRecord, KeyInfo, KeyRecord

_LIMIT_COLUMNS = "rate_limit_events, rate_limit_period, rate_limit_burst"
_KEY_COLUMNS = (
    f"key_id, environment, label, prefix, created_at, last_used_at, revoked_at, {_LIMIT_COLUMNS}"
)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One ``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


# --- environments ------------------------------------------------------------


def environments(conn: sqlite3.Connection) -> list[EnvironmentRecord]:
    origins: dict[str, list[str]] = {}
    for environment, origin in conn.execute(
        "SELECT environment, origin FROM environment_origins ORDER BY environment, origin"
    ):
        origins.setdefault(environment, []).append(origin)
    return [
        EnvironmentRecord(
            name,
            tuple(origins.get(name, ())),
            ValidationMode(validation),
            from_columns(*limit),
        )
        for name, validation, *limit in conn.execute(
            f"SELECT name, validation, {_LIMIT_COLUMNS} FROM environments"
            " ORDER BY created_at, rowid"
        )
    ]


def get_environment(conn: sqlite3.Connection, name: str) -> EnvironmentRecord | None:
    row = conn.execute(
        f"SELECT validation, {_LIMIT_COLUMNS} FROM environments WHERE name = ?", (name,)
    ).fetchone()
    if row is None:
        return None
    found = conn.execute(
        "SELECT origin FROM environment_origins WHERE environment = ? ORDER BY origin", (name,)
    )
    return EnvironmentRecord(
        name,
        tuple(origin for (origin,) in found),
        ValidationMode(row[0]),
        from_columns(*row[1:]),
    )


def create_environment(
    conn: sqlite3.Connection,
    name: str,
    origin_entries: Sequence[str] = (),
    validation: ValidationMode = DEFAULT_VALIDATION,
) -> EnvironmentRecord:
    """A new environment allowing ``origin_entries`` (validated and stored normalised)."""
    validate_environment_name(name)
    mode = parse_validation_mode(validation)
    allowed = sorted({origins.normalise(origin) for origin in origin_entries})
    with write_transaction(conn):
        if _environment_exists(conn, name):
            raise AdminError(f"environment {name!r} already exists")
        conn.execute(
            "INSERT INTO environments (name, created_at, validation) VALUES (?, ?, ?)",
            (name, now_ms(), mode.value),
        )
        conn.executemany(
            "INSERT OR IGNORE INTO environment_origins (environment, origin) VALUES (?, ?)",
            [(name, origin) for origin in allowed],
        )
    return EnvironmentRecord(name, tuple(allowed), mode)


def set_validation(
    conn: sqlite3.Connection, name: str, validation: ValidationMode
) -> EnvironmentRecord:
    """Set what environment ``name`` does with schemas (collectors poll for it)."""
    mode = parse_validation_mode(validation)
    with write_transaction(conn):
        require_environment(conn, name)
        conn.execute("UPDATE environments SET validation = ? WHERE name = ?", (mode.value, name))
    return _existing(conn, name)


def set_environment_rate_limit(
    conn: sqlite3.Connection, name: str, limit: RateLimit | None
) -> EnvironmentRecord:
    """Set (None: remove) the rate limit of environment ``name`` (collectors poll for it)."""
    with write_transaction(conn):
        require_environment(conn, name)
        conn.execute(
            "UPDATE environments SET rate_limit_events = ?, rate_limit_period = ?,"
            " rate_limit_burst = ? WHERE name = ?",
            (*to_columns(limit), name),
        )
    return _existing(conn, name)


def delete_environment(conn: sqlite3.Connection, name: str, *, force: bool = False) -> None:
    with write_transaction(conn):
        require_environment(conn, name)
        if not force:
            key_count = _count(conn, "SELECT count(*) FROM api_keys WHERE environment = ?", name)
            event_count = _count(
                conn, "SELECT count(*) FROM good_events WHERE environment = ?", name
            ) + _count(conn, "SELECT count(*) FROM bad_rows WHERE environment = ?", name)
            if key_count or event_count:
                raise AdminError(
                    f"environment {name!r} still has {key_count} key(s) and {event_count} event(s)"
                )
        for table in ("api_keys", "admin_tokens", "good_events", "bad_rows", "environment_origins"):
            conn.execute(f"DELETE FROM {table} WHERE environment = ?", (name,))
        conn.execute("DELETE FROM duplicate_counts WHERE environment = ?", (name,))
        conn.execute("DELETE FROM environments WHERE name = ?", (name,))


def add_origin(conn: sqlite3.Connection, environment: str, origin: str) -> EnvironmentRecord:
    """Allow ``origin`` (validated: ValueError; stored normalised); adding twice is a no-op."""
    origin = origins.normalise(origin)
    with write_transaction(conn):
        require_environment(conn, environment)
        conn.execute(
            "INSERT OR IGNORE INTO environment_origins (environment, origin) VALUES (?, ?)",
            (environment, origin),
        )
    return _existing(conn, environment)


def remove_origin(conn: sqlite3.Connection, environment: str, origin: str) -> EnvironmentRecord:
    """Stop allowing ``origin``, written as added or in any equivalent form."""
    try:
        normalised = origins.normalise(origin)
    except ValueError:
        normalised = origin  # an entry stored before validation can still be removed as written
    with write_transaction(conn):
        require_environment(conn, environment)
        removed = conn.execute(
            "DELETE FROM environment_origins WHERE environment = ? AND origin IN (?, ?)",
            (environment, origin, normalised),
        ).rowcount
        if not removed:
            raise AdminError(f"environment {environment!r} does not allow origin {origin!r}")
    return _existing(conn, environment)


def require_environment(conn: sqlite3.Connection, name: str) -> None:
    """Raise AdminError unless environment ``name`` exists."""
    if not _environment_exists(conn, name):
        raise AdminError(f"no environment {name!r}")


def _existing(conn: sqlite3.Connection, name: str) -> EnvironmentRecord:
    record = get_environment(conn, name)
    if record is None:
        raise AdminError(f"no environment {name!r}")
    return record


def _environment_exists(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM environments WHERE name = ?", (name,)).fetchone() is not None


def _count(conn: sqlite3.Connection, sql: str, *args: object) -> int:
    return int(conn.execute(sql, args).fetchone()[0])


# --- keys --------------------------------------------------------------------


def create_key(
    conn: sqlite3.Connection,
    environment: str,
    label: str | None = None,
    *,
    rate_limit: RateLimit | None = None,
) -> tuple[KeyInfo, str]:
    key = keys.generate_key()
    info = KeyInfo(
        key_id=keys.new_key_id(),
        environment=environment,
        label=label,
        prefix=keys.visible_prefix(key),
        created_at=now_ms(),
        rate_limit=rate_limit,
    )
    with write_transaction(conn):
        require_environment(conn, environment)
        conn.execute(
            "INSERT INTO api_keys (key_id, key_hash, environment, label, prefix, created_at,"
            f" {_LIMIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                info.key_id,
                keys.hash_key(key),
                environment,
                label,
                info.prefix,
                info.created_at,
                *to_columns(rate_limit),
            ),
        )
    return info, key


def _key_info(row: Any) -> KeyInfo:
    """A :class:`KeyInfo` from a row of :data:`_KEY_COLUMNS` (its last three: the limit)."""
    key_id, environment, label, prefix, created_at, last_used_at, revoked_at = row[:7]
    return KeyInfo(
        key_id,
        environment,
        label,
        prefix,
        created_at,
        last_used_at,
        revoked_at,
        from_columns(*row[7:]),
    )


def list_keys(conn: sqlite3.Connection, environment: str | None = None) -> list[KeyInfo]:
    if environment is None:
        found = conn.execute(f"SELECT {_KEY_COLUMNS} FROM api_keys ORDER BY created_at, key_id")
    else:
        found = conn.execute(
            f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE environment = ?"
            " ORDER BY created_at, key_id",
            (environment,),
        )
    return [_key_info(row) for row in found]


def get_key(conn: sqlite3.Connection, key_id: str) -> KeyInfo:
    row = conn.execute(
        f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE key_id = ?", (key_id,)
    ).fetchone()
    if row is None:
        raise AdminError(f"no key {key_id!r}")
    return _key_info(row)


def revoke_key(conn: sqlite3.Connection, key_id: str) -> KeyInfo:
    """Revoke at once; revoking a revoked key keeps its first revocation time."""
    with write_transaction(conn):
        get_key(conn, key_id)
        conn.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
            (now_ms(), key_id),
        )
    return get_key(conn, key_id)


def set_key_rate_limit(conn: sqlite3.Connection, key_id: str, limit: RateLimit | None) -> KeyInfo:
    """Set (None: remove) the rate limit of key ``key_id`` (collectors poll for it)."""
    with write_transaction(conn):
        get_key(conn, key_id)
        conn.execute(
            "UPDATE api_keys SET rate_limit_events = ?, rate_limit_period = ?,"
            " rate_limit_burst = ? WHERE key_id = ?",
            (*to_columns(limit), key_id),
        )
    return get_key(conn, key_id)


def lookup_key(conn: sqlite3.Connection, key_hash: bytes) -> KeyRecord | None:
    # An indexed equality look-up on the digest leaks nothing usable about the
    # key; the final comparison is constant-time all the same.
    row = conn.execute(
        f"SELECT key_hash, key_id, environment, revoked_at, {_LIMIT_COLUMNS} FROM api_keys"
        " WHERE key_hash = ?",
        (key_hash,),
    ).fetchone()
    if row is None or not keys.digests_match(bytes(row[0]), key_hash):
        return None
    return KeyRecord(
        key_id=row[1],
        environment=row[2],
        revoked=row[3] is not None,
        rate_limit=from_columns(*row[4:]),
    )
