"""Rate limits of environments and API keys: what one is, and how it is written.

A limit is a token bucket counted in events: on average at most ``events`` events
every ``per_seconds`` seconds (``1000/s``, ``600/min``), and at most ``burst`` at once
(by default one period's worth, ``events``). The endpoint enforces it
(:mod:`datacoral.collector.rate_limits`); the command line writes it as
``--rate-limit 1000/s --burst 5000`` and ``--rate-limit none`` removes it. Storage
keeps it in three columns (:func:`to_columns`, :func:`from_columns`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: The largest rate or burst accepted: far above what one endpoint can take, and small
#: enough for every column type.
MAX_EVENTS = 1_000_000_000
#: The words ``--rate-limit`` takes after the slash, and their seconds.
PERIODS = {"s": 1, "min": 60}
#: The ``--rate-limit`` value that removes a limit.
NO_LIMIT = "none"

_RATE = re.compile(r"(\d{1,10})/(s|min)")
_FORMS = "N/s or N/min (e.g. 1000/s, 600/min), or none"

#: One limit as storage keeps it: (events, per_seconds, burst), all None for no limit.
Columns = tuple[int | None, int | None, int | None]


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``events`` events every ``per_seconds`` seconds (1 or 60) on average, and
    at most ``burst`` at once. Checked at construction (ValueError)."""

    events: int
    per_seconds: int
    burst: int

    def __post_init__(self) -> None:
        if self.per_seconds not in PERIODS.values():
            raise ValueError(f"invalid rate limit period {self.per_seconds!r}: use 1 or 60")
        _check_count("rate limit", self.events)
        _check_count("--burst", self.burst)

    @property
    def per_second(self) -> float:
        """The refill rate, in events per second."""
        return self.events / self.per_seconds

    @property
    def rate(self) -> str:
        """The rate as ``--rate-limit`` takes it: ``1000/s``, ``600/min``."""
        unit = "s" if self.per_seconds == 1 else "min"
        return f"{self.events}/{unit}"

    def __str__(self) -> str:
        return f"{self.rate} burst {self.burst}"


def parse_rate_limit(rate: str, burst: str | int | None = None) -> RateLimit | None:
    """``--rate-limit RATE [--burst N]`` as a :class:`RateLimit`; None for ``none``.

    ``burst`` defaults to the events of one period (``100/s`` → 100). ValueError, naming
    the option and the accepted forms, for anything else (``--burst`` with ``none`` too).
    """
    text = rate.strip()
    if text.lower() == NO_LIMIT:
        if burst is not None:
            raise ValueError("--burst needs a rate limit: give --rate-limit N/s or N/min")
        return None
    found = _RATE.fullmatch(text)
    if found is None:
        raise ValueError(f"invalid --rate-limit {rate!r}: use {_FORMS}")
    events = int(found.group(1))
    if not 1 <= events <= MAX_EVENTS:
        raise ValueError(f"invalid --rate-limit {rate!r}: use 1 to {MAX_EVENTS:,} events")
    return RateLimit(
        events, PERIODS[found.group(2)], events if burst is None else parse_burst(burst)
    )


def parse_burst(burst: str | int) -> int:
    """``--burst N``: a whole number of events, 1 or more; else ValueError."""
    text = str(burst).strip()
    if not text.isdigit() or len(text) > 10:
        raise ValueError(f"invalid --burst {burst!r}: use a whole number of events, 1 or more")
    count = int(text)
    _check_count("--burst", count)
    return count


def with_burst(limit: RateLimit | None, burst: str | int, owner: str) -> RateLimit:
    """``--burst N`` alone: ``limit`` with another burst; ValueError when ``owner`` (e.g.
    ``environment 'dev'``) has no limit to change."""
    if limit is None:
        raise ValueError(f"{owner} has no rate limit: give --rate-limit N/s or N/min with --burst")
    return RateLimit(limit.events, limit.per_seconds, parse_burst(burst))


def to_columns(limit: RateLimit | None) -> Columns:
    """The three stored values of ``limit`` (None: three NULLs)."""
    if limit is None:
        return (None, None, None)
    return (limit.events, limit.per_seconds, limit.burst)


def from_columns(
    events: int | None, per_seconds: int | None, burst: int | None
) -> RateLimit | None:
    """The limit stored as three columns; None unless all three are set."""
    if events is None or per_seconds is None or burst is None:
        return None
    return RateLimit(int(events), int(per_seconds), int(burst))


def describe(limit: RateLimit | None) -> str:
    """``1000/s burst 5000``, or ``none``: how listings show a limit."""
    return NO_LIMIT if limit is None else str(limit)


def limit_json(limit: RateLimit | None) -> dict[str, object] | None:
    """The limit in ``--json`` output: ``{"rate": "1000/s", "burst": 5000}`` or null."""
    if limit is None:
        return None
    return {"rate": limit.rate, "burst": limit.burst}


def _check_count(what: str, count: int) -> None:
    if not 1 <= count <= MAX_EVENTS:
        raise ValueError(f"invalid {what} {count}: use 1 to {MAX_EVENTS:,} events")
