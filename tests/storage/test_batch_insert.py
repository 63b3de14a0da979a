"""Multi-row inserts: large and odd-sized commits, duplicates across statements, row values."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid

import pytest

from datacoral.storage import sqlite_rows
from datacoral.storage.base import CommitResult
from datacoral.storage.sqlite import SQLiteStorage
from tests.storage.factories import good_event

LARGEST = sqlite_rows.STATEMENT_ROWS[-1]


@pytest.mark.parametrize("count", [1, 3, LARGEST, LARGEST + 1, 2 * LARGEST + 37])
def test_every_event_of_a_large_commit_is_stored_once(storage: SQLiteStorage, count: int) -> None:
    events = [good_event(app_id=f"a{i}") for i in range(count)]
    result = asyncio.run(storage.commit(events, []))
    assert result == CommitResult(stored=count, duplicates=0, conflicts=0, bad_rows=0)
    stored = storage.events_after("dev", 0, limit=count + 10)
    assert [s.event.app_id for s in stored] == [f"a{i}" for i in range(count)]  # arrival order


def test_duplicates_and_conflicts_spread_over_several_statements(storage: SQLiteStorage) -> None:
    old = [good_event(app_id=f"old{i}") for i in range(LARGEST + 10)]
    asyncio.run(storage.commit(old, []))
    conflict = good_event(event_id=old[-1].event_id, fingerprint=b"other")
    fresh = [good_event(app_id=f"new{i}") for i in range(LARGEST)]
    # Old ids land in both the first and the second INSERT of this commit.
    batch = [*fresh[:5], *old[:3], *fresh[5:], old[5], conflict]
    result = asyncio.run(storage.commit(batch, []))
    assert result == CommitResult(stored=LARGEST, duplicates=4, conflicts=1, bad_rows=0)
    [dev] = storage.count_events("dev")
    assert (dev.good, dev.bad, dev.duplicates) == (2 * LARGEST + 10, 1, 4)


def test_results_per_request_when_only_some_are_duplicates(storage: SQLiteStorage) -> None:
    first = [good_event() for _ in range(3)]
    asyncio.run(storage.commit(first, []))

    async def both() -> list[CommitResult]:
        again = storage.commit(first, [])
        new = storage.commit([good_event() for _ in range(2)], [])
        return list(await asyncio.gather(again, new))

    again, new = asyncio.run(both())
    assert again == CommitResult(stored=0, duplicates=3, conflicts=0, bad_rows=0)
    assert new == CommitResult(stored=2, duplicates=0, conflicts=0, bad_rows=0)


@pytest.mark.sqlite_only  # SQLite's statements, files or encodings
def test_statement_sizes_respect_the_variable_limit(storage: SQLiteStorage) -> None:
    conn = sqlite3.connect(storage.path)
    try:
        largest = sqlite_rows.max_statement_rows(conn)
        if hasattr(conn, "setlimit"):
            conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)
            assert sqlite_rows.max_statement_rows(conn) == 16
    finally:
        conn.close()
    assert largest in sqlite_rows.STATEMENT_ROWS
    assert [sqlite_rows.statement_rows(n) for n in (1, 3, 16, 17, 1000)] == [1, 4, 16, 32, LARGEST]


@pytest.mark.parametrize(
    "text",
    [
        "c0ffee00-1234-4abc-8def-0123456789ab",
        "C0FFEE00-1234-4ABC-8DEF-0123456789AB",
        "{c0ffee00-1234-4abc-8def-0123456789ab}",
        "urn:uuid:c0ffee00-1234-4abc-8def-0123456789ab",
        "c0ffee0012344abc8def0123456789ab",
    ],
)
def test_event_id_bytes_accepts_what_uuid_accepts(text: str) -> None:
    assert sqlite_rows.event_id_bytes(text) == uuid.UUID(text).bytes


@pytest.mark.parametrize(
    "text",
    [
        "c0ffee00-1234-4abc-8def-0123456789a",
        "c0ffee00-1234-4abc-8def-0123456789ag",
        "c0 fee00-1234-4abc-8def-0123456789ab",
        "c0ffee00-12 4-4abc-8def-0123456789ab",
        "abc",
    ],
)
def test_event_id_bytes_refuses_what_is_not_a_uuid(text: str) -> None:
    with pytest.raises(ValueError):
        sqlite_rows.event_id_bytes(text)


@pytest.mark.sqlite_only  # SQLite's statements, files or encodings
def test_extra_fields_round_trip_even_with_a_lone_surrogate(storage: SQLiteStorage) -> None:
    extra = {"res": "1920x1080", "odd": "caf\u00e9 \ud800"}
    event = good_event(extra=extra)
    asyncio.run(storage.commit([event], []))
    [stored] = storage.latest_events("dev")
    assert stored.event.extra == extra


def test_events_with_and_without_struct_or_ecommerce_fields_mix(storage: SQLiteStorage) -> None:
    events = [
        good_event(app_id="plain"),
        good_event(app_id="struct", se_category="c", se_action="a", se_value=1.5),
        good_event(app_id="item", ti_sku="sku-1", ti_quantity=2, tr_total=9.75),
        good_event(app_id="plain-again", extra={"res": "1x1"}),
    ]
    result = asyncio.run(storage.commit(events, []))
    assert result.stored == 4
    stored = storage.events_after("dev", 0)
    for back, sent in zip(stored, events, strict=True):
        sent.event_id = back.event.event_id
        assert back.event == sent


@pytest.mark.sqlite_only  # SQLite's statements, files or encodings
def test_values_are_stored_with_their_sql_types(storage: SQLiteStorage) -> None:
    """Rows bind NaN for absent values, bytearray for blobs and int for flags
    (cheaper to bind): what SQLite stores is still NULL, BLOB and INTEGER."""
    lean = good_event(user_id=None, extra={"res": "1x1"})
    full = good_event(se_category="c", se_value=None, tr_total=1.5, schema_validated=True)
    asyncio.run(storage.commit([lean, full], []))
    conn = sqlite3.connect(storage.path)
    try:
        found = conn.execute(
            "SELECT typeof(event_id), typeof(fingerprint), typeof(user_id), typeof(se_value),"
            " typeof(tr_total), typeof(schema_validated), typeof(extra) FROM good_events"
            " ORDER BY rowid"
        ).fetchall()
    finally:
        conn.close()
    assert found == [
        ("blob", "blob", "null", "null", "null", "integer", "text"),
        ("blob", "blob", "null", "null", "real", "integer", "null"),
    ]
    stored = [s.event for s in storage.events_after("dev", 0)]
    assert stored == [lean, full]


def test_sqlite_stores_a_nan_as_null() -> None:
    conn = sqlite3.connect(":memory:")
    try:
        assert conn.execute("SELECT ? IS NULL", (sqlite_rows.NULL,)).fetchone() == (1,)
    finally:
        conn.close()
