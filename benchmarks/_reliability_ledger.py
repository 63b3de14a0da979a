"""The reliability run's accounting: what the answers imply was stored, and what was.

Every request knows what each of its events must become when it is answered 200
(:class:`Outcome`); a 400 from the collector adds one bad row, a 413 one
size-violation bad row, in the environment of the request's key. After the run
the store is counted per environment (``datacoral events count``'s figures, and
bad rows by kind) and compared category by category. Where each event's fate is
known (``dev``, ``prod``) every count must be exact. Mutated and random events
(``stage``) may be good or bad (``either``), or, when their id came earlier in
the batch with other content, also a duplicate or a conflict (``unknown``): their
categories are ranges, and their sum is exact too.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path

from datacoral.storage.sqlite import SQLiteStorage

#: Bad-row kinds the store writes (``BadRow.kind``).
PROTOCOL, CONFLICT, SIZE = "tracker_protocol_violation", "duplicate_conflict", "size_violation"


@dataclass
class Outcome:
    """What a set of events must become (counts of events or rows)."""

    good: int = 0
    bad: int = 0  # protocol bad rows: bad events, and whole requests answered 400
    duplicate: int = 0  # counted, not stored
    conflict: int = 0  # same id, other content: a duplicate_conflict bad row
    size: int = 0  # requests answered 413: a size_violation bad row
    either: int = 0  # good or bad
    unknown: int = 0  # good, bad, duplicate or conflict

    def add(self, other: Outcome) -> None:
        for item in fields(self):
            setattr(self, item.name, getattr(self, item.name) + getattr(other, item.name))

    @property
    def total(self) -> int:
        return sum(getattr(self, item.name) for item in fields(self))


@dataclass(frozen=True)
class Stored:
    """What one environment holds once the server has stopped."""

    good: int
    bad: int
    duplicates: int
    kinds: dict[str, int]  # bad rows by kind

    @property
    def total(self) -> int:
        return self.good + self.bad + self.duplicates


def count_store(db: Path) -> dict[str | None, Stored]:
    """Per environment (None: bad rows without one): good events, bad rows and duplicates
    as ``datacoral events count`` reads them, and the bad rows by kind."""
    with SQLiteStorage(db) as storage:
        counts = storage.count_events()
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        kinds: dict[str | None, dict[str, int]] = {}
        query = "SELECT environment, kind, count(*) FROM bad_rows GROUP BY 1, 2"
        for environment, kind, count in conn.execute(query):
            kinds.setdefault(environment, {})[kind] = count
    finally:
        conn.close()
    return {
        c.environment: Stored(c.good, c.bad, c.duplicates, kinds.get(c.environment, {}))
        for c in counts
    }


@dataclass(frozen=True)
class Line:
    """One category of one environment: the range the answers imply, and the count."""

    environment: str
    category: str
    low: int
    high: int
    stored: int

    @property
    def ok(self) -> bool:
        return self.low <= self.stored <= self.high

    @property
    def expected(self) -> str:
        return f"{self.low:,}" if self.low == self.high else f"{self.low:,} to {self.high:,}"

    @property
    def off(self) -> str:
        """How far the count is outside the range ("+3", "-1"), or empty."""
        if self.stored > self.high:
            return f"+{self.stored - self.high:,}"
        return f"-{self.low - self.stored:,}" if self.stored < self.low else ""


def compare(expected: dict[str, Outcome], stored: dict[str | None, Stored]) -> Iterator[Line]:
    """The accounting lines, per environment and category."""
    for environment in sorted({*expected, *(name for name in stored if name is not None)}):
        want = expected.get(environment, Outcome())
        got = stored.get(environment, Stored(0, 0, 0, {}))
        loose, unknown = want.either + want.unknown, want.unknown
        rows = want.bad + want.conflict + want.size
        kinds, conflicts = got.kinds, got.kinds.get(CONFLICT, 0)
        other = sum(n for kind, n in kinds.items() if kind not in (PROTOCOL, CONFLICT, SIZE))
        lines = [
            ("good events", want.good, want.good + loose, got.good),
            ("bad rows", rows, rows + loose, got.bad),
            ("  of them protocol violations", want.bad, want.bad + loose, kinds.get(PROTOCOL, 0)),
            ("  of them duplicate conflicts", want.conflict, want.conflict + unknown, conflicts),
            ("  of them size violations", want.size, want.size, kinds.get(SIZE, 0)),
            ("  of them other kinds", 0, 0, other),
            ("duplicates counted", want.duplicate, want.duplicate + unknown, got.duplicates),
            ("good + bad + duplicates", want.total, want.total, got.total),
        ]
        if environment not in expected:  # nothing sent there: nothing may be stored
            lines = lines[-1:]
        for category, low, high, count in lines:
            yield Line(environment, category, low, high, count)
    orphans = stored.get(None)
    yield Line("(none)", "bad rows without an environment", 0, 0, orphans.bad if orphans else 0)
