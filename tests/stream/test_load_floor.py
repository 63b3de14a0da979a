"""A copy of a message that reaches PostgreSQL after its record was pruned writes nothing.

Loaders record each message they write in ``stream_loads`` and prune the records
once acknowledged and old enough. A loader whose transaction is held up for longer
than that (a network retransmitting for minutes, a paused process) would find no
record; the pruned floor refuses it instead (datacoral/storage/postgres_loads.py).
The window is made here on purpose: one loader reaches PostgreSQL through a relay
that keeps its transaction back (tests/support/late_relay.py), another writes the
same messages after the ack wait and, with no retention, prunes their records; then
the first transaction is let through. Every request carries three good events and
a bad row, so a message written twice shows in the counts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import nats
import psycopg

from datacoral.loader.loader import Loader
from datacoral.loader.settings import LoaderSettings
from datacoral.storage.postgres import PostgresStorage
from datacoral.storage.postgres_loads import StreamRecords
from datacoral.storage.target import DatabaseURL
from tests.collector.test_postgres_unavailable import via_port
from tests.storage.factories import bad_row, good_event
from tests.stream.conftest import Store
from tests.stream.test_loader import backlog
from tests.support.late_relay import LateRelay
from tests.support.nats_servers import JetStream
from tests.support.stream import publish

DEADLINE = 20.0
STREAM = "DATACORAL_EVENTS"


def settings(db: DatabaseURL, jetstream: JetStream) -> LoaderSettings:
    return LoaderSettings(
        db=db,
        stream=tuple(jetstream.urls.split(",")),
        load_batch_wait_seconds=0.2,
        load_ack_wait_seconds=1,  # also how long PostgreSQL lets a load transaction idle
        load_report_interval_seconds=60,
    )


def records_and_floor(store: Store) -> tuple[int, list[int]]:
    """How many stream_loads records there are, and the pruned floors."""
    with psycopg.connect(store.url.url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM stream_loads").fetchone()
        floors = conn.execute("SELECT pruned_through FROM stream_load_floors").fetchall()
    return (int(row[0]) if row else 0), [int(floor) for (floor,) in floors]


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.02)


def answered(loader: Loader) -> bool:
    """The loader's commit came back: each message it fetched is written or skipped."""
    progress = loader.progress
    return progress.delivered > 0 and progress.messages + progress.skipped == progress.delivered


def test_a_commit_arriving_after_its_records_were_pruned_writes_nothing_again(
    store: Store, jetstream: JetStream
) -> None:
    requests, expected = backlog(6)
    publish(jetstream.urls, requests)
    relay = LateRelay(urlsplit(store.url.url).port or 5432)
    late = Loader(settings(via_port(store.url, relay.port), jetstream))
    prompt = Loader(settings(store.url, jetstream))
    prompt.retention = 0.0  # records are pruned as soon as they are acknowledged

    async def scenario() -> tuple[int, list[int]]:
        relay.hold(at=b"BEGIN")  # the late loader's transaction leaves, and is kept back
        running = asyncio.create_task(late.run())
        assert await asyncio.to_thread(relay.held.wait, DEADLINE), "no transaction began"
        # After the ack wait the stream gives the batch to the prompt loader: it writes
        # it, acknowledges it and, stopping, prunes the records (raising the floor).
        await asyncio.wait_for(prompt.run(once=True), DEADLINE)
        pruned = records_and_floor(store)
        relay.release()  # the late transaction reaches PostgreSQL now
        await until(lambda: answered(late), "the late commit did not come back")
        late.stop()
        await asyncio.wait_for(running, DEADLINE)
        return pruned

    try:
        pruned = asyncio.run(scenario())
    finally:
        relay.close()
    assert pruned == (0, [6])  # the window: no record left, only the floor over them
    assert prompt.progress.messages == 6
    assert late.progress.messages == 0
    assert late.progress.skipped == late.progress.delivered > 0
    assert store.counts() == expected  # each event and each bad row once


