"""``datacoral load``: full batches, lag, and exactly-once through crashes.

A backlog is published straight to the stream as collectors publish it
(tests/support/stream.py), then loaded by ``datacoral load`` processes. Every
request carries three good events and a bad row; every tenth also repeats an event
of the request before it, which PostgreSQL must count as one duplicate. So the
exact counts after loading are known: a message lost, loaded twice, or a
redelivery counted again shows in them.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Sequence

import psycopg

from datacoral.loader.loader import Loader
from datacoral.loader.settings import LoaderSettings
from datacoral.storage.base import BadRow, GoodEvent, StorageUnavailable
from datacoral.storage.postgres import PostgresStorage
from datacoral.storage.postgres_loads import LoadResult, StreamRecords
from tests.storage.factories import bad_row, good_event
from tests.stream.conftest import Store
from tests.support.nats_servers import JetStream
from tests.support.stream import load_once, load_status, publish, running_loader

DEADLINE = 60.0
PER_FETCH = re.compile(r"\(([\d.]+) messages a fetch\)")
LOADED = re.compile(r"loaded (\d+) messages")


def backlog(requests: int) -> tuple[list[tuple[list[GoodEvent], list[BadRow]]], tuple[int, ...]]:
    """``requests`` requests, and the (good, bad, duplicates) counts they must end as."""
    made: list[tuple[list[GoodEvent], list[BadRow]]] = []
    for number in range(requests):
        good = [good_event(fingerprint=b"f%d" % number) for _ in range(3)]
        if number % 10 == 9:
            good.append(made[-1][0][0])  # a resent event: one duplicate
        made.append((good, [bad_row(reason=f"request {number}: e: missing")]))
    return made, (3 * requests, requests, requests // 10)


def loaded_messages(store: Store) -> int:
    with psycopg.connect(store.url.url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM stream_loads").fetchone()
    return int(row[0]) if row else 0


def until(condition: object, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_a_backlog_loads_in_full_batches_and_the_lag_is_reported(
    store: Store, jetstream: JetStream
) -> None:
    requests, expected = backlog(600)
    assert publish(jetstream.urls, requests) == 600
    assert load_status(store.url, jetstream.urls) == (
        "stream DATACORAL_EVENTS, consumer datacoral-loader: 600 messages waiting, 0 being loaded"
    )

    done = load_once(store.url, jetstream.urls, "--batch-size", "200")
    assert done.returncode == 0, done.stderr
    print(done.stdout)
    found = PER_FETCH.search(done.stdout)
    assert found is not None and float(found[1]) >= 150, done.stdout  # not 1-4 a fetch
    assert "loaded 600 messages" in done.stdout
    assert "lag: 0 messages waiting, 0 being loaded" in done.stdout
    assert store.counts() == expected
    assert "0 messages waiting" in load_status(store.url, jetstream.urls)


def test_sigkill_while_loading_loses_and_doubles_nothing(
    store: Store, jetstream: JetStream
) -> None:
    requests, expected = backlog(3000)
    publish(jetstream.urls, requests)
    with running_loader(store.url, jetstream.urls, "--batch-size", "50") as loader:
        until(lambda: loaded_messages(store) >= 400, f"the loader wrote nothing:\n{loader.log()}")
        loader.kill()  # between any two instructions: mid-transaction, before or after acks
    before = loaded_messages(store)
    assert before < 3000, "the loader finished before it was killed; make the backlog larger"
    # A new loader gets the dead one's unacknowledged messages after the ack wait (2 s).
    done = load_once(store.url, jetstream.urls, "--batch-size", "500")
    assert done.returncode == 0, done.stderr
    print(f"killed after {before} messages; then {done.stdout.strip()}")
    assert store.counts() == expected
    assert "lag: 0 messages waiting, 0 being loaded" in done.stdout


class LosesTheFirstAnswer(PostgresStorage):
    """A commit that succeeds, then looks failed (the connection broke before the
    answer): the loader retries a batch PostgreSQL already holds."""

    lost = False

    def load_stream(
        self,
        stream: str,
        messages: Sequence[StreamRecords],
        *,
        incarnation: str = "",
        idle_timeout: float | None = None,
    ) -> LoadResult:
        result = super().load_stream(
            stream, messages, incarnation=incarnation, idle_timeout=idle_timeout
        )
        if not self.lost:
            self.lost = True
            raise StorageUnavailable("connection lost after the commit")
        return result


def test_a_batch_committed_but_not_acknowledged_is_not_counted_twice(
    store: Store, jetstream: JetStream
) -> None:
    requests, expected = backlog(120)
    publish(jetstream.urls, requests)
    settings = LoaderSettings(
        db=store.url,
        stream=tuple(jetstream.urls.split(",")),
        load_batch_size=100,
        load_batch_wait_seconds=0.2,
        load_ack_wait_seconds=2,
    )
    loader = Loader(settings, storage=LosesTheFirstAnswer(store.url))
    lag = asyncio.run(loader.run(once=True))
    assert loader.progress.skipped == 100  # the whole first batch, recognised
    assert loader.progress.messages == 20  # the other 100: by the commit whose answer was lost
    assert loader.progress.failed_commits == 1
    assert store.counts() == expected  # bad rows once, duplicates not inflated
    assert lag is not None and (lag.waiting, lag.in_flight) == (0, 0)


def test_two_loaders_share_the_work_and_stop_cleanly(store: Store, jetstream: JetStream) -> None:
    requests, expected = backlog(2000)
    publish(jetstream.urls, requests[:1])  # the stream exists before the loaders start
    with (
        running_loader(store.url, jetstream.urls, "--batch-size", "100") as first,
        running_loader(store.url, jetstream.urls, "--batch-size", "100") as second,
    ):
        publish(jetstream.urls, requests[1:])
        until(lambda: store.counts() == expected, "the loaders did not load everything")
    # Both exited 0 after SIGTERM (running_loader checks), each printing its total.
    shares = []
    for loader in (first, second):
        found = LOADED.findall(loader.log())
        assert found, loader.log()
        shares.append(int(found[-1]))
    print(f"messages loaded by each loader: {shares}")
    assert sum(shares) == 2000
    assert all(share > 0 for share in shares)
