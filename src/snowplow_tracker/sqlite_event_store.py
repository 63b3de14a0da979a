"""A durable event queue in one SQLite file: events survive crashes and restarts.

``add_event`` commits before it returns, so an event whose ``track()`` returned is
on disk. ``get_events_batch`` *claims* events (marks them with this process's id);
``cleanup`` deletes them after a 2xx or releases them for a retry. Claims of a
process that died are released when another process opens the file, and any
claim older than ``claim_timeout`` is taken over, so nothing stays stuck. Several
processes may share one file: a claim is one atomic UPDATE, so no event is sent
twice by two of them.

Durability: WAL with ``synchronous=NORMAL`` by default, which keeps every
committed event through a process crash (SIGKILL, OOM kill); pass
``synchronous="FULL"`` to also survive power loss, at the cost of an fsync per event.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from snowplow_tracker.json_text import dumps
from snowplow_tracker.typing import PayloadDict, PayloadDictList

logger = logging.getLogger("snowplow_tracker")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queued_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    payload TEXT NOT NULL,
    added_at REAL NOT NULL,
    claimed_by INTEGER,
    claimed_at REAL
);
CREATE INDEX IF NOT EXISTS queued_events_claims ON queued_events (claimed_by, id);
"""


class SQLiteEventStore:
    """An :class:`~snowplow_tracker.EventStore` kept in a SQLite file.

    ``max_events`` bounds the queue (``add_event`` returns False beyond it, and
    the emitter reports the drop as ``queue_full``). Age is bounded by the
    emitter's ``max_event_age`` (one hour by default: raise it for a durable
    queue that should outlast long outages); older events are given up and
    reported as ``expired`` when claimed.
    """

    supports_batch_limit = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_events: int = 100_000,
        claim_timeout: float = 120.0,
        synchronous: str = "NORMAL",
    ) -> None:
        if max_events < 1:
            raise ValueError(f"max_events must be at least 1, got {max_events}")
        if synchronous.upper() not in ("NORMAL", "FULL"):
            raise ValueError("synchronous must be 'NORMAL' or 'FULL'")
        self.path = Path(path)
        self.max_events = max_events
        self.claim_timeout = claim_timeout
        self.synchronous = synchronous.upper()
        self._claimed: dict[int, int] = {}
        self._open()

    # -- connection ------------------------------------------------------------------------

    def _open(self) -> None:
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._conn = sqlite3.connect(
            self.path, timeout=30.0, isolation_level=None, check_same_thread=False
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(f"PRAGMA synchronous={self.synchronous}")
        self._conn.executescript(_SCHEMA)
        self._release_claims_of_dead_processes()

    def _release_claims_of_dead_processes(self) -> None:
        owners = [row[0] for row in self._conn.execute(
            "SELECT DISTINCT claimed_by FROM queued_events WHERE claimed_by IS NOT NULL"
        )]  # fmt: skip
        dead = [pid for pid in owners if pid != self._pid and not _alive(pid)]
        for pid in dead:
            self._conn.execute(
                "UPDATE queued_events SET claimed_by = NULL, claimed_at = NULL "
                "WHERE claimed_by = ?",
                (pid,),
            )
        if dead:
            logger.info("released events claimed by ended processes %s", dead)

    def reset_after_fork(self) -> None:
        """A forked child opens its own connection (SQLite connections cannot cross fork)."""
        self._claimed = {}
        self._open()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- the EventStore protocol -----------------------------------------------------------

    def add_event(self, payload: PayloadDict) -> bool:
        # Surrogate-safe: a lone surrogate is written as a \uXXXX escape, never an error.
        text = dumps(payload).decode("utf-8")
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                if (
                    self._approximate_size(conn) >= self.max_events
                    and self._exact_size(conn) >= self.max_events
                ):
                    conn.execute("ROLLBACK")
                    return False
                conn.execute(
                    "INSERT INTO queued_events (payload, added_at) VALUES (?, ?)",
                    (text, time.time()),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return True

    def get_events_batch(self, max_events: int | None = None) -> PayloadDictList:
        limit = max_events if max_events is not None else self.max_events
        now = time.time()
        with self._lock:
            rows = self._conn.execute(
                "UPDATE queued_events SET claimed_by = ?, claimed_at = ? WHERE id IN ("
                " SELECT id FROM queued_events"
                " WHERE claimed_by IS NULL OR claimed_at < ?"
                " ORDER BY id LIMIT ?) RETURNING id, payload",
                (self._pid, now, now - self.claim_timeout, limit),
            ).fetchall()
        rows.sort()
        batch: PayloadDictList = []
        for row_id, text in rows:
            event: dict[str, Any] = json.loads(text)
            self._claimed[id(event)] = row_id
            batch.append(event)
        return batch

    def cleanup(self, batch: PayloadDictList, need_retry: bool) -> None:
        ids = [self._claimed.pop(id(event)) for event in batch if id(event) in self._claimed]
        if not ids:
            return
        if need_retry:
            sql = "UPDATE queued_events SET claimed_by = NULL, claimed_at = NULL WHERE id = ?"
        else:
            sql = "DELETE FROM queued_events WHERE id = ?"
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(sql, [(i,) for i in ids])
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def size(self) -> int:
        """Events waiting and not claimed by anyone."""
        with self._lock:
            row = self._conn.execute(
                "SELECT count(*) FROM queued_events WHERE claimed_by IS NULL"
            ).fetchone()
        return int(row[0])

    def total(self) -> int:
        """Every event in the file, claimed or not."""
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM queued_events").fetchone()[0])

    @staticmethod
    def _exact_size(conn: sqlite3.Connection) -> int:
        return int(conn.execute("SELECT count(*) FROM queued_events").fetchone()[0])

    @staticmethod
    def _approximate_size(conn: sqlite3.Connection) -> int:
        # An O(1) upper bound on the row count: ids only grow, rows leave from anywhere.
        low, high = conn.execute("SELECT min(id), max(id) FROM queued_events").fetchone()
        return 0 if low is None else int(high) - int(low) + 1


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
