"""API keys: shown once, stored hashed, listed by prefix, revocable at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from datacoral.admin.keys import hash_key
from datacoral.storage.base import AdminError
from datacoral.storage.sqlite import SQLiteStorage


def test_create_list_and_look_up(storage: SQLiteStorage) -> None:
    info, key = storage.create_key("prod", label="backend")
    assert key.startswith("dck_")
    assert info.prefix == key[:8]
    assert (info.environment, info.label, info.revoked) == ("prod", "backend", False)
    assert storage.list_keys() == [info]
    assert storage.list_keys("prod") == [info]
    assert storage.list_keys("dev") == []

    record = storage.lookup_key(hash_key(key))
    assert record is not None
    assert (record.key_id, record.environment, record.revoked) == (info.key_id, "prod", False)
    assert storage.lookup_key(hash_key(key + "x")) is None


def test_revoke_takes_effect_at_once(storage: SQLiteStorage) -> None:
    info, key = storage.create_key("dev")
    revoked = storage.revoke_key(info.key_id)
    assert revoked.revoked and revoked.revoked_at is not None
    record = storage.lookup_key(hash_key(key))
    assert record is not None and record.revoked
    # Revoking again keeps the first revocation time.
    assert storage.revoke_key(info.key_id).revoked_at == revoked.revoked_at


def test_unknown_key_and_environment_are_admin_errors(storage: SQLiteStorage) -> None:
    with pytest.raises(AdminError, match="no key 'key_nope'"):
        storage.revoke_key("key_nope")
    with pytest.raises(AdminError, match="no environment 'qa'"):
        storage.create_key("qa")


def test_plaintext_key_is_nowhere_in_the_files(db_path: Path) -> None:
    store = SQLiteStorage(db_path)
    store.open()
    _, key = store.create_key("dev", label="secret-test")
    store.lookup_key(hash_key(key))
    # Read the files while the store is open (the WAL still holds the writes) and after.
    snapshots = [_file_bytes(db_path)]
    store.close()
    snapshots.append(_file_bytes(db_path))
    assert b"secret-test" in snapshots[0]  # proves we did read the written data
    for data in snapshots:
        assert key.encode() not in data
        assert key[8:].encode() not in data


def test_last_used_is_written_in_batches(db_path: Path) -> None:
    store = SQLiteStorage(db_path, key_usage_interval=3600)
    store.open()
    info, key = store.create_key("dev")
    for _ in range(100):
        store.lookup_key(hash_key(key))
    # Not written per look-up: the interval has not passed.
    assert store.list_keys()[0].last_used_at is None
    store.close()  # close writes what is pending
    with SQLiteStorage(db_path) as reopened:
        last_used = reopened.list_keys()[0].last_used_at
    assert last_used is not None and last_used >= info.created_at


def _file_bytes(db_path: Path) -> bytes:
    data = b""
    for suffix in ("", "-wal", "-shm"):
        path = db_path.with_name(db_path.name + suffix)
        if path.exists():
            data += path.read_bytes()
    return data
