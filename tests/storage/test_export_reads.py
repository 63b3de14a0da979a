"""Reading a whole time range page by page (``AdminStorage.iter_events``,
``iter_bad_rows``, ``count_in_range``), what ``events export`` stands on: bounds
[since, until), storage order, one environment, pages of the size asked, and one
snapshot from the first page to the last. Run on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3

import pytest

from datacoral.storage.base import AdminError, AdminStorage, BadRow, GoodEvent
from datacoral.storage.postgres import PostgresStorage
from datacoral.storage.sqlite import SQLiteStorage
from tests.storage.factories import good_event

BASE = 1_700_000_000_000


def _stamped(tstamp: int, environment: str = "dev") -> GoodEvent:
    return good_event(environment, collector_tstamp=tstamp, derived_tstamp=tstamp)


def _bad(received: int, environment: str = "dev") -> BadRow:
    return BadRow(
        reason="e: missing", payload="{}", received_tstamp=received, environment=environment
    )


def _ids(storage: AdminStorage, **bounds: int | None) -> list[str]:
    return [s.event.event_id for page in storage.iter_events("dev", **bounds) for s in page]


def test_bounds_are_since_inclusive_until_exclusive(storage: AdminStorage) -> None:
    events = [_stamped(BASE + offset) for offset in (0, 999, 1000, 1001, 2000)]
    asyncio.run(storage.commit([*events, _stamped(BASE + 1000, "prod")], []))
    ids = [e.event_id for e in events]

    assert _ids(storage) == ids
    assert _ids(storage, since=BASE + 1000) == ids[2:]
    assert _ids(storage, until=BASE + 1000) == ids[:2]
    assert _ids(storage, since=BASE + 999, until=BASE + 1001) == ids[1:3]
    assert _ids(storage, since=BASE + 1000, until=BASE + 1000) == []
    assert storage.count_in_range("dev") == 5
    assert storage.count_in_range("dev", since=BASE + 999, until=BASE + 1001) == 2
    assert storage.count_in_range("prod", since=BASE + 1000) == 1


def test_pages_come_in_storage_order_and_size(storage: AdminStorage) -> None:
    # Stamps out of order: the order is the store's (positions), not the stamps'.
    events = [_stamped(BASE + (7 * i) % 10) for i in range(10)]
    for event in events:
        asyncio.run(storage.commit([event], []))

    pages = list(storage.iter_events("dev", page_size=4))
    assert [len(page) for page in pages] == [4, 4, 2]
    read = [stored for page in pages for stored in page]
    assert [s.event.event_id for s in read] == [e.event_id for e in events]
    positions = [s.position for s in read]
    assert positions == sorted(positions)
    assert read[3].event == events[3]


def test_bad_rows_by_their_received_time(storage: AdminStorage) -> None:
    rows = [_bad(BASE + offset) for offset in (0, 10, 20)]
    asyncio.run(storage.commit([], [*rows, _bad(BASE + 10, "stage"), _bad(BASE + 10, None)]))

    read = [s.row for page in storage.iter_bad_rows("dev", since=BASE + 10) for s in page]
    assert read == rows[1:]
    pages = list(storage.iter_bad_rows("dev", until=BASE + 20, page_size=1))
    assert [[s.row for s in page] for page in pages] == [[rows[0]], [rows[1]]]
    assert storage.count_in_range("dev", until=BASE + 20, bad=True) == 2
    assert storage.count_in_range("stage", bad=True) == 1


def test_one_snapshot_from_first_page_to_last(storage: AdminStorage) -> None:
    asyncio.run(storage.commit([_stamped(BASE + i) for i in range(6)], []))
    pages = storage.iter_events("dev", page_size=2)
    first = next(pages)
    later = [_stamped(BASE + 3) for _ in range(3)]  # within the range, stored meanwhile
    asyncio.run(storage.commit(later, []))
    rest = [stored for page in pages for stored in page]

    assert len(first) + len(rest) == 6
    assert not {e.event_id for e in later} & {s.event.event_id for s in rest}
    assert storage.count_in_range("dev") == 9  # a new read sees them


def test_closing_early_releases_the_read(storage: AdminStorage) -> None:
    asyncio.run(storage.commit([_stamped(BASE + i) for i in range(5)], []))
    pages = storage.iter_events("dev", page_size=2)
    assert len(next(pages)) == 2
    asyncio.run(storage.commit([_stamped(BASE + 9)], []))
    assert not _reads_finished(storage)  # the snapshot is held while pages remain

    pages.close()
    assert _reads_finished(storage)
    assert len(_ids(storage)) == 6


def _reads_finished(storage: AdminStorage) -> bool:
    """Whether no reader holds a snapshot of the events: on SQLite, a checkpoint can
    empty the WAL; on PostgreSQL, the events table can be locked exclusively."""
    if isinstance(storage, SQLiteStorage):
        with contextlib.closing(sqlite3.connect(storage.path, timeout=0.1)) as conn:
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return busy == 0
    assert isinstance(storage, PostgresStorage)
    import psycopg

    with psycopg.connect(storage.url.url, autocommit=True) as conn:
        try:
            with conn.transaction():
                conn.execute("SET LOCAL lock_timeout = '100ms'")
                conn.execute("LOCK TABLE good_events IN ACCESS EXCLUSIVE MODE")
        except psycopg.errors.LockNotAvailable:
            return False
    return True


def test_unknown_environment_is_refused_at_once(storage: AdminStorage) -> None:
    with pytest.raises(AdminError, match="no environment 'nope'"):
        storage.iter_events("nope")
    with pytest.raises(AdminError, match="no environment 'nope'"):
        storage.iter_bad_rows("nope")
    with pytest.raises(AdminError, match="no environment 'nope'"):
        storage.count_in_range("nope")
