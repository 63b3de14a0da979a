"""The servers under load: ``datacoral serve`` over a fresh SQLite file, and the ceiling.

Each runs as a subprocess on 127.0.0.1 with ``--port 0``; its ``listening on``
line gives the URL. Leaving the ``with`` block sends SIGTERM and waits (killing
only after a deadline), so a benchmark never leaves a server behind.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from datacoral.storage.sqlite import SQLiteStorage

HERE = Path(__file__).resolve().parent
LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")
ENVIRONMENT = "dev"


class ServerFailed(RuntimeError):
    """A server did not start, or did not stop cleanly."""


@dataclass
class Server:
    """A started server process and what it printed."""

    name: str
    process: subprocess.Popen[str]
    url: str = ""
    lines: list[str] = field(default_factory=list)

    def log(self) -> str:
        return "\n".join(self.lines)


def create_database(path: Path) -> str:
    """A new SQLite endpoint database with a ``dev`` key; returns the key."""
    with SQLiteStorage(path) as storage:
        _, key = storage.create_key(ENVIRONMENT, "benchmark")
    return key


def stored_events(path: Path) -> int:
    """Good events in the database (their rowids only grow, so the last one counts them)."""
    with _reader(path) as conn:
        (count,) = conn.execute("SELECT coalesce(max(rowid), 0) FROM good_events").fetchone()
    return int(count)


def bad_rows(path: Path) -> int:
    with _reader(path) as conn:
        (count,) = conn.execute("SELECT count(*) FROM bad_rows").fetchone()
    return int(count)


def settled_events(path: Path, timeout: float = 10.0) -> int:
    """The event count once commits in flight when the load stopped have landed."""
    deadline = time.monotonic() + timeout
    last = stored_events(path)
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = stored_events(path)
        if now == last:
            return now
        last = now
    return last


def database_bytes(path: Path) -> int:
    """The database file, its WAL and shared-memory index together."""
    total = 0
    for suffix in ("", "-wal", "-shm"):
        candidate = Path(str(path) + suffix)
        if candidate.exists():
            total += candidate.stat().st_size
    return total


@contextmanager
def _reader(path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        yield conn
    finally:
        conn.close()


@contextmanager
def datacoral_serve(
    db: Path, *, options: Sequence[str] = (), startup_timeout: float = 30
) -> Iterator[Server]:
    """``datacoral serve --port 0 --db DB [OPTIONS]`` until the block ends."""
    command = [sys.executable, "-m", "datacoral", "serve", "--port", "0", "--db", str(db)]
    command += options
    with _server("datacoral serve", command, startup_timeout) as server:
        yield server


@contextmanager
def ceiling(*, startup_timeout: float = 30) -> Iterator[Server]:
    """The bare ASGI app (``_ceiling.py``) until the block ends."""
    command = [sys.executable, str(HERE / "_ceiling.py")]
    with _server("ceiling", command, startup_timeout) as server:
        yield server


@contextmanager
def _server(name: str, command: list[str], startup_timeout: float) -> Iterator[Server]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATACORAL_")}
    env["PYTHONUNBUFFERED"] = "1"
    env["DATACORAL_LOG_LEVEL"] = "warning"
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    server = Server(name, process)
    started = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            server.lines.append(line.rstrip("\n"))
            found = LISTENING.search(line)
            if found and not server.url:
                server.url = found.group(1)
                started.set()
        started.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        if not started.wait(startup_timeout) or not server.url:
            raise ServerFailed(f"{name} did not start:\n{server.log()}")
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        reader.join(5)
