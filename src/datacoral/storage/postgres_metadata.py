"""Every collector's copy of the environments, origins and keys, kept fresh.

Key look-ups run on the collector's event loop; a network round trip there
would stall every request whenever the database is slow. So each collector
keeps the (small) tables in memory and a thread keeps the copy fresh: it
LISTENs for the notification every change sends (see
:mod:`.postgres_migrations`) and reloads at once; between notifications it
polls the change counter every :data:`POLL_SECONDS`, which also proves the
database still answers. A revoked key or a removed origin thus reaches every
collector within milliseconds, and within :data:`POLL_SECONDS` should a
notification be lost. A copy not confirmed for :data:`MAX_AGE_SECONDS` is not
used: look-ups then fail as storage unavailable (503), rather than trust a key
that may have been revoked meanwhile.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from datacoral.storage import postgres_admin as admin
from datacoral.storage.base import EnvironmentRecord, KeyRecord, StorageUnavailable
from datacoral.storage.postgres_admin import Connection
from datacoral.storage.postgres_migrations import METADATA_CHANNEL

POLL_SECONDS = 0.25
MAX_AGE_SECONDS = 2.0
#: The longest the thread waits without looking whether it should stop.
_SLICE_SECONDS = 0.05

log = logging.getLogger("datacoral.storage")


@dataclass(frozen=True, slots=True)
class Metadata:
    """One consistent-enough copy: read after its ``version``, so never older than it."""

    version: int
    keys: dict[bytes, KeyRecord]
    environments: list[EnvironmentRecord]


def load(conn: Connection) -> Metadata:
    """Read the counter first, then the tables: a change after the counter is seen
    in the tables and, at the next poll, in the counter (one reload too many at most)."""
    return Metadata(_version(conn), admin.all_keys(conn), admin.environments(conn))


def _version(conn: Connection) -> int:
    row = conn.execute("SELECT version FROM metadata_version").fetchone()
    return int(row[0]) if row is not None else 0


class MetadataWatcher:
    """Holds the current :class:`Metadata`; its thread owns one listening connection."""

    def __init__(
        self,
        connect: Callable[[], Connection],
        *,
        poll_interval: float = POLL_SECONDS,
        max_age: float = MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connect = connect
        self._poll_interval = poll_interval
        self._max_age = max_age
        self._clock = clock
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="datacoral-metadata", daemon=True)
        self._conn: Connection | None = None
        self._schema = ""
        self._metadata: Metadata | None = None
        self._confirmed = 0.0
        #: False from a failed poll until the next successful one.
        self.healthy = False

    def start(self) -> None:
        """Load the first copy (errors go to the caller), then keep it fresh."""
        self._reconnect()
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._close()

    def current(self) -> Metadata:
        """The copy, if confirmed recently enough; else StorageUnavailable."""
        metadata = self._metadata
        age = self._clock() - self._confirmed
        if metadata is None or age > self._max_age:
            raise StorageUnavailable(
                f"storage unavailable: no word from the database for {age:.1f} s"
            )
        return metadata

    def refresh(self, conn: Connection) -> None:
        """Reload now, through ``conn`` (after a change made by this process)."""
        self._set(load(conn))

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                if self._conn is None:
                    self._reconnect()
                else:
                    self._watch(self._conn)
            except psycopg.Error as exc:
                if self.healthy:
                    log.warning("lost the database's change notifications, retrying: %s", exc)
                self.healthy = False
                self._close()
                self._stopping.wait(self._poll_interval)

    def _reconnect(self) -> None:
        conn = self._connect()
        try:
            row = conn.execute("SELECT current_schema()").fetchone()
            self._schema = str(row[0]) if row is not None else ""
            conn.execute(f"LISTEN {METADATA_CHANNEL}")
            self._set(load(conn))
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _watch(self, conn: Connection) -> None:
        """Wait one poll interval for a notification; reload on one, else poll. The wait
        is cut in slices, so that :meth:`stop` ends it soon."""
        deadline = time.monotonic() + self._poll_interval
        changed = False
        while not changed and not self._stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            for notice in conn.notifies(timeout=min(_SLICE_SECONDS, remaining), stop_after=1):
                changed = changed or notice.payload == self._schema
        if self._stopping.is_set():
            return
        if changed:
            for _ in conn.notifies(timeout=0):  # the same change may notify twice
                pass
            self._set(load(conn))
            return
        metadata = self._metadata
        if metadata is None or _version(conn) != metadata.version:
            self._set(load(conn))
        else:
            self._confirm()

    def _set(self, metadata: Metadata) -> None:
        self._metadata = metadata
        self._confirm()

    def _confirm(self) -> None:
        self._confirmed = self._clock()
        self.healthy = True

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                conn.close()
