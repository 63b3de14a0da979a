"""Key lookups are cached for at most half a second, misses included."""

from __future__ import annotations

import pytest

from datacoral.collector.auth import KeyResolver
from datacoral.collector.errors import Forbidden, Unauthorized
from datacoral.storage import open_storage
from datacoral.storage.base import KeyRecord
from datacoral.storage.target import Target


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_cache_lifetime_and_revocation(db_path: Target) -> None:
    storage = open_storage(db_path)
    try:
        info, key = storage.create_key("dev")
        lookups: list[bytes] = []

        def lookup(digest: bytes) -> KeyRecord | None:
            lookups.append(digest)
            return storage.lookup_key(digest)

        clock = Clock()
        resolver = KeyResolver(lookup, clock=clock)
        assert resolver.environment_of(key, "dev") == "dev"
        assert resolver.environment_of(key, None) == "dev"
        assert len(lookups) == 1  # the second call was served from the cache
        assert key.encode() not in lookups[0]  # only the digest travels

        storage.revoke_key(info.key_id)
        clock.now += 0.49
        assert resolver.environment_of(key, None) == "dev"  # still cached
        clock.now += 0.02
        with pytest.raises(Unauthorized, match=r"^revoked API key$"):
            resolver.environment_of(key, None)

        with pytest.raises(Unauthorized, match=r"^unknown API key$"):
            resolver.environment_of("dck_nope", None)
        with pytest.raises(Unauthorized):
            resolver.environment_of("dck_nope", None)
        assert len(lookups) == 3  # the miss is cached too
    finally:
        storage.close()


def test_mismatch_and_missing(db_path: Target) -> None:
    storage = open_storage(db_path)
    try:
        _, key = storage.create_key("prod")
        resolver = KeyResolver(storage.lookup_key)
        with pytest.raises(Forbidden, match="belongs to 'prod', not 'dev'"):
            resolver.environment_of(key, "dev")
        with pytest.raises(Unauthorized, match="missing API key"):
            resolver.environment_of(None, "dev")
    finally:
        storage.close()


def test_cache_is_bounded() -> None:
    resolver = KeyResolver(lambda digest: None, max_entries=10)
    for number in range(25):
        with pytest.raises(Unauthorized):
            resolver.environment_of(f"dck_{number}", None)
    assert len(resolver._cache) <= 10
