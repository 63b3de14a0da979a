"""``serve --metrics-port``: Prometheus metrics on a port of their own, against real servers.

Events are sent with the real tracker (and raw requests where a tracker would never
send them), the metrics port is scraped and parsed with prometheus_client's parser,
and the counts are compared with what the store holds. Workers (``--workers 2``):
one scrape sums both, and a worker killed is marked gone (its connections stop
counting, its counts stay). Nothing waits by sleeping: each wait polls the scrape
with a deadline (a worker publishes its counts every second).
"""

from __future__ import annotations

import copy
import os
import signal
import socket
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import requests
from prometheus_client import CollectorRegistry, Counter, Histogram

from datacoral.collector.metrics import SECONDS_BUCKETS
from datacoral.metrics.tallies import CounterTally, HistogramTally
from datacoral.storage import open_storage
from datacoral.storage.target import Target
from snowplow_tracker import Emitter, Tracker
from tests.collector.builders import TP2, envelope, event, headers
from tests.collector.conftest import create_keys
from tests.collector.raw_http import connect, read_answer, read_one_answer, status
from tests.collector.workers import connections_to, post_request, serving, wait_serving, wait_until
from tests.support.scrape import (
    METRICS_LINE,
    Series,
    metrics_url,
    scrape,
    value,
    wait_for_scrape,
)
from tests.support.server import RunningServer, running_server

# -- the tallies: what they hand to prometheus_client ------------------------------------


def test_tallies_publish_what_prometheus_client_would_count() -> None:
    values = [0.0004, 0.001, 0.003, 0.003, 0.07, 3.0, 42.0]
    direct_registry, tallied_registry = CollectorRegistry(), CollectorRegistry()
    direct = Histogram("h", "h", ["route"], buckets=SECONDS_BUCKETS, registry=direct_registry)
    tallied = Histogram("h", "h", ["route"], buckets=SECONDS_BUCKETS, registry=tallied_registry)
    tally = HistogramTally(tallied, SECONDS_BUCKETS)
    for number, seconds in enumerate(values):
        direct.labels("events").observe(seconds)
        tally.observe(("events",), seconds)
        if number in (2, 4):  # flushed part-way: later flushes send only what is new
            tally.flush()
    tally.flush()
    tally.flush()  # nothing new: nothing added

    def samples(registry: CollectorRegistry) -> dict[tuple[str, str], float]:
        return {
            (s.name, s.labels.get("le", "")): s.value
            for family in registry.collect()
            for s in family.samples
            if not s.name.endswith("_created")
        }

    assert samples(tallied_registry) == samples(direct_registry)
    assert samples(tallied_registry)[("h_count", "")] == len(values)

    counter = Counter("c", "c", ["status"], registry=CollectorRegistry())
    counts = CounterTally(counter)
    counts.add(("200",), 3)
    counts.flush()
    counts.add(("200",))
    counts.add(("503",))
    counts.flush()
    counts.flush()
    assert counter.labels("200")._value.get() == 4
    assert counter.labels("503")._value.get() == 1


# -- one process serving ------------------------------------------------------------------


