"""Messages from the JetStream stream into PostgreSQL, each exactly once.

A loader acknowledges a message only after the transaction that wrote it
committed, so a message can arrive twice: after a loader died between the commit
and the acknowledgement, or when its acknowledgement was lost. Each message's
(stream, sequence, message id) is therefore inserted into ``stream_loads`` in the
same transaction as its rows, before them; a message already there is skipped
whole. Without that, a redelivery would add its bad rows again and count its good
events as duplicates. Two loaders given the same message at once serialise on
that row: the second waits for the first's transaction, then skips.

Records are deleted (:func:`forget`) once the consumer's acknowledged floor passed
them and they are old enough. A copy of such a message can still turn up later: a
loader whose transaction was held up on the network, or whose process was paused,
for longer than that. Its claim would find no record. So the statement that deletes
records also raises the stream's *pruned floor* (``stream_load_floors``) to the
highest sequence it deleted, and a load, after its claims, reads the floor in a
statement of its own and drops what it claimed at or below it: every such message
was acknowledged, so written. That order needs no lock: a claim that goes in for a
message written before found its record deleted, so the deletion, and the floor
raised in the same statement, had committed before the claim returned; the next
statement of a READ COMMITTED transaction (the load sets that level) sees the floor.

A floor belongs to one life of the stream (``incarnation``; the loader names it by the
stream's creation time): a stream deleted and created again numbers its messages
from 1, and the floor of its previous life must not refuse them.

The rows themselves go through the collector's path (:mod:`.postgres_writer`),
so the duplicate rule and the storable-text checks are the same, but in one
transaction, ledger included.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from datacoral.storage import postgres_writer as writer
from datacoral.storage.base import BadRow, GoodEvent
from datacoral.storage.postgres_admin import Connection

_CLAIM = (
    "INSERT INTO stream_loads (stream, sequence, message_id)"
    " SELECT %s, unnest(%s::bigint[]), unnest(%s::text[])"
    " ON CONFLICT DO NOTHING RETURNING sequence, message_id"
)
_FLOOR = "SELECT pruned_through FROM stream_load_floors WHERE stream = %s AND incarnation = %s"

# One statement: the records deleted and the floor raised over them commit together.
_FORGET = """
WITH gone AS (
    DELETE FROM stream_loads
    WHERE stream = %(stream)s AND sequence <= %(through)s
        AND loaded_at < now() - make_interval(secs => %(older_than)s)
    RETURNING sequence
), raised AS (
    INSERT INTO stream_load_floors AS f (stream, incarnation, pruned_through)
    SELECT %(stream)s, %(incarnation)s, max(sequence) FROM gone HAVING count(*) > 0
    ON CONFLICT (stream, incarnation) DO UPDATE
    SET pruned_through = greatest(f.pruned_through, excluded.pruned_through),
        pruned_at = now()
)
SELECT count(*) FROM gone
"""


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
    #: The bad rows written, by ``kind`` (id conflicts included, as ``duplicate_conflict``).
    bad_kinds: dict[str, int] = field(default_factory=dict)


def load(
    conn: Connection,
    stream: str,
    messages: Sequence[StreamRecords],
    *,
    incarnation: str = "",
    idle_timeout: float | None = None,
) -> LoadResult:
    """Write every message not written before, in one transaction.

    ``incarnation`` names the life of the stream the messages come from (see above).
    With ``idle_timeout``, PostgreSQL ends the transaction (and the session) if it waits
    longer than that many seconds for the loader's next statement: a loader cut off
    mid-transaction does not keep its claims locked, and other loaders waiting."""
    unique = list({(m.sequence, m.message_id): m for m in messages}.values())
    with conn.transaction():
        conn.execute(_session(idle_timeout))
        claimed = {
            (int(sequence), message_id)
            for sequence, message_id in conn.execute(
                _CLAIM,
                (stream, [m.sequence for m in unique], [m.message_id for m in unique]),
            ).fetchall()
        }
        if claimed:  # a statement of its own: it must see what pruned the records
            row = conn.execute(_FLOOR, (stream, incarnation)).fetchone()
            floor = int(row[0]) if row is not None else 0
            claimed = {claim for claim in claimed if claim[0] > floor}
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
        bad_kinds=dict(Counter(row.kind for row in batch.bad)),
    )


def forget(
    conn: Connection,
    stream: str,
    through_sequence: int,
    older_than: float,
    *,
    incarnation: str = "",
) -> int:
    """Delete the records of messages up to ``through_sequence`` (all acknowledged: the
    stream never delivers them again) written more than ``older_than`` seconds ago, and
    raise the pruned floor of the stream's ``incarnation`` over them; how many were
    deleted."""
    row = conn.execute(
        _FORGET,
        {
            "stream": stream,
            "incarnation": incarnation,
            "through": through_sequence,
            "older_than": older_than,
        },
    ).fetchone()
    return int(row[0]) if row is not None else 0


def _session(idle_timeout: float | None) -> str:
    """The load transaction's settings. READ COMMITTED whatever the server's default:
    each statement must see what committed before it started (the floor)."""
    settings = "SET TRANSACTION ISOLATION LEVEL READ COMMITTED"
    if idle_timeout is not None:
        milliseconds = max(1, math.ceil(idle_timeout * 1000))
        settings += f"; SET LOCAL idle_in_transaction_session_timeout = {milliseconds:d}"
    return settings
