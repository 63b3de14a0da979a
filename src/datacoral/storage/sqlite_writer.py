"""The SQLite side of group commit: one batch of jobs, one transaction.

Runs only on the writer thread, which owns the write connection. Applies the
duplicate rule of PROTOCOL.md: an (environment, event id) already stored with
the same fingerprint is counted and not stored again; with another fingerprint
it becomes a ``duplicate_conflict`` bad row. The common case (no duplicates)
costs one ``executemany`` and no look-ups.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from datacoral.storage import sqlite_rows as rows
from datacoral.storage.base import CommitResult, GoodEvent, StorageUnavailable
from datacoral.storage.group_commit import CommitJob


class KeyUsage:
    """Last-used times of API keys, gathered in memory and written in batches.

    Marking is a dict store (any thread); the writer takes the marks at most once
    per ``interval`` seconds, so a busy endpoint never writes once per request.
    """

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._lock = threading.Lock()
        self._marks: dict[str, int] = {}
        self._last_taken = time.monotonic()

    def mark(self, key_id: str, when_ms: int) -> None:
        with self._lock:
            self._marks[key_id] = when_ms

    def take(self, *, force: bool = False) -> dict[str, int]:
        """The marks to write now (empty unless due or ``force``)."""
        now = time.monotonic()
        with self._lock:
            if not self._marks or (not force and now - self._last_taken < self._interval):
                return {}
            marks, self._marks = self._marks, {}
            self._last_taken = now
            return marks

    def put_back(self, marks: dict[str, int]) -> None:
        """Return marks whose write failed, keeping any newer ones."""
        with self._lock:
            for key_id, when in marks.items():
                if self._marks.get(key_id, 0) < when:
                    self._marks[key_id] = when


def is_unavailability(exc: sqlite3.Error) -> bool:
    """True for errors of the storage itself (locked, I/O, full, corrupt), not of our SQL."""
    return isinstance(exc, sqlite3.OperationalError) or type(exc) is sqlite3.DatabaseError


@dataclass(slots=True)
class _Tally:
    stored: int = 0
    duplicates: int = 0
    conflicts: int = 0
    bad_rows: int = 0

    def result(self) -> CommitResult:
        return CommitResult(self.stored, self.duplicates, self.conflicts, self.bad_rows)


@dataclass(slots=True)
class _Batch:
    """A batch's rows (each (environment, event id) once) with their owner jobs."""

    good: list[rows.GoodRow] = field(default_factory=list)
    events: list[GoodEvent] = field(default_factory=list)
    owners: list[int] = field(default_factory=list)
    first: set[tuple[str, bytes]] = field(default_factory=set)
    repeats: list[tuple[int, GoodEvent, tuple[str, bytes]]] = field(default_factory=list)
    bad: list[rows.BadRowTuple] = field(default_factory=list)
    duplicates: dict[str, int] = field(default_factory=dict)


