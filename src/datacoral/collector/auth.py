"""Who is sending: the API key of a request, and the environment it decides.

The caller finds the key (``X-Api-Key`` header, ``/k/{key}/`` path prefix,
``api_key`` query parameter, legacy ``x_api_key`` event field, in that order);
this module decides what it is worth. A request whose carriers name different
keys is refused (:func:`one_key`): which one was meant is anybody's guess. Keys
are hashed at once: only digests are looked up and cached, and no error message
ever repeats a key.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from datacoral.admin.keys import hash_key
from datacoral.collector.errors import Forbidden, Unauthorized
from datacoral.collector.protocol import shown
from datacoral.storage.base import KeyRecord

MISSING_KEY = "missing API key: send X-Api-Key"

#: How long a lookup result (a miss too) is reused. Short, so that a revoked key
#: stops working within one second, yet the hot path rarely reaches the database.
KEY_CACHE_SECONDS = 0.5
#: A flood of random keys must not grow the cache without bound.
KEY_CACHE_ENTRIES = 10_000


def one_key(carriers: str) -> Unauthorized:
    """The refusal of a request whose ``carriers`` (e.g. ``X-Api-Key and api_key``) name
    different keys; the same key twice is fine."""
    return Unauthorized(f"{carriers} name different API keys: send one key")


def check_claim(environment: str, claimed: str | None) -> None:
    """Refuse (403) a request whose header, query or events name another environment."""
    if claimed is not None and claimed != environment:
        raise Forbidden(
            f"environment mismatch: the key belongs to {environment!r}, not {shown(claimed, 40)}"
        )


class KeyResolver:
    """Authenticates keys against storage through a short-lived cache of digests."""

    def __init__(
        self,
        lookup: Callable[[bytes], KeyRecord | None],
        *,
        ttl: float = KEY_CACHE_SECONDS,
        max_entries: int = KEY_CACHE_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lookup = lookup
        self._ttl = ttl
        self._max_entries = max_entries
        self._clock = clock
        self._cache: dict[bytes, tuple[float, KeyRecord | None]] = {}

    def record(self, key: str) -> KeyRecord | None:
        """The stored record of ``key``, at most ``ttl`` seconds old."""
        try:
            digest = hash_key(key)
        except UnicodeEncodeError:
            return None  # a lone surrogate (legacy in-event key): no key we issued
        now = self._clock()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        # Lookups are microseconds in SQLite (a primary-key read that WAL never
        # blocks), so doing it on the event loop is cheaper than a thread hop.
        found = self._lookup(digest)
        if len(self._cache) >= self._max_entries:
            self._cache.clear()
        self._cache[digest] = (now + self._ttl, found)
        return found

    def environment_of(self, key: str | None, claimed: str | None) -> str:
        """The environment ``key`` belongs to; raises 401/403 errors as documented."""
        return self.authenticate(key, claimed).environment

    def authenticate(self, key: str | None, claimed: str | None) -> KeyRecord:
        """The record of ``key`` (its environment, its rate limit), if it may send to
        ``claimed`` (None: whichever is its own); raises 401/403 errors as documented."""
        if not key:
            raise Unauthorized(MISSING_KEY)
        found = self.record(key)
        if found is None:
            raise Unauthorized("unknown API key")
        if found.revoked:
            raise Unauthorized("revoked API key")
        check_claim(found.environment, claimed)
        return found
