"""The embedded store: one SQLite file holding environments, keys and events.

Durability. The file is in WAL mode with ``synchronous=FULL`` by default: every
commit fsyncs the WAL, so a 200 from the endpoint means the events survive a
process SIGKILL *and* an OS crash or power loss. ``synchronous="NORMAL"`` (a
constructor option) skips that fsync; commits then survive a killed process but
the last ones may be lost on power loss. FULL is affordable because of group
commit: the fsync is paid once per transaction, and under load one transaction
carries many requests.

Event ids are stored as the UUID's 16 bytes, not its 36-character text: the
unique (environment, event id) index is what dominates insert cost, and with a
16-byte key it is markedly cheaper (reference/performance.md: ~50k against
~35k events/s). Ids are read back in canonical lowercase form.

Writes go through one writer thread (:mod:`.group_commit`, :mod:`.sqlite_writer`)
that owns its connection. Everything else (key look-ups, admin operations, CLI
queries) uses a separate side connection guarded by a lock, so reads never wait
for the writer's transaction (WAL readers do not block on the writer). The
inspection API (admin-token look-ups, its queries and its reset) has a connection
and a lock of its own: a long query there never holds up a key look-up, which the
collector makes on its event loop.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Literal, TypeVar

from datacoral.admin.environments import DEFAULT_VALIDATION, ValidationMode
from datacoral.admin.rate_limits import RateLimit
from datacoral.storage import (
    migrations,
    sqlite_admin,
    sqlite_inspection,
    sqlite_queries,
    sqlite_tokens,
)
from datacoral.storage.base import (
    AdminTokenInfo,
    AdminTokenRecord,
    BadRow,
    CommitResult,
    EnvironmentRecord,
    EventCounts,
    EventQuery,
    GoodEvent,
    KeyInfo,
    KeyRecord,
    StorageError,
    StorageUnavailable,
    StoredBadRow,
    StoredEvent,
)
from datacoral.storage.group_commit import GroupCommitStats, GroupCommitter
from datacoral.storage.sqlite_upkeep import KeyUsage
from datacoral.storage.sqlite_writer import SQLiteEventWriter, is_unavailability

T = TypeVar("T")
Synchronous = Literal["FULL", "NORMAL"]


class SQLiteStorage:
    """The :class:`~datacoral.storage.base.Storage` backend for one SQLite file.

    The admin and query methods work without :meth:`open` (the CLI uses them
    that way); :meth:`commit` needs the writer that :meth:`open` starts.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Synchronous = "FULL",
        busy_timeout: float = 2.0,
        key_usage_interval: float = 5.0,
        ready_probe_interval: float = 1.0,
    ) -> None:
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be 'FULL' or 'NORMAL', got {synchronous!r}")
        self.path = Path(path)
        self._synchronous = synchronous
        self._busy_timeout = busy_timeout
        self._ready_probe_interval = ready_probe_interval
        self._usage = KeyUsage(key_usage_interval)
        self._idle_interval = min(1.0, key_usage_interval)
        self._lifecycle = threading.Lock()
        self._side_lock = threading.Lock()
        self._side_conn: sqlite3.Connection | None = None
        self._inspection_lock = threading.Lock()
        self._inspection_conn: sqlite3.Connection | None = None
        self._writer: SQLiteEventWriter | None = None
        self._committer: GroupCommitter | None = None
        self._last_probe = 0.0

    def __repr__(self) -> str:
        return f"SQLiteStorage({str(self.path)!r}, synchronous={self._synchronous!r})"

    # --- lifecycle -----------------------------------------------------------

    def open(self) -> None:
        """Create or migrate the schema and start the writer thread; idempotent."""
        with self._lifecycle:
            if self._committer is not None:
                return
            self._call(lambda conn: None)  # opens the side connection and migrates
            writer = SQLiteEventWriter(self._connect, self._usage)
            committer = GroupCommitter(
                writer.write_batch,
                idle=writer.write_key_usage,
                idle_interval=self._idle_interval,
            )
            committer.start()
            self._writer, self._committer = writer, committer

    def close(self) -> None:
        """Write every pending commit and key last-used time, then release the file."""
        with self._lifecycle:
            committer, writer = self._committer, self._writer
            self._committer = self._writer = None
            if committer is not None and writer is not None:
                committer.stop()
                try:
                    writer.write_key_usage(force=True)
                except StorageError:
                    pass  # last-used times are advisory; never fail a shutdown on them
                finally:
                    writer.close()
            with self._inspection_lock:
                if self._inspection_conn is not None:
                    self._inspection_conn.close()
                    self._inspection_conn = None
            with self._side_lock:
                if self._side_conn is not None:
                    self._side_conn.close()
                    self._side_conn = None

    def exists(self) -> bool:
        """Whether the database file exists (the CLI creates none by mistake)."""
        return self.path.exists()

    def __enter__(self) -> SQLiteStorage:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- the collector's path ------------------------------------------------

    async def commit(self, good: list[GoodEvent], bad: list[BadRow]) -> CommitResult:
        """Store one request's records durably, sharing the transaction with others.

        Raises :class:`StorageUnavailable` when the transaction failed (nothing of
        this call is stored); the writer keeps going and retries with later calls.
        """
        committer = self._committer
        if committer is None:
            raise StorageError("storage is not open")
        return await committer.commit(good, bad)

    def lookup_key(self, key_hash: bytes) -> KeyRecord | None:
        record = self._call(lambda conn: sqlite_admin.lookup_key(conn, key_hash))
        if record is not None and not record.revoked:
            self.touch_key(record.key_id)
        return record

    def touch_key(self, key_id: str) -> None:
        """Note that a key was used now; written with a later commit, not at once."""
        self._usage.mark(key_id, sqlite_admin.now_ms())

    def is_ready(self) -> bool:
        """False when closed, or after a failed transaction until a probe succeeds."""
        writer = self._writer
        if writer is None:
            return False
        if writer.last_ok is not False:
            return True
        now = time.monotonic()
        if now - self._last_probe < self._ready_probe_interval:
            return False
        self._last_probe = now
        if self._probe_write_lock():
            writer.last_ok = None  # unknown again: the next commit decides
            return True
        return False

    def stats(self) -> GroupCommitStats:
        """Writer counters (commits, transactions, ...) since :meth:`open`."""
        if self._committer is None:
            return GroupCommitStats(
                commits=0, transactions=0, failed_transactions=0, largest_group=0
            )
        return self._committer.stats()

    # --- environments and keys -----------------------------------------------

    def environments(self) -> list[EnvironmentRecord]:
        return self._call(sqlite_admin.environments)

    def get_environment(self, name: str) -> EnvironmentRecord | None:
        return self._call(lambda conn: sqlite_admin.get_environment(conn, name))

    def create_environment(
        self,
        name: str,
        origins: Sequence[str] = (),
        validation: ValidationMode = DEFAULT_VALIDATION,
    ) -> EnvironmentRecord:
        """A new environment; ValueError for a bad name or origin, AdminError if it exists."""
        return self._call(
            lambda conn: sqlite_admin.create_environment(conn, name, origins, validation)
        )

    def set_validation(self, name: str, validation: ValidationMode) -> EnvironmentRecord:
        """Set the environment's schema validation mode; running collectors poll for it."""
        return self._call(lambda conn: sqlite_admin.set_validation(conn, name, validation))

    def set_environment_rate_limit(self, name: str, limit: RateLimit | None) -> EnvironmentRecord:
        """Set (None: remove) the environment's rate limit; running collectors poll for it."""
        return self._call(lambda conn: sqlite_admin.set_environment_rate_limit(conn, name, limit))

    def delete_environment(self, name: str, *, force: bool = False) -> None:
        """Remove an environment; refused while it has keys or events unless ``force``."""
        self._call(lambda conn: sqlite_admin.delete_environment(conn, name, force=force))

    def add_origin(self, environment: str, origin: str) -> EnvironmentRecord:
        """Allow a browser origin (admin/origins.py: ValueError when invalid), normalised."""
        return self._call(lambda conn: sqlite_admin.add_origin(conn, environment, origin))

    def remove_origin(self, environment: str, origin: str) -> EnvironmentRecord:
        return self._call(lambda conn: sqlite_admin.remove_origin(conn, environment, origin))

    def create_key(
        self, environment: str, label: str | None = None, *, rate_limit: RateLimit | None = None
    ) -> tuple[KeyInfo, str]:
        """A new key for ``environment``: its info and the plaintext, returned only here."""
        return self._call(
            lambda conn: sqlite_admin.create_key(conn, environment, label, rate_limit=rate_limit)
        )

    def list_keys(self, environment: str | None = None) -> list[KeyInfo]:
        return self._call(lambda conn: sqlite_admin.list_keys(conn, environment))

    def revoke_key(self, key_id: str) -> KeyInfo:
        return self._call(lambda conn: sqlite_admin.revoke_key(conn, key_id))

    def set_key_rate_limit(self, key_id: str, limit: RateLimit | None) -> KeyInfo:
        """Set (None: remove) the key's rate limit; running collectors poll for it."""
        return self._call(lambda conn: sqlite_admin.set_key_rate_limit(conn, key_id, limit))

    # --- looking at events ---------------------------------------------------

    def count_events(self, environment: str | None = None) -> list[EventCounts]:
        return self._call(lambda conn: sqlite_queries.count_events(conn, environment))

    def latest_events(self, environment: str, limit: int = 10) -> list[StoredEvent]:
        return self._call(lambda conn: sqlite_queries.latest_events(conn, environment, limit))

    def events_after(self, environment: str, position: int, limit: int = 1000) -> list[StoredEvent]:
        return self._call(
            lambda conn: sqlite_queries.events_after(conn, environment, position, limit)
        )

    def latest_bad_rows(self, environment: str, limit: int = 10) -> list[StoredBadRow]:
        return self._call(lambda conn: sqlite_queries.latest_bad_rows(conn, environment, limit))

    def bad_rows_after(
        self, environment: str, position: int, limit: int = 1000
    ) -> list[StoredBadRow]:
        return self._call(
            lambda conn: sqlite_queries.bad_rows_after(conn, environment, position, limit)
        )

    def find_events(self, event_id: str) -> list[StoredEvent]:
        """Every stored good event with this id (one per environment at most)."""
        return self._call(lambda conn: sqlite_queries.find_events(conn, event_id))

    def iter_events(
        self,
        environment: str,
        *,
        since: int | None = None,
        until: int | None = None,
        page_size: int = 1000,
    ) -> Generator[list[StoredEvent], None, None]:
        """Good events stamped in [since, until), in pages, read on a connection of their
        own from one snapshot; close the iterator (or exhaust it) to release it."""
        self._call(lambda conn: sqlite_admin.require_environment(conn, environment))
        return self._read_pages(
            lambda conn: sqlite_queries.event_pages(conn, environment, since, until, page_size)
        )

    def iter_bad_rows(
        self,
        environment: str,
        *,
        since: int | None = None,
        until: int | None = None,
        page_size: int = 1000,
    ) -> Generator[list[StoredBadRow], None, None]:
        """Bad rows received in [since, until), as :meth:`iter_events` reads events."""
        self._call(lambda conn: sqlite_admin.require_environment(conn, environment))
        return self._read_pages(
            lambda conn: sqlite_queries.bad_row_pages(conn, environment, since, until, page_size)
        )

    def count_in_range(
        self,
        environment: str,
        *,
        since: int | None = None,
        until: int | None = None,
        bad: bool = False,
    ) -> int:
        return self._call(
            lambda conn: sqlite_queries.count_in_range(conn, environment, since, until, bad=bad)
        )

    def delete_events(self, environment: str) -> None:
        """Delete the environment's good events, bad rows and duplicate count (a test
        fixture's reset); the environment, its keys, tokens and origins stay."""
        self._inspect(lambda conn: sqlite_queries.delete_events(conn, environment))

    # --- admin tokens and the inspection API ----------------------------------

    def create_admin_token(
        self, environment: str, label: str | None = None
    ) -> tuple[AdminTokenInfo, str]:
        """A new admin token for ``environment``: its info and the plaintext, returned
        only here."""
        return self._call(lambda conn: sqlite_tokens.create_admin_token(conn, environment, label))

    def list_admin_tokens(self, environment: str | None = None) -> list[AdminTokenInfo]:
        return self._call(lambda conn: sqlite_tokens.list_admin_tokens(conn, environment))

    def revoke_admin_token(self, token_id: str) -> AdminTokenInfo:
        return self._call(lambda conn: sqlite_tokens.revoke_admin_token(conn, token_id))

    def lookup_admin_token(self, token_hash: bytes) -> AdminTokenRecord | None:
        return self._inspect(lambda conn: sqlite_tokens.lookup_admin_token(conn, token_hash))

    def environment_counts(self, environment: str) -> EventCounts:
        return self._inspect(lambda conn: sqlite_inspection.environment_counts(conn, environment))

    def query_events(self, environment: str, query: EventQuery) -> list[StoredEvent]:
        """The good events of ``environment`` that ``query`` picks, newest first."""
        return self._inspect(lambda conn: sqlite_inspection.query_events(conn, environment, query))

    def recent_bad_rows(self, environment: str, limit: int) -> list[StoredBadRow]:
        """The ``limit`` newest bad rows of ``environment``, newest first."""
        return self._inspect(
            lambda conn: sqlite_inspection.recent_bad_rows(conn, environment, limit)
        )

    # --- connections ---------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        # Autocommit mode: every transaction is an explicit BEGIN ... COMMIT.
        conn = sqlite3.connect(
            self.path,
            timeout=self._busy_timeout,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        except BaseException:
            conn.close()
            raise
        return conn

    def _call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` on the side connection, mapping storage failures."""
        try:
            with self._side() as conn:
                return work(conn)
        except sqlite3.Error as exc:
            if is_unavailability(exc):
                raise StorageUnavailable(f"storage unavailable: {exc}") from exc
            raise

    def _inspect(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` on the inspection connection (made once the file is migrated),
        mapping storage failures as :meth:`_call` does."""
        try:
            with self._inspection_lock:
                if self._inspection_conn is None:
                    self._call(lambda conn: None)  # creates or migrates the file first
                    self._inspection_conn = self._connect()
                return work(self._inspection_conn)
        except sqlite3.Error as exc:
            if is_unavailability(exc):
                raise StorageUnavailable(f"storage unavailable: {exc}") from exc
            raise

    def _read_pages(
        self, read: Callable[[sqlite3.Connection], Iterator[list[T]]]
    ) -> Generator[list[T], None, None]:
        """The pages ``read`` yields from a read-only connection of their own (the side
        connection stays free between pages), mapping storage failures as :meth:`_call`."""
        conn = self._connect()
        try:
            conn.execute("PRAGMA query_only = ON")
            yield from read(conn)
        except sqlite3.Error as exc:
            if is_unavailability(exc):
                raise StorageUnavailable(f"storage unavailable: {exc}") from exc
            raise
        finally:
            conn.close()

    @contextmanager
    def _side(self) -> Iterator[sqlite3.Connection]:
        with self._side_lock:
            if self._side_conn is None:
                conn = self._connect()
                try:
                    # WAL is a property of the file; setting it on a WAL file is a no-op.
                    conn.execute("PRAGMA journal_mode = WAL")
                    migrations.migrate(conn)
                except BaseException:
                    conn.close()
                    raise
                self._side_conn = conn
            yield self._side_conn

    def _probe_write_lock(self) -> bool:
        """Whether the write lock can be taken now (without waiting long)."""
        try:
            with self._side() as conn:
                conn.execute("PRAGMA busy_timeout = 50")
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    conn.execute("ROLLBACK")
                finally:
                    conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000):d}")
        except sqlite3.Error:
            return False
        return True
