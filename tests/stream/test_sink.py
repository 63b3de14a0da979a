"""``datacoral serve --stream``: a 200 only once the stream acknowledged the request.

Real processes throughout: the endpoint, a JetStream server of the test's own, and
``datacoral load`` to see what reached PostgreSQL. Outages are made by stopping the
NATS server (restarted on the same port and files) or by cutting a TCP proxy in
front of PostgreSQL; every wait is a loop with a deadline on an observable change.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests

from datacoral.storage import open_storage
from tests.collector.builders import TP2, envelope, event, headers
from tests.collector.test_postgres_unavailable import via_port
from tests.stream.conftest import Store
from tests.support.nats_servers import JetStream
from tests.support.server import RunningServer, running_server
from tests.support.stream import load_once, stream_messages
from tests.support.tcp_proxy import TCPProxy

DEADLINE = 30.0  # seconds: only so that a broken build fails instead of hanging


def post(server: RunningServer, key: str, *events: dict[str, str]) -> requests.Response:
    return requests.post(server.url + TP2, json=envelope(*events), headers=headers(key), timeout=30)


def until(status: int, server: RunningServer, key: str, *events: dict[str, str]) -> float:
    """Post until the answer is ``status``; the seconds it took."""
    started = time.monotonic()
    while post(server, key, *events).status_code != status:
        assert time.monotonic() - started < DEADLINE, f"never {status}:\n{server.log()}"
    return time.monotonic() - started


def stored_once(store: Store, events: list[dict[str, str]]) -> bool:
    storage = open_storage(store.url)
    try:
        return all(len(storage.find_events(sent["eid"])) == 1 for sent in events)
    finally:
        storage.close()


def loaded(store: Store, jetstream: JetStream) -> str:
    done = load_once(store.url, jetstream.urls)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_200_means_the_stream_holds_the_request_until_a_loader_writes_it(
    store: Store, jetstream: JetStream
) -> None:
    with running_server(store.url, stream=jetstream.urls) as server:
        response = post(server, store.keys["dev"], event(), event(), {"e": "zz", "p": "pc"})
        assert response.status_code == 200
        assert "a 200 means the stream acknowledged the request" in server.log()
    assert stream_messages(jetstream.urls) == 1  # one message for the whole request
    assert store.counts() == (0, 0, 0)  # nothing in PostgreSQL before a loader ran
    assert "loaded 1 messages (2 events stored, 0 duplicates, 0 conflicts, 1 bad rows" in (
        loaded(store, jetstream)
    )
    assert store.counts() == (2, 1, 0)
    assert stream_messages(jetstream.urls) == 0  # a work queue: loaded means removed


def test_a_retried_request_is_one_message_and_is_stored_once(
    store: Store, jetstream: JetStream
) -> None:
    sent = [event(stm="1700000000000"), {"e": "zz", "p": "pc", "stm": "1700000000000"}]
    retried = [{**e, "stm": "1700000005000"} for e in sent]  # the tracker's new send time
    with running_server(store.url, stream=jetstream.urls) as server:
        for events in (sent, sent, retried):
            assert post(server, store.keys["dev"], *events).status_code == 200
    assert stream_messages(jetstream.urls) == 1
    loaded(store, jetstream)
    assert store.counts() == (1, 1, 0)  # the bad row once, no duplicate counted


def test_with_the_stream_down_the_answer_is_503_with_retry_after_then_it_recovers(
    store: Store, jetstream: JetStream
) -> None:
    (nats_server,) = jetstream.servers
    kept = [event()]
    with running_server(
        store.url, stream=jetstream.urls, publish_timeout_seconds=0.5, retry_after_seconds=7
    ) as server:
        key = store.keys["dev"]
        assert post(server, key, kept[0]).status_code == 200
        nats_server.stop()
        refused = post(server, key, event())
        assert (refused.status_code, refused.headers["Retry-After"]) == (503, "7")
        assert refused.text.startswith("503 storage unavailable")
        assert requests.get(server.url + "/ready", timeout=10).status_code == 503

        nats_server.start()  # same port, same files: the stream and its message are back
        nats_server.wait_listening()
        kept.append(event())
        print(f"recovered {until(200, server, key, kept[1]):.2f} s after the restart")
        assert requests.get(server.url + "/ready", timeout=10).status_code == 200
    loaded(store, jetstream)
    assert stored_once(store, kept)
    # The refused request may be stored too: the client sends what it buffered while
    # disconnected once it reconnects. Its retry, the same message, would be deduplicated.
    assert store.counts()[0] in (2, 3)


def test_with_postgresql_unreachable_the_answer_is_503_then_it_recovers(
    store: Store, jetstream: JetStream
) -> None:
    proxy = TCPProxy(urlsplit(store.url.url).port or 5432)
    try:
        through = via_port(store.url, proxy.port)
        with running_server(through, stream=jetstream.urls, retry_after_seconds=7) as server:
            key = store.keys["dev"]
            assert post(server, key, event()).status_code == 200
            proxy.cut()
            # Keys are not trusted once PostgreSQL has not been heard from for 2 s.
            until(503, server, key, event())
            assert post(server, key, event()).headers["Retry-After"] == "7"
            proxy.restore()
            until(200, server, key, event())
    finally:
        proxy.cut()
    loaded(store, jetstream)
    assert store.counts()[0] >= 2


def test_a_stream_needs_postgresql(tmp_path: Path, jetstream: JetStream) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "datacoral",
            "serve",
            "--db",
            "x.sqlite",
            "--stream",
            jetstream.urls,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(tmp_path),
    )
    assert done.returncode == 1
    assert "--stream needs db to be a PostgreSQL URL" in done.stderr