def test_events_are_counted_by_environment_outcome_and_kind(db_path: Target, backend: str) -> None:
    keys = create_keys(db_path)
    key = keys["dev"]
    sent_bytes: list[int] = []
    with (
        running_server(db_path, metrics_port=0, max_body_bytes=2048) as server,
        requests.Session() as session,
    ):
        session.hooks["response"].append(
            lambda response, *args, **kwargs: sent_bytes.append(len(response.request.body or b""))
        )
        url = metrics_url(server)
        emitter = Emitter(server.url, batch_size=1, session=session)
        tracker = Tracker(emitter, api_key=key, datacoral_env="dev", namespace="metrics")
        for number in range(3):  # good
            tracker.track_struct_event("metrics", "good", str(number))
        resent = {"e": "pv", "p": "pc", "tv": "py-test", "eid": str(uuid.uuid4())}
        emitter.input(copy.deepcopy(resent))  # good
        emitter.input(copy.deepcopy(resent))  # its retry: a duplicate
        emitter.input({**resent, "aid": "other content"})  # same id, other content: bad
        emitter.input({"e": "pv", "p": "pc", "tv": "py-test", "eid": "not-a-uuid"})  # bad
        assert emitter.flush(timeout=30).pending == 0
        tracked = sum(sent_bytes)
        oversized = envelope(*[event(url="https://example.com/" + "x" * 100) for _ in range(30)])
        too_large = session.post(server.url + TP2, json=oversized, headers=headers(key))
        assert too_large.status_code == 413  # kept as a size_violation bad row
        assert session.get(server.url + "/metrics").status_code == 404  # not on the public port

        series = wait_for_scrape(
            url,
            lambda s: value(s, "datacoral_requests_total", route="events", status="413") == 1,
            server,
            "the 413 counted",
        )
        scraped_text = requests.get(url, timeout=10).text
    assert METRICS_LINE.search(server.log()).group(2) == "127.0.0.1"  # type: ignore[union-attr]
    events = {
        outcome: value(series, "datacoral_events_total", environment="dev", outcome=outcome)
        for outcome in ("good", "duplicate", "bad")
    }
    assert events == {"good": 4, "duplicate": 1, "bad": 3}
    kinds = {
        kind: value(series, "datacoral_bad_rows_total", environment="dev", kind=kind)
        for kind in ("tracker_protocol_violation", "duplicate_conflict", "size_violation")
    }
    assert kinds == {"tracker_protocol_violation": 1, "duplicate_conflict": 1, "size_violation": 1}
    storage = open_storage_counts(db_path)
    assert storage == (events["good"], events["bad"], events["duplicate"])
    assert value(series, "datacoral_requests_total", route="events", status="200") == 7
    assert value(series, "datacoral_request_seconds_count", route="events") == 8
    assert value(series, "datacoral_request_body_bytes_count", route="events") == 8
    body_sum = value(series, "datacoral_request_body_bytes_sum", route="events")
    assert tracked <= body_sum <= tracked + len(too_large.request.body or b"")
    # Eight commits: seven requests, and the bad row of the refused one.
    assert value(series, "datacoral_commit_seconds_count", target=backend) == 8
    assert (
        value(series, "datacoral_storage_failures_total", target=backend, operation="commit") == 0
    )
    assert key not in scraped_text
    assert "process_resident_memory_bytes" in scraped_text


def open_storage_counts(db: Target) -> tuple[int, int, int]:
    storage = open_storage(db)
    try:
        (dev,) = storage.count_events("dev")
        return dev.good, dev.bad, dev.duplicates
    finally:
        storage.close()


@pytest.mark.sqlite_only  # about the front door's connections, the same over any backend
def test_open_connections_are_a_gauge(db_path: Path) -> None:
    create_keys(db_path)
    with running_server(db_path, metrics_port=0) as server, ExitStack() as held:
        url = metrics_url(server)
        sockets = [
            held.enter_context(socket.create_connection(("127.0.0.1", server.port)))
            for _ in range(3)
        ]
        wait_for_scrape(url, lambda s: value(s, "datacoral_open_connections") == 3, server, "3")
        for sock in sockets:
            sock.close()
        wait_for_scrape(url, lambda s: value(s, "datacoral_open_connections") == 0, server, "0")


@pytest.mark.sqlite_only  # a SQLite lock; the count is the collector's, not the backend's
def test_storage_failures_are_counted(db_path: Path) -> None:
    keys = create_keys(db_path)
    with (
        running_server(db_path, metrics_port=0, storage_busy_timeout_seconds=0.2) as server,
        requests.Session() as session,
    ):
        url = metrics_url(server)
        sent = headers(keys["dev"])
        assert session.post(server.url + TP2, json=envelope(event()), headers=sent).ok
        other = sqlite3.connect(db_path, isolation_level=None)
        try:
            other.execute("BEGIN EXCLUSIVE")
            refused = session.post(server.url + TP2, json=envelope(event()), headers=sent)
            assert refused.status_code == 503
        finally:
            other.execute("ROLLBACK")
            other.close()
        series = scrape(url)
    assert (
        value(series, "datacoral_storage_failures_total", target="sqlite", operation="commit") == 1
    )
    assert value(series, "datacoral_requests_total", route="events", status="503") == 1
    assert value(series, "datacoral_events_total", environment="dev", outcome="good") == 1


# -- answers the front door writes itself, and the APIs' routes ---------------------------


