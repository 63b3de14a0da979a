"""commit(): what is stored, how it reads back, and that concurrent calls share transactions."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from pathlib import Path

import pytest

from datacoral.storage.base import CommitResult, StorageError
from datacoral.storage.sqlite import SQLiteStorage
from tests.storage.factories import bad_row, good_event


def test_good_events_round_trip(storage: SQLiteStorage) -> None:
    event = good_event(
        "stage",
        event_id="C0FFEE00-1234-4abc-8def-0123456789AB",
        unstruct_event='{"schema":"test","data":{"foo":"bär"}}',
        se_value=1.5,
        domain_sessionidx=3,
        schema_validated=True,
        extra={"tna": "ns"},
    )
    result = asyncio.run(storage.commit([event], []))
    assert result == CommitResult(stored=1, duplicates=0, conflicts=0, bad_rows=0)

    [stored] = storage.latest_events("stage")
    assert stored.event.event_id == "c0ffee00-1234-4abc-8def-0123456789ab"  # canonical form
    event.event_id = stored.event.event_id
    # PostgreSQL's jsonb keeps the content of JSON, not its text (key order, spacing).
    assert json.loads(stored.event.unstruct_event or "") == json.loads(event.unstruct_event or "")
    event.unstruct_event = stored.event.unstruct_event
    assert stored.event == event
    assert storage.find_events("c0ffee00-1234-4abc-8def-0123456789ab") == [stored]


def test_bad_rows_and_counts(storage: SQLiteStorage) -> None:
    result = asyncio.run(
        storage.commit([good_event("dev"), good_event("prod")], [bad_row("dev"), bad_row(None)])
    )
    assert result == CommitResult(stored=2, duplicates=0, conflicts=0, bad_rows=2)
    counts = {c.environment: (c.good, c.bad, c.duplicates) for c in storage.count_events()}
    assert counts == {"dev": (1, 1, 0), "stage": (0, 0, 0), "prod": (1, 0, 0), None: (0, 1, 0)}
    assert [(c.good, c.bad) for c in storage.count_events("dev")] == [(1, 1)]
    [stored] = storage.latest_bad_rows("dev")
    assert stored.row == bad_row("dev")


def test_an_event_id_that_is_not_a_uuid_becomes_a_bad_row(storage: SQLiteStorage) -> None:
    result = asyncio.run(storage.commit([good_event(event_id="abc")], []))
    assert result == CommitResult(stored=0, duplicates=0, conflicts=0, bad_rows=1)
    [stored] = storage.latest_bad_rows("dev")
    assert stored.row.reason == "eid: not a UUID: 'abc'"


def test_tail_helpers_page_by_position(storage: SQLiteStorage) -> None:
    events = [good_event("dev", app_id=f"a{i}") for i in range(5)]
    asyncio.run(storage.commit(events, [bad_row("dev")]))
    latest = storage.latest_events("dev", limit=2)
    assert [s.event.app_id for s in latest] == ["a3", "a4"]  # newest last
    after = storage.events_after("dev", latest[0].position)
    assert [s.event.app_id for s in after] == ["a4"]
    assert storage.events_after("dev", latest[1].position) == []
    assert storage.events_after("prod", 0) == []
    [bad] = storage.latest_bad_rows("dev")
    assert storage.bad_rows_after("dev", bad.position - 1) == [bad]


def test_find_events_rejects_a_non_uuid(storage: SQLiteStorage) -> None:
    with pytest.raises(ValueError, match="not an event id"):
        storage.find_events("nope")


def test_concurrent_commits_share_transactions(storage: SQLiteStorage) -> None:
    async def many() -> list[CommitResult]:
        return await asyncio.gather(*(storage.commit([good_event("dev")], []) for _ in range(200)))

    results = asyncio.run(many())
    assert all(r.stored == 1 for r in results)
    stats = storage.stats()
    assert stats.commits == 200
    assert stats.transactions < 50, stats
    assert stats.largest_group > 1
    assert storage.count_events("dev")[0].good == 200


def test_commit_needs_open(db_path: Path) -> None:
    store = SQLiteStorage(db_path)
    with pytest.raises(StorageError, match="not open"):
        asyncio.run(store.commit([good_event()], []))
    store.close()


def test_close_writes_what_is_pending(db_path: Path) -> None:
    store = SQLiteStorage(db_path)
    store.open()

    async def commit_while_closing() -> list[CommitResult]:
        tasks = [asyncio.ensure_future(store.commit([good_event()], [])) for _ in range(50)]
        await asyncio.sleep(0)  # let every task queue its job
        closer = threading.Thread(target=store.close)
        closer.start()
        try:
            return await asyncio.gather(*tasks)
        finally:
            await asyncio.to_thread(closer.join)

    results = asyncio.run(commit_while_closing())
    assert sum(r.stored for r in results) == 50
    with SQLiteStorage(db_path) as reopened:
        assert reopened.count_events("dev")[0].good == 50
        # open() after close() works again, and is idempotent.
        reopened.open()
        assert reopened.is_ready()


def test_an_unexpected_error_fails_only_its_transaction(storage: SQLiteStorage) -> None:
    broken = good_event(platform=None)  # violates NOT NULL: a bug, not unavailability

    async def run() -> None:
        with pytest.raises(Exception, match=r"NOT NULL|not-null"):
            await storage.commit([broken], [])
        assert (await storage.commit([good_event()], [])).stored == 1

    asyncio.run(run())
    assert storage.stats().failed_transactions == 1


def test_a_malformed_record_does_not_fail_the_rest_of_its_group(storage: SQLiteStorage) -> None:
    async def together() -> list[CommitResult | BaseException]:
        commits = [storage.commit([good_event()], []) for _ in range(20)]
        commits.insert(10, storage.commit([good_event(platform=None)], []))
        return await asyncio.gather(*commits, return_exceptions=True)

    results = asyncio.run(together())
    failures = [r for r in results if isinstance(r, BaseException)]
    assert len(failures) == 1 and re.search("NOT NULL|not-null", str(failures[0]))
    assert results[10] is failures[0]
    assert storage.count_events("dev")[0].good == 20
