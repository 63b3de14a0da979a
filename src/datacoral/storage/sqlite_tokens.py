"""Admin tokens in the SQLite store (datacoral.admin.tokens): created, listed, revoked
and looked up, as plain functions over an autocommit connection like
:mod:`.sqlite_admin`. Tokens are stored only as their digest; the plaintext leaves
:func:`create_admin_token` once, to the caller.
"""

from __future__ import annotations

import sqlite3

from datacoral.admin import keys, tokens
from datacoral.storage.base import AdminError, AdminTokenInfo, AdminTokenRecord
from datacoral.storage.sqlite_admin import now_ms, require_environment, write_transaction

_TOKEN_COLUMNS = "token_id, environment, label, prefix, created_at, revoked_at"


def create_admin_token(
    conn: sqlite3.Connection, environment: str, label: str | None = None
) -> tuple[AdminTokenInfo, str]:
    """A new admin token for ``environment``: its info and the plaintext (stored nowhere)."""
    token = tokens.generate_token()
    info = AdminTokenInfo(
        token_id=tokens.new_token_id(),
        environment=environment,
        label=label,
        prefix=tokens.visible_prefix(token),
        created_at=now_ms(),
    )
    with write_transaction(conn):
        if environment != tokens.ALL_ENVIRONMENTS:
            require_environment(conn, environment)
        conn.execute(
            "INSERT INTO admin_tokens (token_id, token_hash, environment, label, prefix,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (
                info.token_id,
                tokens.hash_token(token),
                environment,
                label,
                info.prefix,
                info.created_at,
            ),
        )
    return info, token


def list_admin_tokens(
    conn: sqlite3.Connection, environment: str | None = None
) -> list[AdminTokenInfo]:
    if environment is None:
        found = conn.execute(
            f"SELECT {_TOKEN_COLUMNS} FROM admin_tokens ORDER BY created_at, token_id"
        )
    else:
        found = conn.execute(
            f"SELECT {_TOKEN_COLUMNS} FROM admin_tokens WHERE environment = ?"
            " ORDER BY created_at, token_id",
            (environment,),
        )
    return [AdminTokenInfo(*row) for row in found]


def get_admin_token(conn: sqlite3.Connection, token_id: str) -> AdminTokenInfo:
    row = conn.execute(
        f"SELECT {_TOKEN_COLUMNS} FROM admin_tokens WHERE token_id = ?", (token_id,)
    ).fetchone()
    if row is None:
        raise AdminError(f"no admin token {token_id!r}")
    return AdminTokenInfo(*row)


def revoke_admin_token(conn: sqlite3.Connection, token_id: str) -> AdminTokenInfo:
    """Revoke at once; revoking a revoked token keeps its first revocation time."""
    with write_transaction(conn):
        get_admin_token(conn, token_id)
        conn.execute(
            "UPDATE admin_tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL",
            (now_ms(), token_id),
        )
    return get_admin_token(conn, token_id)


def lookup_admin_token(conn: sqlite3.Connection, token_hash: bytes) -> AdminTokenRecord | None:
    # As for keys: an indexed look-up on the digest, then a constant-time comparison.
    row = conn.execute(
        "SELECT token_hash, token_id, environment, revoked_at FROM admin_tokens"
        " WHERE token_hash = ?",
        (token_hash,),
    ).fetchone()
    if row is None or not keys.digests_match(bytes(row[0]), token_hash):
        return None
    return AdminTokenRecord(token_id=row[1], environment=row[2], revoked=row[3] is not None)
