"""The PostgreSQL side of group commit: one batch of jobs, one transaction.

Runs only on the writer thread (:mod:`.group_commit`). A batch's good events go
to the server as one JSON parameter and are inserted with ``ON CONFLICT DO
NOTHING RETURNING``: the ids returned are the ones this batch stored, and every
other event is judged by the duplicate rule (:mod:`.duplicates`) against the
fingerprint stored under its id. An id repeated within the batch is sent once
and its repeats judged the same way. The common case (good events only, all new)
is one statement in its own transaction: one round trip. Otherwise the duplicate
counts and bad rows follow in a second transaction; should that one fail, the
request gets 503 and the tracker's retry counts and judges again (as in SQLite).
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

from datacoral.storage import postgres_admin as admin
from datacoral.storage import postgres_rows as rows
from datacoral.storage.base import BadRow, CommitResult, GoodEvent, StorageUnavailable
from datacoral.storage.duplicates import Tally, event_bad_row, judge, not_a_uuid
from datacoral.storage.group_commit import CommitJob
from datacoral.storage.key_usage import KeyUsage
from datacoral.storage.postgres_admin import Connection

_CANONICAL_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

_STORED_FINGERPRINTS = (
    "SELECT g.environment, g.event_id::text, g.fingerprint FROM good_events AS g"
    " JOIN unnest(%s::text[], %s::uuid[]) AS i (environment, event_id)"
    " ON g.environment = i.environment AND g.event_id = i.event_id"
)
_ADD_DUPLICATES = (
    "INSERT INTO duplicate_counts (environment, duplicates)"
    " SELECT unnest(%s::text[]), unnest(%s::bigint[])"
    " ON CONFLICT (environment) DO UPDATE"
    " SET duplicates = duplicate_counts.duplicates + excluded.duplicates"
)

Identity = tuple[str, str]


class Records(Protocol):
    """What a batch is made of: a commit job, or a message loaded from the stream."""

    @property
    def good(self) -> list[GoodEvent]: ...

    @property
    def bad(self) -> list[BadRow]: ...


#: Lends the writer a connection (autocommit) and maps failures to StorageError.
Lend = Callable[[], AbstractContextManager[Connection]]


@dataclass(slots=True)
class Batch:
    """What a batch sends: each identity's first event with its owner job, encoded in
    ``payload``; the events repeating an identity of the batch; the bad rows."""

    events: list[GoodEvent] = field(default_factory=list)
    owners: list[int] = field(default_factory=list)
    repeats: list[tuple[GoodEvent, int]] = field(default_factory=list)
    bad: list[BadRow] = field(default_factory=list)
    duplicates: dict[str, int] = field(default_factory=dict)
    payload: bytes = b"[]"


class PostgresEventWriter:
    """Writes batches of jobs through connections the storage lends it."""

    def __init__(self, lend: Lend, usage: KeyUsage) -> None:
        self._lend = lend
        self._usage = usage
        #: Outcome of the last transaction: None before the first one.
        self.last_ok: bool | None = None

    def write_batch(self, jobs: Sequence[CommitJob]) -> list[CommitResult | Exception]:
        """Store every job together; raise StorageUnavailable if that fails.

        As in SQLite: an error that is not the database's (a bug upstream) is
        retried one job at a time, so only the culprit gets it.
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

    def write_key_usage(self, *, force: bool = False) -> None:
        """Write due last-used marks on their own (the writer calls this when idle)."""
        marks = self._usage.take(force=force)
        if not marks:
            return
        try:
            with self._lend() as conn:
                admin.update_last_used(conn, marks)
        except BaseException:
            self._usage.put_back(marks)
            raise

    def _write_together(self, jobs: Sequence[CommitJob]) -> list[CommitResult]:
        batch, tallies = prepare(jobs)
        marks = self._usage.take()
        try:
            with self._lend() as conn:
                try:
                    self._store(conn, batch, tallies, marks)
                except BaseException:
                    self.last_ok = False
                    raise
        except BaseException:
            self._usage.put_back(marks)
            raise
        self.last_ok = True
        return [tally.result() for tally in tallies]

    def _store(
        self, conn: Connection, batch: Batch, tallies: list[Tally], marks: dict[str, int]
    ) -> None:
        if batch.events and not batch.bad and not marks and not batch.repeats:
            inserted = insert(conn, batch)  # autocommit: its own transaction
            if len(inserted) == len(batch.events):
                for owner in batch.owners:
                    tallies[owner].stored += 1
                return
            with conn.transaction():
                settle(conn, batch, tallies, inserted)
                write_bookkeeping(conn, batch)
            return
        with conn.transaction():
            if batch.events:
                settle(conn, batch, tallies, insert(conn, batch))
            write_bookkeeping(conn, batch)
            if marks:
                admin.update_last_used(conn, marks)


