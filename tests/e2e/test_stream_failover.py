"""Issue 14's failure test: collectors, a 3-node JetStream cluster (R3) and loaders, with
the stream's leader killed, then a loader, then PostgreSQL taken away, mid-run.

Two ``datacoral serve --stream`` processes publish to the cluster; two ``datacoral
load`` processes write into PostgreSQL (through a TCP proxy, cut to take the
database away). Two trackers with durable queues and one raw sender (a request
with a good event and a bad one, resent as it was until it gets a 200) send
steadily throughout. At the end every event answered 200 is in PostgreSQL exactly
once, the bad ones as bad rows, and the trackers delivered everything they were
given (their durable queues are empty, nothing dropped).
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import requests

from snowplow_tracker import AsyncEmitter, Tracker
from snowplow_tracker.sqlite_event_store import SQLiteEventStore
from tests.collector.builders import TP2, envelope, headers
from tests.collector.conftest import create_keys
from tests.collector.test_postgres_unavailable import via_port
from tests.support import nats_servers
from tests.support.postgres import RunDatabase
from tests.support.server import RunningServer, running_server
from tests.support.stream import load_once, running_loader
from tests.support.tcp_proxy import TCPProxy

STREAM = "DATACORAL_EVENTS"
DEADLINE = 45.0  # seconds for any one phase: a broken build fails instead of hanging

pytestmark = [pytest.mark.slow, pytest.mark.services]


class RawSender:
    """A client like a tracker with a durable queue: each request (one good event, one
    bad) is resent unchanged until it gets a 200; the event ids of 200s are recorded."""

    def __init__(self, servers: list[RunningServer], key: str) -> None:
        self._servers = servers
        self._key = key
        self.good: list[str] = []
        self.bad: list[str] = []
        self.answered_at: list[float] = []
        self.refused = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(DEADLINE)
        assert not self._thread.is_alive(), "the sender could not deliver its last request"

    def _run(self) -> None:
        number = 0
        with requests.Session() as session:
            while not self._stop.is_set():
                number += 1
                good, bad = str(uuid.uuid4()), str(uuid.uuid4())
                stm = str(int(time.time() * 1000))
                body = envelope(
                    {"e": "se", "p": "srv", "tv": "raw", "eid": good, "se_ca": "raw", "stm": stm},
                    {"e": "zz", "p": "srv", "tv": "raw", "eid": bad, "stm": stm},
                )
                server = self._servers[number % len(self._servers)]
                while True:  # until delivered, even after stop() was asked
                    try:
                        answer = session.post(
                            server.url + TP2, json=body, headers=headers(self._key), timeout=10
                        )
                        status = answer.status_code
                    except requests.RequestException:
                        status = 0
                    if status == 200:
                        break
                    self.refused += 1
                    time.sleep(0.2)  # a retry delay, as a tracker's backoff
                self.good.append(good)
                self.bad.append(bad)
                self.answered_at.append(time.monotonic())
                time.sleep(0.01)

    def delivered_since(self, moment: float) -> int:
        return sum(1 for at in self.answered_at if at > moment)

    def longest_pause(self, after: float) -> float:
        """The longest gap between two 200s from ``after`` on."""
        times = [at for at in self.answered_at if at >= after - 1]
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


class Trackers:
    """Our tracker, twice, each with a durable (SQLite) queue and its own collector."""

    def __init__(self, directory: Path, servers: list[RunningServer], key: str) -> None:
        self.delivered: list[str] = []
        self.emitters = [
            AsyncEmitter(
                server.url,
                batch_size=10,
                event_store=SQLiteEventStore(directory / f"tracker{index}.sqlite"),
                max_retry_delay_seconds=1,
                on_success=self._delivered,
            )
            for index, server in enumerate(servers)
        ]
        self.trackers = [Tracker(e, api_key=key, datacoral_env="dev") for e in self.emitters]
        self.tracked = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _delivered(self, events: list[dict[str, str]]) -> None:
        self.delivered.extend(event["eid"] for event in events)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for tracker in self.trackers:
                tracker.track_struct_event("failover", "tracked", str(self.tracked))
                self.tracked += 1
            time.sleep(0.02)

    def finish(self) -> None:
        self._stop.set()
        self._thread.join(10)
        for emitter in self.emitters:
            report = emitter.flush(timeout=DEADLINE)
            assert report.pending == 0 and not report.dropped, report
            emitter.close(timeout=5)


def until(condition: object, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@contextmanager
def proxied_database(database: RunDatabase) -> Iterator[tuple[object, TCPProxy]]:
    url = database.new_schema()
    proxy = TCPProxy(urlsplit(url.url).port or 5432)
    try:
        yield url, proxy
    finally:
        proxy.cut()


def test_leader_loader_and_database_failures_lose_and_double_nothing(
    tmp_path: Path, postgres_database: RunDatabase
) -> None:
    nats_servers.require_nats_server()
    cluster = nats_servers.cluster(tmp_path / "nats")
    with ExitStack() as stack:
        stack.enter_context(nats_servers.running(cluster))
        url, proxy = stack.enter_context(proxied_database(postgres_database))
        key = create_keys(url)["dev"]  # type: ignore[arg-type]
        through = via_port(url, proxy.port)  # type: ignore[arg-type]
        stream = {"stream": cluster.urls, "stream_replicas": 3}
        collectors = [
            stack.enter_context(
                running_server(through, **stream, publish_timeout_seconds=2, retry_after_seconds=1)
            )
            for _ in range(2)
        ]
        loaders = [
            stack.enter_context(running_loader(through, cluster.urls, stream_replicas=3))
            for _ in range(2)
        ]
        sender = RawSender(collectors, key)
        trackers = Trackers(tmp_path, collectors, key)
        sender.start()
        trackers.start()
        until(lambda: len(sender.good) >= 20, "nothing got a 200 before the failures")

        leader = cluster.by_name(nats_servers.stream_leader(cluster.urls, STREAM))
        killed_at = time.monotonic()
        leader.kill()
        until(lambda: sender.delivered_since(killed_at + 0.5) >= 20, "no 200s after the kill")
        pause = sender.longest_pause(killed_at)
        print(f"SIGKILL of the stream leader {leader.name}: 200s paused for {pause:.2f} s")

        loaders[0].kill()
        moment = time.monotonic()
        until(lambda: sender.delivered_since(moment) >= 20, "no 200s after the loader died")

        cut_at = time.monotonic()
        proxy.cut()  # PostgreSQL gone for every collector and loader, as in a restart
        until(lambda: time.monotonic() - cut_at >= 3, "")  # the outage lasts 3 s
        proxy.restore()
        moment = time.monotonic()
        until(lambda: sender.delivered_since(moment) >= 20, "no 200s after PostgreSQL came back")

        sender.stop()
        trackers.finish()
        # Stopped, not killed (the other loader was): a loader that lived through the
        # leader's death and PostgreSQL's outage must still obey SIGTERM, with exit 0.
        assert loaders[1].terminate() == 0, loaders[1].log()
        done = load_once(through, cluster.urls, stream_replicas=3)  # type: ignore[arg-type]
        assert done.returncode == 0, done.stderr
        print(done.stdout.strip(), f"; raw requests refused and resent: {sender.refused}")

        with psycopg.connect(url.url, autocommit=True) as conn:  # type: ignore[attr-defined]
            good = dict(
                conn.execute(
                    "SELECT event_id::text, count(*) FROM good_events GROUP BY event_id"
                ).fetchall()
            )
            bad = dict(
                conn.execute(
                    "SELECT event_id, count(*) FROM bad_rows WHERE event_id IS NOT NULL"
                    " GROUP BY event_id"
                ).fetchall()
            )
        answered = [*sender.good, *trackers.delivered]
        assert len(answered) > 100
        missing = [eid for eid in answered if eid not in good]
        doubled = [eid for eid, count in good.items() if count != 1]
        assert not missing and not doubled, (missing[:5], doubled[:5])
        assert all(bad.get(eid) == 1 for eid in sender.bad), "a bad row lost or doubled"
        assert len(bad) == len(sender.bad)
        assert len(good) == len(sender.good) + trackers.tracked  # and nothing else
        assert pause < 30
