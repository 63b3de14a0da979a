"""The SQLite side of group commit: one batch of jobs, one transaction.

Runs only on the writer thread, which owns the write connection. Applies the
duplicate rule of PROTOCOL.md: an (environment, event id) already stored with
the same fingerprint is counted and not stored again; with another fingerprint
it becomes a ``duplicate_conflict`` bad row. The common case (no duplicates)
costs one multi-row INSERT per 512 events and no look-ups.

Every SQLite call releases the GIL and must take it back afterwards; while the
event loop is busy that can take the whole switch interval (5 ms). A batch
therefore makes as few calls as it can: BEGIN, one INSERT per 512 events,
COMMIT; and a batch of good events only that fits one INSERT runs that
statement alone, as its own transaction. In that case an id found already
stored is judged after the commit, and its duplicate count or conflict bad row
is written by a second transaction: should that one fail, the request gets
503 and the tracker's retry counts and judges again.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import chain, repeat
from typing import TypeVar

from datacoral.storage import sqlite_rows as rows
from datacoral.storage.base import CommitResult, GoodEvent, StorageUnavailable
from datacoral.storage.duplicates import Tally, judge, not_a_uuid
from datacoral.storage.group_commit import CommitJob
from datacoral.storage.sqlite_upkeep import WRITER_CHECKPOINT_PAGES, Checkpointer, KeyUsage

T = TypeVar("T")

#: Page cache of the write connection (SQLite's default is 2 MiB).
WRITER_CACHE_KIB = 64 * 1024

log = logging.getLogger("datacoral.storage")


def is_unavailability(exc: sqlite3.Error) -> bool:
    """True for errors of the storage itself (locked, I/O, full, corrupt), not of our SQL."""
    return isinstance(exc, sqlite3.OperationalError) or type(exc) is sqlite3.DatabaseError


@dataclass(slots=True)
class _Batch:
    """A batch's good rows in arrival order with their events and owner jobs."""

    good: list[rows.GoodRow] = field(default_factory=list)
    events: list[GoodEvent] = field(default_factory=list)
    owners: list[int] = field(default_factory=list)
    bad: list[rows.BadRowTuple] = field(default_factory=list)
    duplicates: dict[str, int] = field(default_factory=dict)


class SQLiteEventWriter:
    """Writes batches of jobs through one connection, reconnecting after failures."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], usage: KeyUsage) -> None:
        self._connect = connect
        self._usage = usage
        self._conn: sqlite3.Connection | None = None
        self._checkpointer: Checkpointer | None = None
        self._max_rows = rows.STATEMENT_ROWS[-1]
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
        tallies = [Tally() for _ in jobs]
        batch = _prepare(jobs, tallies)
        marks = self._usage.take()
        try:
            if batch.good and not batch.bad and not marks and len(batch.good) <= self._max_rows:
                self._store_alone(batch, tallies)
            else:
                self._transaction(lambda conn: self._store(conn, batch, tallies, marks))
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
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _transaction(self, work: Callable[[sqlite3.Connection], None]) -> None:
        """Run ``work`` between BEGIN IMMEDIATE and COMMIT."""

        def explicit(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                work(conn)
                conn.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise

        self._run(explicit)

    def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` on the write connection (opened on first use), mapping failures."""
        try:
            if self._conn is None:
                self._conn = self._open()
            result = work(self._conn)
        except sqlite3.Error as exc:
            self.last_ok = False
            if is_unavailability(exc):
                raise StorageUnavailable(f"storage unavailable: {exc}") from exc
            raise
        self.last_ok = True
        return result

    def _open(self) -> sqlite3.Connection:
        conn = self._connect()
        try:
            # Each new event id lands in a random page of the unique index: a page cache
            # holding much of it keeps inserts fast as the database grows, and so do
            # checkpoints that copy a page dirtied by several transactions once.
            conn.execute(f"PRAGMA cache_size = -{WRITER_CACHE_KIB:d}")
            conn.execute(f"PRAGMA wal_autocheckpoint = {WRITER_CHECKPOINT_PAGES:d}")
            self._max_rows = rows.max_statement_rows(conn)
        except BaseException:
            conn.close()
            raise
        if self._checkpointer is None:
            self._checkpointer = Checkpointer(self._connect)
            self._checkpointer.start()
        return conn

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
        batch: _Batch,
        tallies: list[Tally],
        marks: dict[str, int],
    ) -> None:
        if batch.good:
            inserted, first_new = _insert_rows(conn, batch.good, self._max_rows)
            _count(conn, batch, tallies, inserted, first_new)
        _write_bookkeeping(conn, batch)
        if marks:
            _update_last_used(conn, marks)

    def _store_alone(self, batch: _Batch, tallies: list[Tally]) -> None:
        """Good events that fit one INSERT, without bad rows: that statement is its own
        transaction (one SQLite call instead of three, see the module's docstring).
        Ids already stored are judged afterwards; their duplicate counts and conflict
        bad rows follow in a second transaction, which a retry repeats if it fails."""
        inserted, first_new = self._run(
            lambda conn: _insert_rows(conn, batch.good, len(batch.good))
        )
        if inserted == len(batch.good):
            for owner in batch.owners:
                tallies[owner].stored += 1
            return

        def settle(conn: sqlite3.Connection) -> None:
            _count(conn, batch, tallies, inserted, first_new)
            _write_bookkeeping(conn, batch)

        self._transaction(settle)