def prepare(jobs: Sequence[Records]) -> tuple[Batch, list[Tally]]:
    """The batch to write for ``jobs``, and one tally per job."""
    batch, tallies = _collect(jobs, check_each=False)
    payload = rows.try_good_json(batch.events)
    if payload is None:
        # Rare: some text holds U+0000 or a lone surrogate. Sort again, judging each event.
        batch, tallies = _collect(jobs, check_each=True)
        payload = rows.good_json(batch.events)
    batch.payload = payload
    return batch, tallies


def _collect(jobs: Sequence[Records], *, check_each: bool) -> tuple[Batch, list[Tally]]:
    batch = Batch()
    tallies = [Tally() for _ in jobs]
    seen: set[Identity] = set()
    for index, job in enumerate(jobs):
        tally = tallies[index]
        for event in job.good:
            if _CANONICAL_ID.fullmatch(event.event_id) is None:
                canonical = _canonical(event.event_id)
                if canonical is None:
                    batch.bad.append(not_a_uuid(event))
                    tally.bad_rows += 1
                    continue
                event = dataclasses.replace(event, event_id=canonical)
            if check_each or event.derived_tstamp < rows.EARLIEST_MS:
                reason = rows.unstorable(event)
                if reason is not None:
                    batch.bad.append(
                        event_bad_row(event, "storage_violation", f"eid {event.event_id}: {reason}")
                    )
                    tally.bad_rows += 1
                    continue
            identity = (event.environment, event.event_id)
            if identity in seen:
                batch.repeats.append((event, index))
                continue
            seen.add(identity)
            batch.events.append(event)
            batch.owners.append(index)
        batch.bad.extend(job.bad)
        tally.bad_rows += len(job.bad)
    return batch, tallies


def _canonical(event_id: str) -> str | None:
    try:
        return str(uuid.UUID(event_id))
    except ValueError:
        return None


def insert(conn: Connection, batch: Batch) -> set[Identity]:
    """Insert the batch's events; the identities this statement stored."""
    found = conn.execute(rows.INSERT_GOOD, (batch.payload.decode(),)).fetchall()
    return {(environment, event_id) for environment, event_id in found}


def settle(conn: Connection, batch: Batch, tallies: list[Tally], inserted: set[Identity]) -> None:
    """Count each event as stored, duplicate or conflict (bad rows join ``batch.bad``)."""
    judged: list[tuple[GoodEvent, int]] = []
    for event, owner in zip(batch.events, batch.owners, strict=True):
        if (event.environment, event.event_id) in inserted:
            tallies[owner].stored += 1
        else:
            judged.append((event, owner))
    judged.extend(batch.repeats)
    if not judged:
        return
    identities = list({(event.environment, event.event_id) for event, _ in judged})
    stored = {
        (environment, event_id): bytes(fingerprint)
        for environment, event_id, fingerprint in conn.execute(
            _STORED_FINGERPRINTS,
            ([environment for environment, _ in identities], [eid for _, eid in identities]),
        )
    }
    for event, owner in judged:
        fingerprint = stored.get((event.environment, event.event_id))
        if fingerprint is None:  # deleted meanwhile (env delete --force): never guess
            raise StorageUnavailable("storage unavailable: a stored event vanished during a write")
        conflict = judge(tallies[owner], event, fingerprint, batch.duplicates)
        if conflict is not None:
            batch.bad.append(conflict)


def write_bookkeeping(conn: Connection, batch: Batch) -> None:
    """The batch's bad rows and duplicate counts."""
    if batch.bad:
        conn.execute(rows.INSERT_BAD, (rows.bad_json(batch.bad).decode(),))
    if batch.duplicates:
        conn.execute(_ADD_DUPLICATES, (list(batch.duplicates), list(batch.duplicates.values())))