class SQLiteEventWriter:
    """Writes batches of jobs through one connection, reconnecting after failures."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], usage: KeyUsage) -> None:
        self._connect = connect
        self._usage = usage
        self._conn: sqlite3.Connection | None = None
        #: Outcome of the last transaction: None before the first one.
        self.last_ok: bool | None = None

    def write_batch(self, jobs: Sequence[CommitJob]) -> list[CommitResult | Exception]:
        """Store every job in one transaction; raise StorageUnavailable if it fails.

        An error that is not the storage's (a malformed record: a bug upstream)
        must not fail the other requests of the group, so the jobs are then
        written one transaction each and only the culprit gets the error.
        """
        try:
            return list(self._write_together(jobs))
        except StorageUnavailable:
            raise
        except Exception:
            if len(jobs) == 1:
                raise
        results: list[CommitResult | Exception] = []
        for job in jobs:
            try:
                results.extend(self._write_together([job]))
            except StorageUnavailable:
                raise
            except Exception as exc:
                results.append(exc)
        return results

    def _write_together(self, jobs: Sequence[CommitJob]) -> list[CommitResult]:
        tallies = [_Tally() for _ in jobs]
        marks = self._usage.take()
        try:
            self._transaction(lambda conn: self._store(conn, jobs, tallies, marks))
        except BaseException:
            self._usage.put_back(marks)
            raise
        return [t.result() for t in tallies]

    def write_key_usage(self, *, force: bool = False) -> None:
        """Write due last-used marks on their own (the writer calls this when idle)."""
        marks = self._usage.take(force=force)
        if not marks:
            return
        try:
            self._transaction(lambda conn: _update_last_used(conn, marks))
        except BaseException:
            self._usage.put_back(marks)
            raise

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _transaction(self, work: Callable[[sqlite3.Connection], None]) -> None:
        try:
            if self._conn is None:
                self._conn = self._connect()
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                work(conn)
                conn.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
        except sqlite3.Error as exc:
            self.last_ok = False
            if is_unavailability(exc):
                raise StorageUnavailable(f"storage unavailable: {exc}") from exc
            raise
        self.last_ok = True

    def _rollback(self) -> None:
        conn = self._conn
        if conn is None or not conn.in_transaction:
            return
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            # A connection that cannot roll back is not trusted again: start afresh.
            conn.close()
            self._conn = None

    def _store(
        self,
        conn: sqlite3.Connection,
        jobs: Sequence[CommitJob],
        tallies: list[_Tally],
        marks: dict[str, int],
    ) -> None:
        batch = _prepare(jobs, tallies)
        if batch.good:
            _insert_good(conn, batch, tallies)
        if batch.repeats:
            _settle_repeats(conn, batch, tallies)
        if batch.bad:
            conn.executemany(rows.INSERT_BAD, batch.bad)
        if batch.duplicates:
            conn.executemany(
                "INSERT INTO duplicate_counts (environment, duplicates) VALUES (?, ?)"
                " ON CONFLICT (environment) DO UPDATE"
                " SET duplicates = duplicates + excluded.duplicates",
                list(batch.duplicates.items()),
            )
        if marks:
            _update_last_used(conn, marks)


def _prepare(jobs: Sequence[CommitJob], tallies: list[_Tally]) -> _Batch:
    batch = _Batch()
    first = batch.first
    for index, job in enumerate(jobs):
        tally = tallies[index]
        for event in job.good:
            try:
                event_id = rows.event_id_bytes(event.event_id)
            except ValueError:
                # The collector validates ids; should one slip through, keep it as a bad row.
                batch.bad.append(_bad(event, "tracker_protocol_violation", _not_uuid(event)))
                tally.bad_rows += 1
                continue
            identity = (event.environment, event_id)
            if identity in first:
                batch.repeats.append((index, event, identity))
                continue
            first.add(identity)
            batch.good.append(rows.good_row(event, event_id))
            batch.events.append(event)
            batch.owners.append(index)
        for bad in job.bad:
            batch.bad.append(rows.bad_row_tuple(bad))
        tally.bad_rows += len(job.bad)
    return batch


def _insert_good(conn: sqlite3.Connection, batch: _Batch, tallies: list[_Tally]) -> None:
    (mark,) = conn.execute("SELECT coalesce(max(rowid), 0) FROM good_events").fetchone()
    before = conn.total_changes
    conn.executemany(rows.INSERT_GOOD, batch.good)
    if conn.total_changes - before == len(batch.good):
        for owner in batch.owners:
            tallies[owner].stored += 1
        return
    # Some ids were already stored. Rows above ``mark`` are this transaction's own
    # (rowids only grow within one write transaction); the others were there before.
    for row, event, owner in zip(batch.good, batch.events, batch.owners, strict=True):
        rowid, stored_fingerprint = _stored(conn, event.environment, row[0])
        if rowid > mark:
            tallies[owner].stored += 1
        else:
            _judge(batch, tallies[owner], event, stored_fingerprint)


def _settle_repeats(conn: sqlite3.Connection, batch: _Batch, tallies: list[_Tally]) -> None:
    """Judge ids repeated within this batch against what is now stored for them."""
    for owner, event, identity in batch.repeats:
        _, stored_fingerprint = _stored(conn, *identity)
        _judge(batch, tallies[owner], event, stored_fingerprint)


def _judge(batch: _Batch, tally: _Tally, event: GoodEvent, stored_fingerprint: bytes) -> None:
    """Count a resent event as a duplicate, or keep it as a conflict bad row."""
    if stored_fingerprint == event.fingerprint:
        tally.duplicates += 1
        batch.duplicates[event.environment] = batch.duplicates.get(event.environment, 0) + 1
        return
    tally.conflicts += 1
    reason = (
        f"eid {event.event_id}: already stored in environment {event.environment!r}"
        f" with different content (stored fingerprint {stored_fingerprint.hex()},"
        f" this event {event.fingerprint.hex()})"
    )
    batch.bad.append(_bad(event, "duplicate_conflict", reason))


def _stored(conn: sqlite3.Connection, environment: str, event_id: bytes) -> tuple[int, bytes]:
    found = conn.execute(
        "SELECT rowid, fingerprint FROM good_events WHERE environment = ? AND event_id = ?",
        (environment, event_id),
    ).fetchone()
    if found is None:  # impossible inside our own transaction, but never guess
        raise sqlite3.DatabaseError("a good event vanished during the write transaction")
    return int(found[0]), bytes(found[1])


def _not_uuid(event: GoodEvent) -> str:
    return f"eid: not a UUID: {event.event_id!r}"


def _bad(event: GoodEvent, kind: str, reason: str) -> rows.BadRowTuple:
    return (
        kind,
        reason,
        rows.event_json(event),
        event.environment,
        event.event_id,
        event.collector_tstamp,
    )


def _update_last_used(conn: sqlite3.Connection, marks: dict[str, int]) -> None:
    conn.executemany(
        "UPDATE api_keys SET last_used_at = max(coalesce(last_used_at, 0), ?) WHERE key_id = ?",
        [(when, key_id) for key_id, when in marks.items()],
    )
