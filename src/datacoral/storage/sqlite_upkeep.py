"""Upkeep beside the SQLite writer: the WAL checkpoint thread (and the key last-used
marks, :mod:`.key_usage`, which every backend shares)."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable

from datacoral.storage.key_usage import KeyUsage as KeyUsage

#: WAL pages after which a commit checkpoints (SQLite's default is 1000). The
#: :class:`Checkpointer` has copied almost all of them by then.
WRITER_CHECKPOINT_PAGES = 4096
#: Seconds between the checkpointer's passes.
CHECKPOINT_INTERVAL = 0.2

log = logging.getLogger("datacoral.storage")


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
