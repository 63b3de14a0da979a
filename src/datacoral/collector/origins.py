"""Which origin a browser request comes from, and which environments allow it.

A request's origin is its ``Origin`` header or, lacking one, the origin of its
``Referer`` (simple ``GET`` pixels from older pages carry only the latter). A
request with neither is not a browser's: servers and the Python and Node trackers
need only a valid key. The allow-lists are read from storage and reused for at
most :data:`ORIGIN_CACHE_SECONDS`, so a change made with ``datacoral env
add-origin`` / ``remove-origin`` reaches a running server within one second.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from datacoral.admin.origins import AllowList, Origin, origin_of_url, parse_origin
from datacoral.collector.protocol import shown
from datacoral.storage.base import EnvironmentRecord

#: How long the environments' allow-lists are reused, as for keys (auth.py).
ORIGIN_CACHE_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class RequestOrigin:
    """Where a browser request says it comes from.

    ``origin`` is None when the value is ``null`` or unreadable: such a request is
    allowed nowhere. ``header`` is the ``Origin`` header exactly as sent (what a
    CORS answer echoes), or None when the origin came from ``Referer``.
    """

    origin: Origin | None
    header: str | None

    def describe(self) -> str:
        """The origin for an error message: never more than the origin of a Referer."""
        if self.origin is not None:
            return repr(str(self.origin))
        if self.header is not None:
            return f"Origin {shown(self.header, 80)}"
        return "an unreadable Referer"


def request_origin(origin_header: str | None, referer: str | None) -> RequestOrigin | None:
    """The origin of a request with these headers; None when it has neither."""
    if origin_header is not None:
        return RequestOrigin(parse_origin(origin_header), origin_header)
    if referer is not None:
        return RequestOrigin(origin_of_url(referer), None)
    return None


@dataclass(frozen=True, slots=True)
class _Snapshot:
    expires: float
    by_environment: dict[str, AllowList]
    anywhere: AllowList


class OriginCache:
    """Every environment's allow-list, reloaded from storage when older than ``ttl``.

    The whole table is small (a few environments, a few origins each), so it is
    read in one go; the load runs on the event loop, like key look-ups, because it
    is a short indexed read that WAL never blocks.
    """

    def __init__(
        self,
        load: Callable[[], list[EnvironmentRecord]],
        *,
        ttl: float = ORIGIN_CACHE_SECONDS,
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

    def _current(self) -> _Snapshot:
        now = self._clock()
        snapshot = self._snapshot
        if snapshot is None or snapshot.expires <= now:
            records = self._load()
            snapshot = _Snapshot(
                expires=now + self._ttl,
                by_environment={r.name: AllowList.from_entries(r.origins) for r in records},
                anywhere=AllowList.from_entries(o for r in records for o in r.origins),
            )
            self._snapshot = snapshot
        return snapshot