def _prepare(jobs: Sequence[CommitJob], tallies: list[Tally]) -> _Batch:
    batch = _Batch()
    good, events, owners = batch.good, batch.events, batch.owners
    event_id_bytes, good_row = rows.event_id_bytes, rows.good_row
    for index, job in enumerate(jobs):
        tally = tallies[index]
        for event in job.good:
            try:
                event_id = event_id_bytes(event.event_id)
            except ValueError:
                # The collector validates ids; should one slip through, keep it as a bad row.
                batch.bad.append(rows.bad_row_tuple(not_a_uuid(event)))
                tally.bad_rows += 1
                continue
            good.append(good_row(event, event_id))
            events.append(event)
            owners.append(index)
        for bad in job.bad:
            batch.bad.append(rows.bad_row_tuple(bad))
        tally.bad_rows += len(job.bad)
    return batch


def _insert_rows(
    conn: sqlite3.Connection, good: list[rows.GoodRow], max_rows: int
) -> tuple[int, int | None]:
    """Insert every row (an id seen before, stored or earlier in the rows, is left
    alone); how many were inserted, and the lowest rowid given to one (None if none)."""
    inserted = 0
    first_new: int | None = None
    for start in range(0, len(good), max_rows):
        cursor = _insert_chunk(conn, good[start : start + max_rows])
        count = cursor.rowcount
        if count > 0:
            if cursor.lastrowid is None:  # cannot happen after an INSERT; never guess
                raise sqlite3.DatabaseError("no rowid after inserting good events")
            inserted += count
            if first_new is None:
                # One statement's new rows take consecutive rowids after the largest one.
                first_new = cursor.lastrowid - count + 1
    return inserted, first_new


def _count(
    conn: sqlite3.Connection,
    batch: _Batch,
    tallies: list[Tally],
    inserted: int,
    first_new: int | None,
) -> None:
    """Count each event of the batch as stored, duplicate or conflict."""
    if inserted == len(batch.good):  # the common case: every id was new
        for owner in batch.owners:
            tallies[owner].stored += 1
        return
    # Rows from ``first_new`` on were inserted by this batch (rowids only grow, and
    # the batch's INSERTs ran with the write lock); the first event of the batch with
    # such an id stored it. Every other event is judged against what is stored.
    seen: set[tuple[str, bytes]] = set()
    for row, event, owner in zip(batch.good, batch.events, batch.owners, strict=True):
        identity = (event.environment, bytes(row[0]))
        rowid, stored_fingerprint = _stored(conn, *identity)
        if identity not in seen and first_new is not None and rowid >= first_new:
            tallies[owner].stored += 1
        else:
            _judge(batch, tallies[owner], event, stored_fingerprint)
        seen.add(identity)


def _write_bookkeeping(conn: sqlite3.Connection, batch: _Batch) -> None:
    """The batch's bad rows and duplicate counts."""
    if batch.bad:
        conn.executemany(rows.INSERT_BAD, batch.bad)
    if batch.duplicates:
        conn.executemany(
            "INSERT INTO duplicate_counts (environment, duplicates) VALUES (?, ?)"
            " ON CONFLICT (environment) DO UPDATE"
            " SET duplicates = duplicates + excluded.duplicates",
            list(batch.duplicates.items()),
        )


def _insert_chunk(conn: sqlite3.Connection, chunk: list[rows.GoodRow]) -> sqlite3.Cursor:
    """One INSERT for the chunk: lean when every row is, padded to a prepared size."""
    lean = all(len(row) == rows.LEAN_WIDTH for row in chunk)
    if not lean:
        chunk = [
            row if len(row) != rows.LEAN_WIDTH else row + rows.NO_OPTIONAL_VALUES for row in chunk
        ]
    size = rows.statement_rows(len(chunk))
    values = list(chain.from_iterable(chunk))
    if size > len(chunk):
        width = rows.LEAN_WIDTH if lean else len(rows.GOOD_COLUMNS)
        values.extend(repeat(0, width * (size - len(chunk))))
    return conn.execute(_INSERT_GOOD[size, lean], values)


_INSERT_GOOD = {
    (size, lean): rows.insert_good_statement(size, lean=lean)
    for size in rows.STATEMENT_ROWS
    for lean in (True, False)
}


def _judge(batch: _Batch, tally: Tally, event: GoodEvent, stored_fingerprint: bytes) -> None:
    """Count a resent event as a duplicate, or keep it as a conflict bad row."""
    conflict = judge(tally, event, stored_fingerprint, batch.duplicates)
    if conflict is not None:
        batch.bad.append(rows.bad_row_tuple(conflict))


def _stored(conn: sqlite3.Connection, environment: str, event_id: bytes) -> tuple[int, bytes]:
    found = conn.execute(
        "SELECT rowid, fingerprint FROM good_events WHERE environment = ? AND event_id = ?",
        (environment, event_id),
    ).fetchone()
    if found is None:  # impossible inside our own transaction, but never guess
        raise sqlite3.DatabaseError("a good event vanished during the write transaction")
    return int(found[0]), bytes(found[1])


def _update_last_used(conn: sqlite3.Connection, marks: dict[str, int]) -> None:
    conn.executemany(
        "UPDATE api_keys SET last_used_at = max(coalesce(last_used_at, 0), ?) WHERE key_id = ?",
        [(when, key_id) for key_id, when in marks.items()],
    )
