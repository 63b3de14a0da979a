"""The duplicate rule: same content is counted, other content is kept as a bad row."""

from __future__ import annotations

import asyncio
import uuid

from datacoral.storage.base import CommitResult
from datacoral.storage.sqlite import SQLiteStorage
from tests.storage.factories import good_event


def test_resending_the_same_batch_counts_duplicates(storage: SQLiteStorage) -> None:
    batch = [good_event("dev"), good_event("dev")]
    first = asyncio.run(storage.commit(batch, []))
    again = asyncio.run(storage.commit(batch, []))
    assert first == CommitResult(stored=2, duplicates=0, conflicts=0, bad_rows=0)
    assert again == CommitResult(stored=0, duplicates=2, conflicts=0, bad_rows=0)
    [dev] = storage.count_events("dev")
    assert (dev.good, dev.bad, dev.duplicates) == (2, 0, 2)


def test_same_id_other_content_is_a_conflict_bad_row(storage: SQLiteStorage) -> None:
    event_id = str(uuid.uuid4())
    asyncio.run(storage.commit([good_event(event_id=event_id, fingerprint=b"one")], []))
    result = asyncio.run(
        storage.commit([good_event(event_id=event_id, fingerprint=b"two"), good_event()], [])
    )
    assert result == CommitResult(stored=1, duplicates=0, conflicts=1, bad_rows=0)
    [bad] = storage.latest_bad_rows("dev")
    assert bad.row.kind == "duplicate_conflict"
    assert bad.row.event_id == event_id
    assert bad.row.reason.startswith(f"eid {event_id}: already stored in environment 'dev'")
    assert b"one".hex() in bad.row.reason and b"two".hex() in bad.row.reason
    assert event_id in bad.row.payload
    # The first content stays the stored one.
    [stored] = storage.find_events(event_id)
    assert stored.event.fingerprint == b"one"


def test_same_id_in_another_environment_is_not_a_duplicate(storage: SQLiteStorage) -> None:
    event_id = str(uuid.uuid4())
    asyncio.run(storage.commit([good_event("dev", event_id=event_id)], []))
    result = asyncio.run(storage.commit([good_event("prod", event_id=event_id)], []))
    assert result.stored == 1
    assert {s.event.environment for s in storage.find_events(event_id)} == {"dev", "prod"}


def test_duplicates_within_one_commit(storage: SQLiteStorage) -> None:
    event_id = str(uuid.uuid4())
    same = good_event(event_id=event_id, fingerprint=b"a")
    other = good_event(event_id=event_id, fingerprint=b"b")
    result = asyncio.run(storage.commit([same, same, other], []))
    assert result == CommitResult(stored=1, duplicates=1, conflicts=1, bad_rows=0)
    assert storage.count_events("dev")[0].good == 1


def test_duplicates_across_commits_of_one_group(storage: SQLiteStorage) -> None:
    event_id = str(uuid.uuid4())

    async def together() -> list[CommitResult]:
        return await asyncio.gather(
            *(
                storage.commit([good_event(event_id=event_id, fingerprint=fp)], [])
                for fp in (b"a", b"a", b"b")
            )
        )

    results = asyncio.run(together())
    assert sum(r.stored for r in results) == 1
    assert sum(r.duplicates for r in results) == 1
    assert sum(r.conflicts for r in results) == 1
    assert storage.count_events("dev")[0].duplicates == 1


def test_repeat_in_a_group_is_judged_against_the_stored_content(storage: SQLiteStorage) -> None:
    """Stored A; a batch with B then A: B conflicts, A is a duplicate (not a conflict with B)."""
    event_id = str(uuid.uuid4())
    asyncio.run(storage.commit([good_event(event_id=event_id, fingerprint=b"A")], []))
    result = asyncio.run(
        storage.commit(
            [
                good_event(event_id=event_id, fingerprint=b"B"),
                good_event(event_id=event_id, fingerprint=b"A"),
            ],
            [],
        )
    )
    assert result == CommitResult(stored=0, duplicates=1, conflicts=1, bad_rows=0)
