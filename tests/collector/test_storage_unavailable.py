"""Storage down: 503 with Retry-After (never 500), then recovery without a restart."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
import requests

from tests.collector.builders import TP2, envelope, event, headers
from tests.collector.conftest import create_keys
from tests.support.server import running_server


@pytest.mark.sqlite_only  # a SQLite lock; PostgreSQL's cases: test_postgres_unavailable.py
def test_locked_database_gives_503_then_recovers(db_path: Path) -> None:
    keys = create_keys(db_path)
    with (
        running_server(db_path, storage_busy_timeout_seconds=0.2, retry_after_seconds=7) as server,
        requests.Session() as session,
    ):
        url, sent = server.url + TP2, headers(keys["dev"])
        assert session.post(url, json=envelope(event()), headers=sent).status_code == 200

        other = sqlite3.connect(db_path, isolation_level=None)
        try:
            other.execute("BEGIN EXCLUSIVE")
            refused = event()
            response = session.post(url, json=envelope(refused), headers=sent)
            assert response.status_code == 503
            assert response.headers["Retry-After"] == "7"
            assert response.text.startswith("503 storage unavailable")
            pixel = session.get(server.url + "/i", params=event(p="web"), headers=sent)
            assert (pixel.status_code, pixel.headers["Retry-After"]) == (503, "7")
            ready = session.get(server.url + "/ready")
            assert (ready.status_code, ready.headers["Retry-After"]) == (503, "7")
            assert session.get(server.url + "/health").status_code == 200
        finally:
            other.execute("ROLLBACK")
            other.close()

        deadline = time.monotonic() + 10
        while (
            status := session.post(url, json=envelope(refused), headers=sent).status_code
        ) != 200:
            assert status == 503
            assert time.monotonic() < deadline, "the endpoint did not recover"
        assert session.get(server.url + "/ready").status_code == 200
    log = server.log()  # after the stop: every line has been read
    assert "storage unavailable" in log
    assert keys["dev"] not in log


def test_unopenable_database_fails_the_start(tmp_path: Path) -> None:
    # SQLite only (no backend fixture); PostgreSQL's: test_postgres_unavailable.py
    garbage = tmp_path / "not-a-database.sqlite"
    garbage.write_bytes(b"this is not SQLite " * 500)
    # A file that is not a database is bad input (exit 1), said in one line before the
    # server starts.
    with (
        pytest.raises(AssertionError, match=r"did not start \(exit code 1\)") as failure,
        running_server(garbage, startup_timeout=15),
    ):
        pass
    assert "is not a SQLite database" in str(failure.value)
    assert "Traceback" not in str(failure.value)