def test_a_loader_cut_off_mid_transaction_does_not_hold_up_the_others(
    store: Store, jetstream: JetStream
) -> None:
    requests, expected = backlog(6)
    publish(jetstream.urls, requests)
    relay = LateRelay(urlsplit(store.url.url).port or 5432)
    cut_off = Loader(settings(via_port(store.url, relay.port), jetstream))
    other = Loader(settings(store.url, jetstream))

    async def scenario() -> tuple[int, int, int]:
        # Its claims reach PostgreSQL, then the network goes silent both ways.
        relay.hold(at=b"stream_load_floors")
        running = asyncio.create_task(cut_off.run())
        assert await asyncio.to_thread(relay.held.wait, DEADLINE), "no claims were made"
        # PostgreSQL ends the idle transaction after the ack wait, releasing its claims;
        # otherwise the other loader's claims would wait for them until the release.
        try:
            await asyncio.wait_for(other.run(once=True), DEADLINE)
        except asyncio.TimeoutError:
            raise AssertionError("the other loader waited on the cut-off one's claims") from None
        meanwhile = store.counts()
        relay.release()
        await until(lambda: answered(cut_off), "the cut-off loader did not recover")
        cut_off.stop()
        await asyncio.wait_for(running, DEADLINE)
        return meanwhile

    try:
        meanwhile = asyncio.run(scenario())
    finally:
        relay.close()
    assert meanwhile == expected  # written by the other loader while the first was cut off
    assert other.progress.messages == 6
    assert cut_off.progress.messages == 0
    assert cut_off.progress.skipped == cut_off.progress.delivered > 0
    assert store.counts() == expected


def test_a_stream_made_again_is_loaded_from_its_first_sequence(
    store: Store, jetstream: JetStream
) -> None:
    before, (good, bad, duplicates) = backlog(8)
    publish(jetstream.urls, before)
    first = Loader(settings(store.url, jetstream))
    first.retention = 0.0
    asyncio.run(first.run(once=True))
    assert records_and_floor(store) == (0, [8])

    async def delete_stream() -> None:
        client = await nats.connect(servers=jetstream.urls.split(","))
        try:
            await client.jetstream(timeout=10).delete_stream(STREAM)
        finally:
            await client.close()

    asyncio.run(delete_stream())
    after, (more_good, more_bad, more_duplicates) = backlog(5)
    publish(jetstream.urls, after)  # a new stream: sequences 1 to 5, below the old floor
    second = Loader(settings(store.url, jetstream))
    asyncio.run(second.run(once=True))
    assert second.progress.messages == 5
    assert store.counts() == (good + more_good, bad + more_bad, duplicates + more_duplicates)


def test_pruning_raises_the_floor_of_one_life_of_one_stream(store: Store) -> None:
    storage = PostgresStorage(store.url)
    try:
        message = StreamRecords(5, "m5", [good_event()], [bad_row()])
        assert storage.load_stream(STREAM, [message], incarnation="life 1").messages == 1
        assert storage.forget_loaded(STREAM, 5, 0, incarnation="life 1") == 1
        # The record is gone; the floor refuses a copy all the same.
        late = storage.load_stream(STREAM, [message], incarnation="life 1")
        assert (late.messages, late.skipped, late.bad_rows) == (0, 1, 0)
        # Neither another life of the stream nor another stream is held to that floor.
        again = StreamRecords(5, "m5 again", [good_event()], [bad_row()])
        assert storage.load_stream(STREAM, [again], incarnation="life 2").messages == 1
        elsewhere = StreamRecords(5, "m5", [good_event()], [bad_row()])
        assert storage.load_stream("OTHER", [elsewhere], incarnation="life 1").messages == 1
        # Nothing pruned (records too recent): the floor stays where it was.
        assert storage.forget_loaded(STREAM, 9, 3600, incarnation="life 1") == 0
    finally:
        storage.close()
    assert records_and_floor(store) == (3, [5])
    assert store.counts() == (3, 3, 0)
