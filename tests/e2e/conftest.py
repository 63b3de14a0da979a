"""End-to-end fixtures: our tracker against a real ``datacoral serve`` process."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from datacoral.storage.sqlite import SQLiteStorage
from tests.support.server import RunningServer, running_server


@dataclass
class Endpoint:
    """A running endpoint with a database and a dev key."""

    server: RunningServer | None
    db: Path
    key: str

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    def stored_labels(self, environment: str = "dev") -> list[str]:
        """``se_la`` of every good event in ``environment`` (one entry per stored row)."""
        with sqlite3.connect(self.db) as conn:
            rows = conn.execute(
                "SELECT se_label FROM good_events WHERE environment = ?", (environment,)
            ).fetchall()
        return [row[0] for row in rows]

    def counts(self, environment: str = "dev") -> tuple[int, int, int]:
        for counts in SQLiteStorage(self.db).count_events(environment):
            return counts.good, counts.bad, counts.duplicates
        return 0, 0, 0


def new_database(tmp_path: Path) -> tuple[Path, str]:
    db = tmp_path / "events.sqlite"
    _, key = SQLiteStorage(db).create_key("dev", label="e2e")
    return db, key


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[Endpoint]:
    db, key = new_database(tmp_path)
    with running_server(db) as server:
        yield Endpoint(server, db, key)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server_on_port(db: Path, port: int) -> Iterator[RunningServer]:
    """A ``datacoral serve`` on a fixed port (to stop and start it again on the same URL)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "datacoral", "serve", "--port", str(port), "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    server = RunningServer(process)
    try:
        server.wait_listening(30)
        yield server
    finally:
        if process.poll() is None:
            assert server.terminate() == 0, server.log()
        else:
            server._join_readers()
