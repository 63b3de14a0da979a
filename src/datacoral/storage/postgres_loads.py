"""Messages from the JetStream stream into PostgreSQL, each exactly once.

A loader acknowledges a message only after the transaction that wrote it
committed, so a message can arrive twice: after a loader died between the commit
and the acknowledgement, or when its acknowledgement was lost. Each message's
(stream, sequence, message id) is therefore inserted into ``stream_loads`` in the
same transaction as its rows, before them; a message already there is skipped
whole. Without that, a redelivery would add its bad rows again and count its good
events as duplicates. Two loaders given the same message at once serialise on
that row: the second waits for the first's transaction, then skips. Records are
deleted once the consumer's acknowledged floor passed them and they are old
enough that no loader can still hold a copy.

The rows themselves go through the collector's path (:mod:`.postgres_writer`),
so the duplicate rule and the storable-text checks are the same, but in one
transaction, ledger included.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from datacoral.storage import postgres_writer as writer
from datacoral.storage.base import BadRow, GoodEvent
from datacoral.storage.postgres_admin import Connection

_CLAIM = (
    "INSERT INTO stream_loads (stream, sequence, message_id)"
    " SELECT %s, unnest(%s::bigint[]), unnest(%s::text[])"
    " ON CONFLICT DO NOTHING RETURNING sequence, message_id"
)
_FORGET = (
    "DELETE FROM stream_loads WHERE stream = %s AND sequence <= %s"
    " AND loaded_at < now() - make_interval(secs => %s)"
)


@dataclass(frozen=True, slots=True)
class StreamRecords:
    """One message's records and where it was in the stream."""

    sequence: int
    message_id: str
    good: list[GoodEvent]
    bad: list[BadRow]


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What loading a batch of messages did."""

    messages: int  # written now
    skipped: int  # written before: a redelivery
    stored: int
    duplicates: int
    conflicts: int
    bad_rows: int


def load(conn: Connection, stream: str, messages: Sequence[StreamRecords]) -> LoadResult:
    """Write every message not written before, in one transaction."""
    unique = list({(m.sequence, m.message_id): m for m in messages}.values())
    with conn.transaction():
        claimed = {
            (int(sequence), message_id)
            for sequence, message_id in conn.execute(
                _CLAIM,
                (stream, [m.sequence for m in unique], [m.message_id for m in unique]),
            ).fetchall()
        }
        fresh = [m for m in unique if (m.sequence, m.message_id) in claimed]
        batch, tallies = writer.prepare(fresh)
        if batch.events:
            writer.settle(conn, batch, tallies, writer.insert(conn, batch))
        writer.write_bookkeeping(conn, batch)
    return LoadResult(
        messages=len(fresh),
        skipped=len(messages) - len(fresh),
        stored=sum(t.stored for t in tallies),
        duplicates=sum(t.duplicates for t in tallies),
        conflicts=sum(t.conflicts for t in tallies),
        bad_rows=sum(t.bad_rows for t in tallies),
    )


def forget(conn: Connection, stream: str, through_sequence: int, older_than: float) -> int:
    """Delete the records of messages up to ``through_sequence`` (all acknowledged: the
    stream never delivers them again) written more than ``older_than`` seconds ago;
    how many were deleted. The age keeps the record of a message that a slow loader
    still holds a stale copy of (see :mod:`datacoral.loader.loader`)."""
    return conn.execute(_FORGET, (stream, through_sequence, older_than)).rowcount
