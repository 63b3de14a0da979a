"""Admin tokens in the PostgreSQL store: the twin of :mod:`.sqlite_tokens`, with the
same rules and messages. Tokens are stored only as their digest; the plaintext leaves
:func:`create_admin_token` once, to the caller.
"""

from __future__ import annotations

from datacoral.admin import keys, tokens
from datacoral.storage.base import AdminError, AdminTokenInfo, AdminTokenRecord
from datacoral.storage.postgres_admin import Connection, now_ms

_MS = "(extract(epoch FROM {}) * 1000)::bigint"
_TOKEN_COLUMNS = (
    f"token_id, environment, label, prefix, {_MS.format('created_at')}, {_MS.format('revoked_at')}"
)


def create_admin_token(
    conn: Connection, environment: str, label: str | None = None
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
    with conn.transaction():
        # A shared lock on the environment's row: it cannot be deleted under the new token.
        found = conn.execute(
            "SELECT 1 FROM environments WHERE name = %s FOR SHARE", (environment,)
        ).fetchone()
        if found is None and environment != tokens.ALL_ENVIRONMENTS:
            raise AdminError(f"no environment {environment!r}")
        conn.execute(
            "INSERT INTO admin_tokens (token_id, token_hash, environment, label, prefix,"
            " created_at) VALUES (%s, %s, %s, %s, %s, to_timestamp(%s / 1000.0))",
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


def list_admin_tokens(conn: Connection, environment: str | None = None) -> list[AdminTokenInfo]:
    if environment is None:
        found = conn.execute(
            f"SELECT {_TOKEN_COLUMNS} FROM admin_tokens ORDER BY created_at, token_id"
        )
    else:
        found = conn.execute(
            f"SELECT {_TOKEN_COLUMNS} FROM admin_tokens WHERE environment = %s"
            " ORDER BY created_at, token_id",
            (environment,),
        )
    return [AdminTokenInfo(*row) for row in found]


def get_admin_token(conn: Connection, token_id: str) -> AdminTokenInfo:
    row = conn.execute(
        f"SELECT {_TOKEN_COLUMNS} FROM admin_tokens WHERE token_id = %s", (token_id,)
    ).fetchone()
    if row is None:
        raise AdminError(f"no admin token {token_id!r}")
    return AdminTokenInfo(*row)


def revoke_admin_token(conn: Connection, token_id: str) -> AdminTokenInfo:
    """Revoke at once; revoking a revoked token keeps its first revocation time."""
    with conn.transaction():
        get_admin_token(conn, token_id)
        conn.execute(
            "UPDATE admin_tokens SET revoked_at = to_timestamp(%s / 1000.0)"
            " WHERE token_id = %s AND revoked_at IS NULL",
            (now_ms(), token_id),
        )
    return get_admin_token(conn, token_id)


def lookup_admin_token(conn: Connection, token_hash: bytes) -> AdminTokenRecord | None:
    # As for keys: an indexed look-up on the digest, then a constant-time comparison.
    row = conn.execute(
        "SELECT token_hash, token_id, environment, revoked_at IS NOT NULL FROM admin_tokens"
        " WHERE token_hash = %s",
        (token_hash,),
    ).fetchone()
    if row is None or not keys.digests_match(bytes(row[0]), token_hash):
        return None
    return AdminTokenRecord(token_id=row[1], environment=row[2], revoked=bool(row[3]))
