"""Environments, origins and API keys in the PostgreSQL store.

The same operations, rules and messages as :mod:`.sqlite_admin`, as plain
functions over an autocommit connection. Keys are stored only as their digest;
the plaintext leaves :func:`create_key` once, to the caller.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import psycopg
from psycopg.rows import TupleRow

from datacoral.admin import keys, origins
from datacoral.admin.environments import (
    DEFAULT_VALIDATION,
    ValidationMode,
    parse_validation_mode,
    validate_environment_name,
)
from datacoral.admin.rate_limits import RateLimit, from_columns, to_columns
from datacoral.storage.base import AdminError, EnvironmentRecord, KeyInfo, KeyRecord

Connection = psycopg.Connection[TupleRow]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


_MS = "(extract(epoch FROM {}) * 1000)::bigint"
_LIMIT_COLUMNS = "rate_limit_events, rate_limit_period, rate_limit_burst"
_KEY_COLUMNS = (
    f"key_id, environment, label, prefix, {_MS.format('created_at')},"
    f" {_MS.format('last_used_at')}, {_MS.format('revoked_at')}, {_LIMIT_COLUMNS}"
)


# --- environments ------------------------------------------------------------


def environments(conn: Connection) -> list[EnvironmentRecord]:
    allowed: dict[str, list[str]] = {}
    for environment, origin in conn.execute(
        "SELECT environment, origin FROM environment_origins ORDER BY environment, origin"
    ):
        allowed.setdefault(environment, []).append(origin)
    return [
        EnvironmentRecord(
            name,
            tuple(allowed.get(name, ())),
            ValidationMode(validation),
            from_columns(*limit),
        )
        for name, validation, *limit in conn.execute(
            f"SELECT name, validation, {_LIMIT_COLUMNS} FROM environments ORDER BY created_at, id"
        )
    ]


def get_environment(conn: Connection, name: str) -> EnvironmentRecord | None:
    row = conn.execute(
        f"SELECT validation, {_LIMIT_COLUMNS} FROM environments WHERE name = %s", (name,)
    ).fetchone()
    if row is None:
        return None
    found = conn.execute(
        "SELECT origin FROM environment_origins WHERE environment = %s ORDER BY origin", (name,)
    )
    return EnvironmentRecord(
        name,
        tuple(origin for (origin,) in found),
        ValidationMode(row[0]),
        from_columns(*row[1:]),
    )


def create_environment(
    conn: Connection,
    name: str,
    origin_entries: Sequence[str] = (),
    validation: ValidationMode = DEFAULT_VALIDATION,
) -> EnvironmentRecord:
    """A new environment allowing ``origin_entries`` (validated and stored normalised)."""
    validate_environment_name(name)
    mode = parse_validation_mode(validation)
    allowed = sorted({origins.normalise(origin) for origin in origin_entries})
    with conn.transaction():
        created = conn.execute(
            "INSERT INTO environments (name, validation) VALUES (%s, %s)"
            " ON CONFLICT DO NOTHING RETURNING name",
            (name, mode.value),
        ).fetchone()
        if created is None:
            raise AdminError(f"environment {name!r} already exists")
        conn.execute(
            "INSERT INTO environment_origins (environment, origin)"
            " SELECT %s, unnest(%s::text[]) ON CONFLICT DO NOTHING",
            (name, allowed),
        )
    return EnvironmentRecord(name, tuple(allowed), mode)


def set_validation(conn: Connection, name: str, validation: ValidationMode) -> EnvironmentRecord:
    """Set what environment ``name`` does with schemas (the UPDATE notifies collectors)."""
    mode = parse_validation_mode(validation)
    with conn.transaction():
        updated = conn.execute(
            "UPDATE environments SET validation = %s WHERE name = %s RETURNING name",
            (mode.value, name),
        ).fetchone()
        if updated is None:
            raise AdminError(f"no environment {name!r}")
    return _existing(conn, name)


def set_environment_rate_limit(
    conn: Connection, name: str, limit: RateLimit | None
) -> EnvironmentRecord:
    """Set (None: remove) the rate limit of environment ``name`` (the UPDATE notifies
    collectors)."""
    with conn.transaction():
        updated = conn.execute(
            "UPDATE environments SET rate_limit_events = %s, rate_limit_period = %s,"
            " rate_limit_burst = %s WHERE name = %s RETURNING name",
            (*to_columns(limit), name),
        ).fetchone()
        if updated is None:
            raise AdminError(f"no environment {name!r}")
    return _existing(conn, name)


def delete_environment(conn: Connection, name: str, *, force: bool = False) -> None:
    with conn.transaction():
        # Locks the environment's row: no key can be created for it meanwhile.
        found = conn.execute(
            "SELECT 1 FROM environments WHERE name = %s FOR UPDATE", (name,)
        ).fetchone()
        if found is None:
            raise AdminError(f"no environment {name!r}")
        if not force:
            key_count = _count(conn, "SELECT count(*) FROM api_keys WHERE environment = %s", name)
            event_count = _count(
                conn, "SELECT count(*) FROM good_events WHERE environment = %s", name
            ) + _count(conn, "SELECT count(*) FROM bad_rows WHERE environment = %s", name)
            if key_count or event_count:
                raise AdminError(
                    f"environment {name!r} still has {key_count} key(s) and {event_count} event(s)"
                )
        for table in ("api_keys", "admin_tokens", "good_events", "bad_rows", "environment_origins"):
            conn.execute(f"DELETE FROM {table} WHERE environment = %s", (name,))
        conn.execute("DELETE FROM duplicate_counts WHERE environment = %s", (name,))
        conn.execute("DELETE FROM environments WHERE name = %s", (name,))


def add_origin(conn: Connection, environment: str, origin: str) -> EnvironmentRecord:
    """Allow ``origin`` (validated: ValueError; stored normalised); adding twice is a no-op."""
    origin = origins.normalise(origin)
    with conn.transaction():
        require_environment(conn, environment)
        conn.execute(
            "INSERT INTO environment_origins (environment, origin) VALUES (%s, %s)"
            " ON CONFLICT DO NOTHING",
            (environment, origin),
        )
    return _existing(conn, environment)


def remove_origin(conn: Connection, environment: str, origin: str) -> EnvironmentRecord:
    """Stop allowing ``origin``, written as added or in any equivalent form."""
    try:
        normalised = origins.normalise(origin)
    except ValueError:
        normalised = origin  # an entry stored before validation can still be removed as written
    with conn.transaction():
        require_environment(conn, environment)
        removed = conn.execute(
            "DELETE FROM environment_origins WHERE environment = %s AND origin IN (%s, %s)",
            (environment, origin, normalised),
        ).rowcount
        if not removed:
            raise AdminError(f"environment {environment!r} does not allow origin {origin!r}")
    return _existing(conn, environment)


def require_environment(conn: Connection, name: str) -> None:
    """Raise AdminError unless environment ``name`` exists."""
    if not _environment_exists(conn, name):
        raise AdminError(f"no environment {name!r}")


def _existing(conn: Connection, name: str) -> EnvironmentRecord:
    record = get_environment(conn, name)
    if record is None:
        raise AdminError(f"no environment {name!r}")
    return record


def _environment_exists(conn: Connection, name: str) -> bool:
    found = conn.execute("SELECT 1 FROM environments WHERE name = %s", (name,)).fetchone()
    return found is not None


def _count(conn: Connection, sql: str, *args: object) -> int:
    row = conn.execute(sql, args).fetchone()
    return int(row[0]) if row is not None else 0


# --- keys --------------------------------------------------------------------


def create_key(
    conn: Connection,
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
    with conn.transaction():
        # A shared lock on the environment's row: it cannot be deleted under the new key.
        found = conn.execute(
            "SELECT 1 FROM environments WHERE name = %s FOR SHARE", (environment,)
        ).fetchone()
        if found is None:
            raise AdminError(f"no environment {environment!r}")
        conn.execute(
            "INSERT INTO api_keys (key_id, key_hash, environment, label, prefix, created_at,"
            f" {_LIMIT_COLUMNS})"
            " VALUES (%s, %s, %s, %s, %s, to_timestamp(%s / 1000.0), %s, %s, %s)",
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


def _key_info(row: TupleRow) -> KeyInfo:
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


def list_keys(conn: Connection, environment: str | None = None) -> list[KeyInfo]:
    if environment is None:
        found = conn.execute(f"SELECT {_KEY_COLUMNS} FROM api_keys ORDER BY created_at, key_id")
    else:
        found = conn.execute(
            f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE environment = %s"
            " ORDER BY created_at, key_id",
            (environment,),
        )
    return [_key_info(row) for row in found]


def get_key(conn: Connection, key_id: str) -> KeyInfo:
    row = conn.execute(
        f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE key_id = %s",
        (key_id,),
    ).fetchone()
    if row is None:
        raise AdminError(f"no key {key_id!r}")
    return _key_info(row)


def revoke_key(conn: Connection, key_id: str) -> KeyInfo:
    """Revoke at once; revoking a revoked key keeps its first revocation time."""
    with conn.transaction():
        get_key(conn, key_id)
        conn.execute(
            "UPDATE api_keys SET revoked_at = to_timestamp(%s / 1000.0)"
            " WHERE key_id = %s AND revoked_at IS NULL",
            (now_ms(), key_id),
        )
    return get_key(conn, key_id)


def set_key_rate_limit(conn: Connection, key_id: str, limit: RateLimit | None) -> KeyInfo:
    """Set (None: remove) the rate limit of key ``key_id`` (the UPDATE notifies collectors)."""
    with conn.transaction():
        get_key(conn, key_id)
        conn.execute(
            "UPDATE api_keys SET rate_limit_events = %s, rate_limit_period = %s,"
            " rate_limit_burst = %s WHERE key_id = %s",
            (*to_columns(limit), key_id),
        )
    return get_key(conn, key_id)


def lookup_key(conn: Connection, key_hash: bytes) -> KeyRecord | None:
    # As in SQLite: an indexed equality look-up on the digest, then a constant-time check.
    row = conn.execute(
        f"SELECT key_hash, key_id, environment, revoked_at IS NOT NULL, {_LIMIT_COLUMNS}"
        " FROM api_keys WHERE key_hash = %s",
        (key_hash,),
    ).fetchone()
    if row is None or not keys.digests_match(bytes(row[0]), key_hash):
        return None
    return KeyRecord(
        key_id=row[1],
        environment=row[2],
        revoked=bool(row[3]),
        rate_limit=from_columns(*row[4:]),
    )


def all_keys(conn: Connection) -> dict[bytes, KeyRecord]:
    """Every key by digest, revoked ones included (what a collector keeps in memory)."""
    return {
        bytes(digest): KeyRecord(
            key_id=key_id,
            environment=environment,
            revoked=bool(revoked),
            rate_limit=from_columns(*limit),
        )
        for digest, key_id, environment, revoked, *limit in conn.execute(
            f"SELECT key_hash, key_id, environment, revoked_at IS NOT NULL, {_LIMIT_COLUMNS}"
            " FROM api_keys"
        )
    }


def update_last_used(conn: Connection, marks: dict[str, int]) -> None:
    """Write key last-used times (ms), never moving one back."""
    conn.execute(
        "UPDATE api_keys AS k SET last_used_at = greatest(k.last_used_at, m.used)"
        " FROM (SELECT unnest(%s::text[]) AS key_id,"
        " to_timestamp(unnest(%s::bigint[]) / 1000.0) AS used) AS m"
        " WHERE k.key_id = m.key_id",
        (list(marks), list(marks.values())),
    )
