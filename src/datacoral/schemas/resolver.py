"""The Iglu resolver: sources asked in order, answers cached, outages survived.

**Order.** The sources are asked one after the other (the embedded set first, then
local folders and registries in the order configured); the first that has the
schema wins and the rest are not asked.

**Caching.** Each key's answer is kept:

- found: ``ttl`` seconds (default 10 minutes), then asked again;
- not found (every source answered "no"): ``miss_ttl`` seconds (default 30), so a
  schema published meanwhile is picked up soon;
- unavailable (no source had it and at least one could not answer): ``failure_ttl``
  seconds (default 10), so a dead registry costs one attempt per schema per
  ``failure_ttl``, not one per event.

**Outages (the policy).** A registry that cannot answer is never taken for a "no":

- *stale-while-error*: when a schema was found before, its last good copy goes on
  being used (and is marked ``stale``) for as long as the refresh fails, each failed
  refresh retried after ``failure_ttl``. Iglu schemas are immutable once published, so
  the copy is right; events keep being validated through the outage.
- *unavailable, not invalid*: a schema never seen before raises
  :class:`SchemaUnavailable`, distinct from :class:`SchemaNotFound`. It is no verdict
  on the event: the caller decides (see :mod:`datacoral.schemas` for what the
  collector should do in each mode).
- a schema found in a later source while an earlier one fails is found.

**Threads.** :meth:`Resolver.resolve` is synchronous, blocks on I/O when it must ask the
sources, and is safe from any number of threads. A cached answer is a dictionary
look-up. One thread refreshes a key at a time; the others wait for it, except when a
copy is cached, which they use meanwhile. With ``cached_only=True`` it never blocks:
what is not cached and fresh raises :class:`SchemaNotCached` (an event loop answers
that by calling again in a worker thread).

At most ``max_entries`` keys are kept; past that the oldest tenth is dropped, so
random schema URIs in hostile events cannot grow memory.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from datacoral.schemas.errors import (
    SchemaNotCached,
    SchemaNotFound,
    SchemaUnavailable,
    SchemaUnresolved,
)
from datacoral.schemas.sources import Failed, Found, SchemaSource
from datacoral.schemas.uri import SchemaKey

logger = logging.getLogger("datacoral.schemas")

DEFAULT_TTL = 600.0
DEFAULT_MISS_TTL = 30.0
DEFAULT_FAILURE_TTL = 10.0
#: Seconds between two warnings about unavailable sources (the rest are counted).
OUTAGE_LOG_INTERVAL = 5.0
DEFAULT_MAX_ENTRIES = 10_000
#: How much of the sources' reasons an error keeps.
_MAX_REASON = 400


class Resolved(NamedTuple):
    """A schema the resolver has: the document, the source it came from, and whether it is
    an earlier copy kept in use while the sources cannot answer."""

    schema: Mapping[str, Any]
    source: str
    stale: bool = False


@dataclasses.dataclass
class ResolverStats:
    """Counts since start: source look-ups and their outcomes (one per refresh, not per
    event), and the keys cached now."""

    lookups: int = 0
    found: int = 0
    not_found: int = 0
    unavailable: int = 0
    stale_kept: int = 0
    entries: int = 0


class _Entry:
    """One key's cached answer: a schema (``resolved``) or the reason there is none."""

    __slots__ = ("error", "expires", "lock", "reason", "resolved")

    def __init__(self) -> None:
        self.resolved: Resolved | None = None
        self.error: type[SchemaUnresolved] = SchemaUnavailable
        self.reason = ""
        self.expires = float("-inf")
        self.lock = threading.Lock()

    def answer(self, key: SchemaKey) -> Resolved:
        if self.resolved is not None:
            return self.resolved
        raise self.error(key.uri, self.reason)  # a new exception each time: no traceback pile


