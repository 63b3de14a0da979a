"""The time range of an export, and how an export is resumed.

An export takes the rows whose time (a good event's ``collector_tstamp``, a bad
row's ``received_tstamp``) is in the half-open range ``[since, until)``: ``since``
inclusive, ``until`` exclusive. Two exports that share a boundary (the first's
``until`` the second's ``since``) therefore take every row once, and never one
twice; the summary line prints the value to resume with.

Without ``until`` an export stops :data:`SETTLE_SECONDS` before it started. The
collector stamps an event when its request arrives and stores it a moment later;
an event stamped just before the export started may be stored just after it read,
and the next export (which starts at this one's ``until``) would skip it. Giving
the requests in flight those seconds to be stored closes that gap.
"""

from __future__ import annotations

import dataclasses
import datetime
import time

from datacoral.export.records import iso_timestamp

#: How far behind the present an export without ``--until`` stops (see the module's doc).
SETTLE_SECONDS = 10
#: What ``--since`` / ``--until`` take for the present moment.
NOW = "now"


@dataclasses.dataclass(frozen=True, slots=True)
class Window:
    """Rows stamped at or after ``since`` (None: from the first) and before ``until``,
    both in milliseconds since the epoch."""

    since: int | None
    until: int

    def __post_init__(self) -> None:
        if self.since is not None and self.since > self.until:
            since, until = iso_timestamp(self.since), iso_timestamp(self.until)
            raise ValueError(f"--since ({since}) is after --until ({until})")

    def __repr__(self) -> str:
        since = None if self.since is None else iso_timestamp(self.since)
        return f"Window(since={since!r}, until={iso_timestamp(self.until)!r})"

    @property
    def resume_since(self) -> str:
        """The ``--since`` that continues where this window ends."""
        return iso_timestamp(self.until)


def window(since: str | None, until: str | None, *, now_ms: int | None = None) -> Window:
    """The window of ``--since`` and ``--until`` (ISO 8601, or ``now``); without
    ``until``, :data:`SETTLE_SECONDS` before ``now_ms`` (default: the present)."""
    now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    start = None if since is None else parse_instant(since, now_ms=now)
    if until is not None:
        return Window(start, parse_instant(until, now_ms=now))
    end = now - SETTLE_SECONDS * 1000
    if start is not None and start > end:
        raise ValueError(
            f"--since ({iso_timestamp(start)}) is after the default --until, {SETTLE_SECONDS}"
            f" seconds ago ({iso_timestamp(end)}): give --until now to export to the present"
        )
    return Window(start, end)


def parse_instant(text: str, *, now_ms: int | None = None) -> int:
    """Milliseconds since the epoch of an ISO 8601 date or time (``2026-05-01``,
    ``2026-05-01T12:00:00.250Z``, ``2026-05-01 14:00+02:00``; UTC when it names no
    offset), or of ``now``. A time between two milliseconds counts as the later one,
    which keeps the range's ends exact: a row is in it or not, whatever the rounding."""
    value = text.strip()
    if value.lower() == NOW:
        return time.time_ns() // 1_000_000 if now_ms is None else now_ms
    if value[-1:] in ("Z", "z"):
        value = value[:-1] + "+00:00"  # Python before 3.11 does not read "Z"
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"not an ISO 8601 time: {text!r} (e.g. 2026-05-01 or 2026-05-01T12:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    delta = moment - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    # Integer arithmetic on the timedelta: a float would round some milliseconds away.
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return -(-micros // 1000)
