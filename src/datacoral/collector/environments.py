"""What the collector needs to know about each environment, kept fresh from storage.

Per environment: the browser origins it allows, its schema validation mode and its
rate limit. The whole table is small (a few environments, a few origins each), so it is read in one
go and reused for at most :data:`ENVIRONMENT_CACHE_SECONDS`: a change made with
``datacoral env add-origin`` / ``remove-origin`` / ``set --validation`` / ``set
--rate-limit`` reaches a running server within one second. The read runs on the event loop, like key
look-ups, because it is a short indexed read that WAL never blocks (SQLite), or a
copy kept in memory by a thread that listens for changes (PostgreSQL).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from datacoral.admin.environments import DEFAULT_VALIDATION, ValidationMode
from datacoral.admin.origins import AllowList, Origin
from datacoral.admin.rate_limits import RateLimit
from datacoral.storage.base import EnvironmentRecord

#: How long a read of the environments is reused, as for keys (auth.py).
ENVIRONMENT_CACHE_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class _Snapshot:
    expires: float
    by_environment: dict[str, AllowList]
    anywhere: AllowList
    validation: dict[str, ValidationMode]
    rate_limits: dict[str, RateLimit]


class EnvironmentCache:
    """Every environment's allow-list, validation mode and rate limit, reloaded from
    storage when older than ``ttl``."""

    def __init__(
        self,
        load: Callable[[], list[EnvironmentRecord]],
        *,
        ttl: float = ENVIRONMENT_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._ttl = ttl
        self._clock = clock
        self._snapshot: _Snapshot | None = None

    def allows(self, environment: str, origin: Origin | None) -> bool:
        """Whether ``environment`` lets in ``origin`` (None: null or unreadable, never)."""
        found = self._current().by_environment.get(environment)
        return found is not None and found.allows(origin)

    def allowed_anywhere(self, origin: Origin | None) -> bool:
        """Whether some environment lets in ``origin``."""
        return self._current().anywhere.allows(origin)

    def validation(self, environment: str) -> ValidationMode:
        """The validation mode of ``environment``. One created since the last read (its
        key can be newer than the snapshot) is read again at once."""
        mode = self._current().validation.get(environment)
        if mode is None:
            mode = self._current(reload=True).validation.get(environment, DEFAULT_VALIDATION)
        return mode

    def rate_limit(self, environment: str) -> RateLimit | None:
        """The rate limit of ``environment`` (None: none)."""
        return self._current().rate_limits.get(environment)

    def _current(self, *, reload: bool = False) -> _Snapshot:
        now = self._clock()
        snapshot = self._snapshot
        if reload or snapshot is None or snapshot.expires <= now:
            records = self._load()
            snapshot = _Snapshot(
                expires=now + self._ttl,
                by_environment={r.name: AllowList.from_entries(r.origins) for r in records},
                anywhere=AllowList.from_entries(o for r in records for o in r.origins),
                validation={r.name: r.validation for r in records},
                rate_limits={r.name: r.rate_limit for r in records if r.rate_limit is not None},
            )
            self._snapshot = snapshot
        return snapshot
