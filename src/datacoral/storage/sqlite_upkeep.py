"""Upkeep beside the writer: key last-used marks and the WAL checkpoint thread."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable

#: WAL pages after which a commit checkpoints (SQLite's default is 1000). The
#: :class:`Checkpointer` has copied almost all of them by then.
WRITER_CHECKPOINT_PAGES = 4096
#: Seconds between the checkpointer's passes.
CHECKPOINT_INTERVAL = 0.2

log = logging.getLogger("datacoral.storage")


class KeyUsage:
    """Last-used times of API keys, gathered in memory and written in batches.

    Marking is a dict store (any thread); the writer takes the marks at most once
    per ``interval`` seconds, so a busy endpoint never writes once per request.
    """

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._lock = threading.Lock()
        self._marks: dict[str, int] = {}
        self._last_taken = time.monotonic()

    def mark(self, key_id: str, when_ms: int) -> None:
        with self._lock:
            self._marks[key_id] = when_ms

    def take(self, *, force: bool = False) -> dict[str, int]:
        """The marks to write now (empty unless due or ``force``)."""
        now = time.monotonic()
        with self._lock:
            if not self._marks or (not force and now - self._last_taken < self._interval):
                return {}
            marks, self._marks = self._marks, {}
            self._last_taken = now
            return marks

    def put_back(self, marks: dict[str, int]) -> None:
        """Return marks whose write failed, keeping any newer ones."""
        with self._lock:
            for key_id, when in marks.items():
                if self._marks.get(key_id, 0) < when:
                    self._marks[key_id] = when


class Checkpointer:
    """Copies the WAL back into the database file on its own thread and connection.

    A commit that reaches the autocheckpoint threshold copies the WAL itself and
    answers only afterwards; done here, in the background (a PASSIVE checkpoint
    runs alongside the writer), commits seldom wait, and pages written by several
    transactions meanwhile are copied once. The writer's own autocheckpoint still
    runs at :data:`WRITER_CHECKPOINT_PAGES`: it finishes the little left over,
    which lets the WAL start over from its beginning, so its size stays bounded.
    """

    def __init__(
        self, connect: Callable[[], sqlite3.Connection], interval: float = CHECKPOINT_INTERVAL
    ) -> None:
        self._connect = connect
        self._interval = interval
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="datacoral-checkpointer", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while not self._stopping.wait(self._interval):
                try:
                    if conn is None:
                        conn = self._connect()
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:
                    # Commits checkpoint by themselves meanwhile; try again later.
                    log.debug("background checkpoint failed: %s", exc)
                    if conn is not None:
                        conn.close()
                        conn = None
        finally:
            if conn is not None:
                conn.close()