class Resolver:
    """Resolves Iglu keys through ``sources`` in order, with the caching and outage policy
    of this module. ``clock`` (monotonic seconds) is for tests."""

    def __init__(
        self,
        sources: Sequence[SchemaSource],
        *,
        ttl: float = DEFAULT_TTL,
        miss_ttl: float = DEFAULT_MISS_TTL,
        failure_ttl: float = DEFAULT_FAILURE_TTL,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if min(ttl, miss_ttl, failure_ttl) < 0 or max_entries < 1:
            raise ValueError("ttl, miss_ttl and failure_ttl must be >= 0, max_entries >= 1")
        self.sources = tuple(sources)
        self.ttl = ttl
        self.miss_ttl = miss_ttl
        self.failure_ttl = failure_ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[SchemaKey, _Entry] = {}
        self._lock = threading.Lock()  # guards _entries' membership and the counters
        self._stats = ResolverStats()
        # Outage warnings: at most one line per OUTAGE_LOG_INTERVAL, counting the look-ups
        # it stands for (schema URIs come from clients, who must not be able to fill the log).
        self._outage_logged_at: float | None = None
        self._outages_unlogged = 0

    def __repr__(self) -> str:
        names = ", ".join(source.name for source in self.sources)
        return f"<Resolver [{names}] ttl={self.ttl} failure_ttl={self.failure_ttl}>"

    def resolve(self, key: SchemaKey, *, cached_only: bool = False) -> Resolved:
        """The schema of ``key``: from the cache while fresh, else from the sources.

        Raises :class:`SchemaNotFound` or :class:`SchemaUnavailable` (see the module's
        policy), and with ``cached_only`` :class:`SchemaNotCached` instead of any I/O.
        """
        entry = self._entries.get(key)
        if entry is not None and self._clock() < entry.expires:
            resolved = entry.resolved
            return entry.answer(key) if resolved is None else resolved
        if cached_only:
            raise SchemaNotCached(key.uri)
        return self._refresh(key)

    def stats(self) -> ResolverStats:
        with self._lock:
            return dataclasses.replace(self._stats, entries=len(self._entries))

    def clear(self) -> None:
        """Forget every cached answer (stale copies included)."""
        with self._lock:
            self._entries.clear()

    def _refresh(self, key: SchemaKey) -> Resolved:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                if len(self._entries) >= self.max_entries:
                    for old in list(self._entries)[: max(1, self.max_entries // 10)]:
                        del self._entries[old]
                entry = self._entries[key] = _Entry()
        if not entry.lock.acquire(blocking=False):
            if entry.resolved is not None:
                return entry.resolved  # another thread is refreshing: the copy will do
            entry.lock.acquire()
        try:
            if self._clock() < entry.expires:  # refreshed while this thread waited
                return entry.answer(key)
            self._ask_sources(key, entry)
            return entry.answer(key)
        finally:
            entry.lock.release()

    def _ask_sources(self, key: SchemaKey, entry: _Entry) -> None:
        failures: list[str] = []
        misses: list[str] = []
        for source in self.sources:
            try:
                lookup = source.fetch(key)
            except Exception as exc:  # a source's bug must not become every event's failure
                logger.exception("iglu: %s raised while fetching %s", source.name, key.uri)
                lookup = Failed(f"{source.name}: internal error ({type(exc).__name__})")
            if isinstance(lookup, Found):
                self._found(entry, lookup.schema, source.name)
                return
            (failures if isinstance(lookup, Failed) else misses).append(lookup.reason)
        reason = "; ".join(failures + misses)
        if len(reason) > _MAX_REASON:
            reason = reason[: _MAX_REASON - 3] + "..."
        now = self._clock()
        with self._lock:
            self._stats.lookups += 1
            if failures:
                self._stats.unavailable += 1
                if entry.resolved is not None:
                    self._stats.stale_kept += 1
            else:
                self._stats.not_found += 1
        if not failures:
            entry.resolved, entry.error, entry.reason = None, SchemaNotFound, reason
            entry.expires = now + self.miss_ttl
            return
        entry.expires = now + self.failure_ttl
        kept = entry.resolved is not None
        self._log_outage(now, key, reason, kept=kept)
        if entry.resolved is not None:
            entry.resolved = entry.resolved._replace(stale=True)
            return
        entry.error, entry.reason = SchemaUnavailable, f"registry unavailable: {reason}"

    def _log_outage(self, now: float, key: SchemaKey, reason: str, *, kept: bool) -> None:
        """One warning per :data:`OUTAGE_LOG_INTERVAL` at most, naming the latest failure
        and how many more there were since the last line."""
        with self._lock:
            last = self._outage_logged_at
            if last is not None and now - last < OUTAGE_LOG_INTERVAL:
                self._outages_unlogged += 1
                return
            self._outage_logged_at, more = now, self._outages_unlogged
            self._outages_unlogged = 0
        also = f" ({more} more look-ups failed since the last such line)" if more else ""
        kept_text = ", the cached copy stays in use" if kept else ""
        logger.warning("iglu: %s: sources unavailable%s: %s%s", key.uri, kept_text, reason, also)

    def _found(self, entry: _Entry, schema: Mapping[str, Any], source: str) -> None:
        previous = entry.resolved
        if previous is not None and previous.schema == schema:
            schema = previous.schema  # the same object: compiled validators stay valid
        entry.resolved = Resolved(schema, source)
        entry.expires = self._clock() + self.ttl
        with self._lock:
            self._stats.lookups += 1
            self._stats.found += 1
