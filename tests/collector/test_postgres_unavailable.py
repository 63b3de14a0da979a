"""PostgreSQL away: 503 with Retry-After (never 500), then recovery without a restart.

The SQLite cases (a locked file, a file that is not a database) are in
test_storage_unavailable.py. Here the database becomes unreachable (a TCP proxy
in front of it is cut, then restored on the same port), drops the endpoint's
connections (``pg_terminate_backend``), holds a lock longer than the busy
timeout, or does not exist at all.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests

from datacoral.storage import open_storage
from datacoral.storage.target import DatabaseURL
from tests.collector.builders import TP2, envelope, event, headers
from tests.collector.conftest import create_keys
from tests.support.postgres import RunDatabase
from tests.support.server import RunningServer, running_server
from tests.support.tcp_proxy import TCPProxy

RECOVERY = 20.0  # seconds: a deadline, not a wait


def via_port(url: DatabaseURL, port: int) -> DatabaseURL:
    parts = urlsplit(url.url)
    netloc = f"{parts.netloc.rpartition('@')[0]}@127.0.0.1:{port}"
    return DatabaseURL(urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")))


def post(
    session: requests.Session, server: RunningServer, key: str, sent: dict[str, str]
) -> requests.Response:
    return session.post(server.url + TP2, json=envelope(sent), headers=headers(key), timeout=30)


def until_stored(
    session: requests.Session, server: RunningServer, key: str, sent: dict[str, str]
) -> None:
    deadline = time.monotonic() + RECOVERY
    while (response := post(session, server, key, sent)).status_code != 200:
        assert response.status_code == 503, response.text
        assert response.headers["Retry-After"] == "7"
        assert time.monotonic() < deadline, "the endpoint did not recover"


def stored_once(url: DatabaseURL, *event_ids: str) -> bool:
    store = open_storage(url)
    try:
        return all(len(store.find_events(event_id)) == 1 for event_id in event_ids)
    finally:
        store.close()


def test_an_unreachable_database_gives_503_then_recovers(postgres_database: RunDatabase) -> None:
    url = postgres_database.new_schema()
    keys = create_keys(url)
    proxy = TCPProxy(urlsplit(url.url).port or 5432)
    through = via_port(url, proxy.port)
    try:
        with (
            running_server(
                through, storage_busy_timeout_seconds=0.5, retry_after_seconds=7
            ) as server,
            requests.Session() as session,
        ):
            first = event()
            assert post(session, server, keys["dev"], first).status_code == 200

            proxy.cut()
            refused = event()
            response = post(session, server, keys["dev"], refused)
            assert (response.status_code, response.headers["Retry-After"]) == (503, "7")
            assert response.text.startswith("503 storage unavailable")
            pixel = session.get(
                server.url + "/i", params=event(p="web"), headers=headers(keys["dev"])
            )
            assert (pixel.status_code, pixel.headers["Retry-After"]) == (503, "7")
            deadline = time.monotonic() + RECOVERY
            while (ready := session.get(server.url + "/ready")).status_code != 503:
                assert time.monotonic() < deadline, "/ready kept saying ready"
            assert ready.headers["Retry-After"] == "7"
            assert session.get(server.url + "/health").status_code == 200

            proxy.restore()
            until_stored(session, server, keys["dev"], refused)
            deadline = time.monotonic() + RECOVERY
            while session.get(server.url + "/ready").status_code != 200:
                assert time.monotonic() < deadline, "/ready did not recover"
    finally:
        proxy.close()
    log = server.log()
    assert "storage unavailable" in log or "cannot connect" in log
    assert not any(key in log for key in keys.values())
    assert stored_once(url, first["eid"], refused["eid"])


def test_dropped_connections_are_replaced(postgres_database: RunDatabase) -> None:
    url = postgres_database.new_schema()
    keys = create_keys(url)
    with running_server(url, retry_after_seconds=7) as server, requests.Session() as session:
        assert post(session, server, keys["dev"], event()).status_code == 200
        with postgres_database.connect(url) as admin:
            dropped = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = 'datacoral'"
                " AND pid <> pg_backend_pid()"
            ).fetchone()
        assert dropped is not None and dropped[0] >= 2  # the pool's and the listener's
        again = event()
        until_stored(session, server, keys["dev"], again)
        deadline = time.monotonic() + RECOVERY
        while session.get(server.url + "/ready").status_code != 200:
            assert time.monotonic() < deadline, "/ready did not recover"
    assert stored_once(url, again["eid"])


def test_a_lock_held_too_long_gives_503_then_recovers(postgres_database: RunDatabase) -> None:
    url = postgres_database.new_schema()
    keys = create_keys(url)
    with (
        running_server(url, storage_busy_timeout_seconds=0.2, retry_after_seconds=7) as server,
        requests.Session() as session,
    ):
        assert post(session, server, keys["dev"], event()).status_code == 200
        holder = postgres_database.connect(url)
        try:
            holder.execute("BEGIN")
            holder.execute("LOCK TABLE good_events IN EXCLUSIVE MODE")
            refused = event()
            response = post(session, server, keys["dev"], refused)
            assert (response.status_code, response.headers["Retry-After"]) == (503, "7")
            assert session.get(server.url + "/health").status_code == 200
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        until_stored(session, server, keys["dev"], refused)
    assert "storage unavailable" in server.log()


def test_a_database_that_does_not_exist_fails_the_start(postgres_database: RunDatabase) -> None:
    missing = DatabaseURL(postgres_database.url.replace(postgres_database.name, "no_such_db_x"))
    with (
        pytest.raises(AssertionError, match=r"did not start \(exit code 1\)") as failure,
        running_server(missing, startup_timeout=30),
    ):
        pass
    assert "there is no database 'no_such_db_x'" in str(failure.value)
    assert "Traceback" not in str(failure.value)