@pytest.mark.sqlite_only  # the front door's answers, the same over any backend
def test_front_door_refusals_are_counted(db_path: Path) -> None:
    key = create_keys(db_path)["dev"]
    with running_server(
        db_path,
        metrics_port=0,
        max_request_line_bytes=1024,
        max_header_bytes=2048,
        header_timeout_seconds=0.5,
        body_timeout_seconds=0.5,
    ) as server:
        url = metrics_url(server)
        post_head = (
            f"POST {TP2} HTTP/1.1\r\nHost: test\r\nX-Api-Key: {key}\r\n"
            "Content-Type: application/json\r\n"
        ).encode()
        refusals = [
            # The routes never see these: route="front_door".
            (b"GET /i?pad=" + b"u" * 2000 + b" HTTP/1.1\r\nHost: test\r\n\r\n", 414),
            (b"GET /health HTTP/1.1\r\nHost: test\r\nX-Big: " + b"a" * 3000 + b"\r\n\r\n", 431),
            (b"GET /health HTTP/1.1\r\nHost: test\r\n", 408),  # the head never ends
            (b"NOT HTTP AT ALL\r\n\r\n", 400),
            # The routes have these when the front door answers: their route, its status.
            (post_head + b"Content-Length: 4000\r\n\r\n{", 408),  # the body never ends
            (post_head + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", 400),  # nor parses
        ]
        for request, expected in refusals:
            with connect(server) as sock:
                sock.sendall(request)
                answer, closed = read_answer(sock, 10)
            assert (status(answer), closed) == (expected, True), (request[:40], answer)

        def all_counted(series: Series) -> bool:
            return value(series, "datacoral_requests_total", route="events", status="400") == 1

        series = wait_for_scrape(url, all_counted, server, "the events route's 400")
    requests_total = {
        (dict(labels)["route"], dict(labels)["status"]): count
        for (name, labels), count in series.items()
        if name == "datacoral_requests_total"
    }
    assert requests_total == {
        ("front_door", "414"): 1,
        ("front_door", "431"): 1,
        ("front_door", "408"): 1,
        ("front_door", "400"): 1,
        ("events", "408"): 1,
        ("events", "400"): 1,
    }
    # Requests the routes had are timed; the front door's own answers are counted only.
    assert value(series, "datacoral_request_seconds_count", route="events") == 2
    assert value(series, "datacoral_request_seconds_count", route="front_door") == 0


@pytest.mark.sqlite_only  # the front door's connection bound, the same over any backend
def test_connections_turned_away_are_counted(db_path: Path) -> None:
    key = create_keys(db_path)["dev"]
    with running_server(
        db_path, metrics_port=0, max_connections=1, body_timeout_seconds=60
    ) as server:
        url = metrics_url(server)
        request = post_request(key, [event()], "Expect: 100-continue")
        head, _, body = request.partition(b"\r\n\r\n")
        with connect(server) as held:
            held.sendall(head + b"\r\n\r\n")
            # "100 Continue": the server is reading this request's body, so the connection
            # is busy and cannot make room for another.
            assert read_one_answer(held, 10).startswith(b"HTTP/1.1 100 Continue")
            for _ in range(2):
                with connect(server) as turned_away:
                    answer, closed = read_answer(turned_away, 10)
                assert (status(answer), closed) == (503, True), answer
            held.sendall(body)
            assert status(read_one_answer(held, 10)) == 200
        series = scrape(url)
    assert value(series, "datacoral_requests_total", route="front_door", status="503") == 2
    assert value(series, "datacoral_requests_total", route="events", status="200") == 1


@pytest.mark.sqlite_only  # route labels, the same over any backend
def test_admin_and_inspection_requests_have_routes_of_their_own(db_path: Path) -> None:
    create_keys(db_path)
    store = open_storage(db_path)
    try:
        _, token = store.create_admin_token("dev", "metrics")
    finally:
        store.close()
    authorized = {"Authorization": f"Bearer {token}"}
    paths = ("/admin/v1/environments", "/micro/all")
    with requests.Session() as session:
        with running_server(db_path, metrics_port=0, admin=True, inspect=True) as server:
            for path in paths:
                assert session.get(server.url + path, headers=authorized).status_code == 200
                assert session.get(server.url + path).status_code == 401
            served = scrape(metrics_url(server))
        with running_server(db_path, metrics_port=0) as server:  # both APIs off
            for path in paths:
                assert session.get(server.url + path, headers=authorized).status_code == 404
            off = scrape(metrics_url(server))
    for route in ("admin", "micro"):
        for code in ("200", "401"):
            assert value(served, "datacoral_requests_total", route=route, status=code) == 1
    assert value(served, "datacoral_requests_total", route="unmatched", status="404") == 0
    assert value(off, "datacoral_requests_total", route="unmatched", status="404") == 2
    assert value(off, "datacoral_requests_total", route="admin", status="404") == 0


def test_metrics_off_by_default_and_port_refused_when_taken(tmp_path: Path) -> None:
    db = tmp_path / "events.sqlite"
    create_keys(db)
    with running_server(db) as server:
        assert METRICS_LINE.search(server.log()) is None
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with (
            pytest.raises(AssertionError, match="did not start") as failure,
            running_server(db, metrics_port=port, startup_timeout=15),
        ):
            pass
    assert f"cannot listen for metrics on 127.0.0.1:{port}" in str(failure.value)


# -- workers ------------------------------------------------------------------------------


@pytest.fixture
def supervised_with_metrics(db_path: Path) -> Iterator[tuple[RunningServer, str, str]]:
    key = create_keys(db_path)["dev"]
    with running_server(
        db_path,
        workers=2,
        access_log=True,
        metrics_port=0,
        keep_alive_timeout_seconds=300,  # the held connections stay open through the test
    ) as server:

        def both_serving() -> dict[int, int] | None:
            found = serving(server)
            return found if sorted(found) == [1, 2] else None

        wait_until(both_serving, 15, "both workers serving", server)
        yield server, metrics_url(server), key


@pytest.mark.sqlite_only  # the supervisor's behaviour, the same over any backend
def test_workers_are_summed_and_a_dead_worker_is_marked(
    supervised_with_metrics: tuple[RunningServer, str, str],
) -> None:
    server, url, key = supervised_with_metrics
    pids = sorted(serving(server).values())
    per_worker = 3
    held = connections_to(server, pids)
    try:
        for pid in pids:
            (sock,) = held[pid]
            for _ in range(per_worker):
                sock.sendall(post_request(key, [event()]))
                assert status(read_one_answer(sock, 10)) == 200

        def summed(series: Series) -> bool:
            good = value(series, "datacoral_events_total", environment="dev", outcome="good")
            return good == 2 * per_worker and value(series, "datacoral_open_connections") == 2

        series = wait_for_scrape(url, summed, server, "both workers' events and connections")
        assert value(series, "datacoral_requests_total", route="events", status="200") == 6
        folder = _multiprocess_folder(pids[0])
        assert folder is not None and os.path.isdir(folder)

        slot = next(slot for slot, pid in serving(server).items() if pid == pids[0])
        os.kill(pids[0], signal.SIGKILL)
        wait_serving(server, slot, not_pid=pids[0])

        def marked(series: Series) -> bool:
            good = value(series, "datacoral_events_total", environment="dev", outcome="good")
            return good == 2 * per_worker and value(series, "datacoral_open_connections") == 1

        wait_for_scrape(url, marked, server, "the dead worker's connection forgotten")
    finally:
        for group in held.values():
            for sock in group:
                sock.close()
    server.terminate()
    assert not os.path.exists(folder), "the supervisor left its metrics folder behind"


@pytest.mark.sqlite_only  # the supervisor's sum, the same over any backend
def test_front_door_answers_of_every_worker_are_summed(
    supervised_with_metrics: tuple[RunningServer, str, str],
) -> None:
    server, url, _key = supervised_with_metrics
    held = connections_to(server, sorted(serving(server).values()))
    long_line = b"GET /i?pad=" + b"u" * 9000 + b" HTTP/1.1\r\nHost: test\r\n\r\n"
    for group in held.values():  # one connection to each worker
        for sock in group:
            with sock:
                sock.sendall(long_line)
                answer, closed = read_answer(sock, 10)
            assert (status(answer), closed) == (414, True), answer

    def summed(series: Series) -> bool:
        return value(series, "datacoral_requests_total", route="front_door", status="414") == 2

    wait_for_scrape(url, summed, server, "both workers' 414")


def _multiprocess_folder(worker_pid: int) -> str | None:
    """The folder a worker was told to write its metrics to (its command line)."""
    arguments = Path(f"/proc/{worker_pid}/cmdline").read_bytes().split(b"\0")
    for argument in arguments:
        if argument.startswith(b"--metrics-dir="):
            return argument.split(b"=", 1)[1].decode()
    return None
