"""Messages from the stream into PostgreSQL exactly once: a redelivered message (its
commit done, its acknowledgement lost) is skipped whole, so bad rows are not added
again and duplicate counts are not inflated."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from datacoral.storage.postgres import PostgresStorage
from datacoral.storage.postgres_loads import StreamRecords
from tests.storage.factories import bad_row, good_event
from tests.support.postgres import RunDatabase

STREAM = "DATACORAL_EVENTS"


@pytest.fixture
def store(postgres_database: RunDatabase) -> Iterator[PostgresStorage]:
    storage = PostgresStorage(postgres_database.new_schema())
    yield storage
    storage.close()


def counts(store: PostgresStorage) -> tuple[int, int, int]:
    (dev,) = [c for c in store.count_events() if c.environment == "dev"]
    return dev.good, dev.bad, dev.duplicates


def test_a_redelivered_message_changes_nothing(store: PostgresStorage) -> None:
    first = good_event()
    message = StreamRecords(7, "id-7", [first, good_event()], [bad_row()])
    loaded = store.load_stream(STREAM, [message])
    assert (loaded.messages, loaded.skipped, loaded.stored, loaded.bad_rows) == (1, 0, 2, 1)

    again = store.load_stream(STREAM, [message])
    assert (again.messages, again.skipped, again.stored, again.duplicates) == (0, 1, 0, 0)
    assert counts(store) == (2, 1, 0)

    # A retried request published after the duplicate window is a new message: its
    # events are duplicates (counted once), its bad rows are kept, as without a stream.
    retry = StreamRecords(8, "id-7", [first], [])
    assert store.load_stream(STREAM, [retry]).duplicates == 1
    assert counts(store) == (2, 1, 1)


def test_a_batch_mixing_new_and_redelivered_messages_writes_only_the_new(
    store: PostgresStorage,
) -> None:
    old = StreamRecords(1, "a", [good_event()], [])
    new = StreamRecords(2, "b", [good_event()], [bad_row()])
    store.load_stream(STREAM, [old])
    result = store.load_stream(STREAM, [old, new, new])
    assert (result.messages, result.skipped, result.stored) == (1, 2, 1)
    assert counts(store) == (2, 1, 0)


def test_two_loaders_given_the_same_message_at_once_write_it_once(
    store: PostgresStorage, postgres_database: RunDatabase
) -> None:
    other = PostgresStorage(store.url)
    message = StreamRecords(3, "c", [good_event() for _ in range(50)], [bad_row()])
    results = []
    start = threading.Barrier(2)

    def load(storage: PostgresStorage) -> None:
        start.wait()
        results.append(storage.load_stream(STREAM, [message]))

    threads = [threading.Thread(target=load, args=(s,)) for s in (store, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    other.close()
    assert sorted(r.messages for r in results) == [0, 1]
    assert counts(store) == (50, 1, 0)


def test_acknowledged_messages_are_forgotten(store: PostgresStorage) -> None:
    for sequence in (1, 2, 3):
        store.load_stream(STREAM, [StreamRecords(sequence, f"m{sequence}", [good_event()], [])])
    assert store.forget_loaded(STREAM, 2, older_than=3600) == 0  # too recent
    assert store.forget_loaded(STREAM, 2, older_than=0) == 2
    assert store.forget_loaded("OTHER", 3, older_than=0) == 0
    assert store.load_stream(STREAM, [StreamRecords(3, "m3", [good_event()], [])]).skipped == 1
