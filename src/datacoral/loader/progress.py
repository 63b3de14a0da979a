"""What a loader did and how far behind the stream it is, as counters and one line."""

from __future__ import annotations

from dataclasses import dataclass, field

from datacoral.storage.postgres_loads import LoadResult


@dataclass(slots=True)
class Lag:
    """The consumer's backlog, as JetStream reports it."""

    waiting: int  # in the stream, not yet delivered to any loader
    in_flight: int  # delivered, not yet acknowledged
    ack_floor: int  # every message up to this stream sequence is acknowledged


@dataclass(slots=True)
class Progress:
    """Counters since the loader started."""

    fetches: int = 0
    delivered: int = 0
    messages: int = 0
    skipped: int = 0
    stored: int = 0
    duplicates: int = 0
    conflicts: int = 0
    bad_rows: int = 0
    undecodable: int = 0
    failed_commits: int = 0
    #: Bad rows written, by kind (``bad_rows`` and ``conflicts`` together, split).
    bad_kinds: dict[str, int] = field(default_factory=dict)

    def fetched(self, count: int) -> None:
        self.fetches += 1
        self.delivered += count

    def loaded(self, result: LoadResult) -> None:
        self.messages += result.messages
        self.skipped += result.skipped
        self.stored += result.stored
        self.duplicates += result.duplicates
        self.conflicts += result.conflicts
        self.bad_rows += result.bad_rows
        kinds = self.bad_kinds
        for kind, count in result.bad_kinds.items():
            kinds[kind] = kinds.get(kind, 0) + count

    @property
    def per_fetch(self) -> float:
        """Messages a fetch brought, on average (fetches that brought none excluded)."""
        return self.delivered / self.fetches if self.fetches else 0.0

    def line(self, lag: Lag | None) -> str:
        """``loaded 1200 messages (...) in 3 fetches (400.0 a fetch); lag: ...``."""
        text = (
            f"loaded {self.messages} messages ({self.stored} events stored,"
            f" {self.duplicates} duplicates, {self.conflicts} conflicts,"
            f" {self.bad_rows} bad rows; {self.skipped} redelivered and already loaded)"
            f" in {self.fetches} fetches ({self.per_fetch:.1f} messages a fetch)"
        )
        if self.undecodable:
            text += f"; {self.undecodable} undecodable messages left in the stream"
        if lag is None:
            return text + "; lag unknown (the stream does not answer)"
        return text + f"; lag: {lag.waiting} messages waiting, {lag.in_flight} being loaded"
