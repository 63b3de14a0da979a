"""The shared store: one PostgreSQL database for every collector and the CLI.

Durability. A commit returns once PostgreSQL has committed the transaction,
with the server's ``synchronous_commit`` (``on`` by default: the WAL is flushed
on the primary, and on synchronous standbys when they are configured). A session
set to ``off`` would acknowledge commits that a crash can lose, so the writer
turns it back ``on`` for its own connections, with a warning.

Connections. A pool (psycopg_pool) lends connections to the group-commit writer
(:mod:`.postgres_writer`) and to the look-ups and probes of a running collector;
one more connection per collector listens for changes to environments, origins
and keys (:mod:`.postgres_metadata`), which look-ups are served from. A store
that is not opened (the CLI's) uses one plain connection, made when first
needed, so that a failure is reported with libpq's own reason. Every failure of
the database becomes :class:`StorageUnavailable` (the collector answers 503 and
keeps trying: a connection that failed is replaced by the pool) or, for a
database that cannot be used as named, :class:`StorageUnusable`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

import psycopg
from psycopg_pool import ConnectionPool

from datacoral.admin.environments import DEFAULT_VALIDATION, ValidationMode
from datacoral.admin.rate_limits import RateLimit
from datacoral.storage import postgres_admin as admin
from datacoral.storage import postgres_connections as connections
from datacoral.storage import postgres_inspection as inspection
from datacoral.storage import postgres_loads as loads
from datacoral.storage import postgres_queries as queries
from datacoral.storage import postgres_tokens as tokens
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
from datacoral.storage.key_usage import KeyUsage
from datacoral.storage.postgres_admin import Connection
from datacoral.storage.postgres_errors import failure, is_unavailability
from datacoral.storage.postgres_loads import LoadResult, StreamRecords
from datacoral.storage.postgres_metadata import POLL_SECONDS, MetadataWatcher
from datacoral.storage.postgres_migrations import migrate, schema_version
from datacoral.storage.postgres_writer import PostgresEventWriter
from datacoral.storage.target import DatabaseURL

T = TypeVar("T")
log = logging.getLogger("datacoral.storage")


class PostgresStorage:
    """The :class:`~datacoral.storage.base.AdminStorage` backend for one PostgreSQL schema.

    The admin and query methods work without :meth:`open` (the CLI uses them
    that way); :meth:`commit` needs the writer that :meth:`open` starts.
    """

    def __init__(
        self,
        url: DatabaseURL | str,
        *,
        busy_timeout: float = 2.0,
        key_usage_interval: float = 5.0,
        ready_probe_interval: float = 1.0,
        pool_size: int = 4,
        poll_interval: float = POLL_SECONDS,
    ) -> None:
        self.url = url if isinstance(url, DatabaseURL) else DatabaseURL(url)
        self._busy_timeout = busy_timeout
        self._ready_probe_interval = ready_probe_interval
        self._pool_size = pool_size
        self._poll_interval = poll_interval
        self._usage = KeyUsage(key_usage_interval)
        self._idle_interval = min(1.0, key_usage_interval)
        self._conninfo = connections.conninfo(self.url, busy_timeout)
        self._lifecycle = threading.Lock()
        self._side_lock = threading.Lock()
        self._side_conn: Connection | None = None
        self._migrated = False
        self._pool: ConnectionPool[Connection] | None = None
        self._watcher: MetadataWatcher | None = None
        self._writer: PostgresEventWriter | None = None
        self._committer: GroupCommitter | None = None
        self._last_probe = 0.0
        self._warned_synchronous = False

    def __repr__(self) -> str:
        return f"PostgresStorage({str(self.url)!r})"

    # --- lifecycle -----------------------------------------------------------

    def open(self) -> None:
        """Migrate, load environments and keys, open the pool and start the writer."""
        with self._lifecycle:
            if self._committer is not None:
                return
            try:
                self._call(lambda conn: None)  # connects and migrates, with libpq's reason
            finally:
                self._close_side()
            watcher = MetadataWatcher(self._connect, poll_interval=self._poll_interval)
            try:
                watcher.start()
            except psycopg.Error as exc:
                raise self._failure(exc) from exc
            pool = connections.pool(
                self._conninfo,
                size=self._pool_size,
                timeout=self._busy_timeout,
                configure=self._configure,
            )
            writer = PostgresEventWriter(self._borrow, self._usage)
            committer = GroupCommitter(
                writer.write_batch,
                idle=writer.write_key_usage,
                idle_interval=self._idle_interval,
            )
            committer.start()
            self._pool, self._watcher = pool, watcher
            self._writer, self._committer = writer, committer

    def close(self) -> None:
        """Write every pending commit and key last-used time, then disconnect."""
        with self._lifecycle:
            committer, writer = self._committer, self._writer
            self._committer = self._writer = None
            if committer is not None and writer is not None:
                committer.stop()
                # Last-used times are advisory; never fail a shutdown on them.
                with contextlib.suppress(StorageError):
                    writer.write_key_usage(force=True)
            watcher, self._watcher = self._watcher, None
            if watcher is not None:
                watcher.stop()
            pool, self._pool = self._pool, None
            if pool is not None:
                pool.close()
            self._close_side()

    def __enter__(self) -> PostgresStorage:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def exists(self) -> bool:
        """Whether the schema holds a Datacoral store (without creating one)."""
        return self._call(lambda conn: schema_version(conn) > 0, migrated=False)

    # --- the collector's path ------------------------------------------------

    async def commit(self, good: list[GoodEvent], bad: list[BadRow]) -> CommitResult:
        """Store one request's records durably, sharing the transaction with others."""
        committer = self._committer
        if committer is None:
            raise StorageError("storage is not open")
        return await committer.commit(good, bad)

    def lookup_key(self, key_hash: bytes) -> KeyRecord | None:
        """From the collector's copy (never a round trip), or the database for a key
        the copy does not know yet (one created a moment ago)."""
        watcher = self._watcher
        record = None if watcher is None else watcher.current().keys.get(key_hash)
        if record is None:
            if watcher is not None and not watcher.healthy:
                raise StorageUnavailable("storage unavailable: the database does not answer")
            record = self._call(lambda conn: admin.lookup_key(conn, key_hash))
        if record is not None and not record.revoked:
            self.touch_key(record.key_id)
        return record

    def touch_key(self, key_id: str) -> None:
        """Note that a key was used now; written with a later commit, not at once."""
        self._usage.mark(key_id, admin.now_ms())

    def is_ready(self) -> bool:
        """False when closed, while changes are not heard, or after a failed transaction
        until a probe succeeds."""
        writer, watcher = self._writer, self._watcher
        if writer is None or watcher is None or not watcher.healthy:
            return False
        if writer.last_ok is not False:
            return True
        now = time.monotonic()
        if now - self._last_probe < self._ready_probe_interval:
            return False
        self._last_probe = now
        try:
            self._call(lambda conn: conn.execute("SELECT 1"))
        except StorageError:
            return False
        writer.last_ok = None  # unknown again: the next commit decides
        return True

    def stats(self) -> GroupCommitStats:
        """Writer counters (commits, transactions, ...) since :meth:`open`."""
        if self._committer is None:
            return GroupCommitStats(
                commits=0, transactions=0, failed_transactions=0, largest_group=0
            )
        return self._committer.stats()

    # --- the loader's path (datacoral load) -----------------------------------

    def load_stream(
        self,
        stream: str,
        messages: Sequence[StreamRecords],
        *,
        incarnation: str = "",
        idle_timeout: float | None = None,
    ) -> LoadResult:
        """Write messages of ``stream`` (of its life ``incarnation``) not written before,
        in one transaction that PostgreSQL ends if left idle ``idle_timeout`` seconds (see
        :mod:`.postgres_loads`); works without :meth:`open`."""
        return self._call(
            lambda conn: loads.load(
                conn, stream, messages, incarnation=incarnation, idle_timeout=idle_timeout
            )
        )

    def forget_loaded(
        self, stream: str, through_sequence: int, older_than: float, *, incarnation: str = ""
    ) -> int:
        """Forget messages of ``stream`` up to ``through_sequence`` (all acknowledged)
        loaded more than ``older_than`` seconds ago, raising the pruned floor of its life
        ``incarnation`` over them."""
        return self._call(
            lambda conn: loads.forget(
                conn, stream, through_sequence, older_than, incarnation=incarnation
            )
        )

    # --- environments and keys -----------------------------------------------

    def environments(self) -> list[EnvironmentRecord]:
        watcher = self._watcher
        if watcher is not None:
            return list(watcher.current().environments)
        return self._call(admin.environments)

    def get_environment(self, name: str) -> EnvironmentRecord | None:
        return self._call(lambda conn: admin.get_environment(conn, name))

    def create_environment(
        self,
        name: str,
        origins: Sequence[str] = (),
        validation: ValidationMode = DEFAULT_VALIDATION,
    ) -> EnvironmentRecord:
        return self._change(lambda conn: admin.create_environment(conn, name, origins, validation))

    def set_validation(self, name: str, validation: ValidationMode) -> EnvironmentRecord:
        return self._change(lambda conn: admin.set_validation(conn, name, validation))

    def set_environment_rate_limit(self, name: str, limit: RateLimit | None) -> EnvironmentRecord:
        return self._change(lambda conn: admin.set_environment_rate_limit(conn, name, limit))

    def delete_environment(self, name: str, *, force: bool = False) -> None:
        self._change(lambda conn: admin.delete_environment(conn, name, force=force))

    def add_origin(self, environment: str, origin: str) -> EnvironmentRecord:
        return self._change(lambda conn: admin.add_origin(conn, environment, origin))

    def remove_origin(self, environment: str, origin: str) -> EnvironmentRecord:
        return self._change(lambda conn: admin.remove_origin(conn, environment, origin))

    def create_key(
        self, environment: str, label: str | None = None, *, rate_limit: RateLimit | None = None
    ) -> tuple[KeyInfo, str]:
        return self._change(
            lambda conn: admin.create_key(conn, environment, label, rate_limit=rate_limit)
        )

    def list_keys(self, environment: str | None = None) -> list[KeyInfo]:
        return self._call(lambda conn: admin.list_keys(conn, environment))

    def revoke_key(self, key_id: str) -> KeyInfo:
        return self._change(lambda conn: admin.revoke_key(conn, key_id))

    def set_key_rate_limit(self, key_id: str, limit: RateLimit | None) -> KeyInfo:
        return self._change(lambda conn: admin.set_key_rate_limit(conn, key_id, limit))

    # --- looking at events ---------------------------------------------------

    def count_events(self, environment: str | None = None) -> list[EventCounts]:
        return self._call(lambda conn: queries.count_events(conn, environment))

    def latest_events(self, environment: str, limit: int = 10) -> list[StoredEvent]:
        return self._call(lambda conn: queries.latest_events(conn, environment, limit))

    def events_after(self, environment: str, position: int, limit: int = 1000) -> list[StoredEvent]:
        return self._call(lambda conn: queries.events_after(conn, environment, position, limit))

    def latest_bad_rows(self, environment: str, limit: int = 10) -> list[StoredBadRow]:
        return self._call(lambda conn: queries.latest_bad_rows(conn, environment, limit))

    def bad_rows_after(
        self, environment: str, position: int, limit: int = 1000
    ) -> list[StoredBadRow]:
        return self._call(lambda conn: queries.bad_rows_after(conn, environment, position, limit))

    def find_events(self, event_id: str) -> list[StoredEvent]:
        return self._call(lambda conn: queries.find_events(conn, event_id))

    def iter_events(
        self,
        environment: str,
        *,
        since: int | None = None,
        until: int | None = None,
        page_size: int = 1000,
    ) -> Generator[list[StoredEvent], None, None]:
        """Good events stamped in [since, until), in pages, through a server-side cursor
        on a connection of its own; close the iterator (or exhaust it) to release it."""
        self._call(lambda conn: admin.require_environment(conn, environment))
        return self._read_pages(
            lambda conn: queries.event_pages(conn, environment, since, until, page_size)
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
        self._call(lambda conn: admin.require_environment(conn, environment))
        return self._read_pages(
            lambda conn: queries.bad_row_pages(conn, environment, since, until, page_size)
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
            lambda conn: queries.count_in_range(conn, environment, since, until, bad=bad)
        )

    def delete_events(self, environment: str) -> None:
        self._call(lambda conn: queries.delete_events(conn, environment))

    # --- admin tokens and the inspection API ----------------------------------
    # Tokens are read from the database (through the pool) at each look-up: only the
    # inspection API uses them, off the hot path, behind a cache of half a second.

    def create_admin_token(
        self, environment: str, label: str | None = None
    ) -> tuple[AdminTokenInfo, str]:
        return self._call(lambda conn: tokens.create_admin_token(conn, environment, label))

    def list_admin_tokens(self, environment: str | None = None) -> list[AdminTokenInfo]:
        return self._call(lambda conn: tokens.list_admin_tokens(conn, environment))

    def revoke_admin_token(self, token_id: str) -> AdminTokenInfo:
        return self._call(lambda conn: tokens.revoke_admin_token(conn, token_id))

    def lookup_admin_token(self, token_hash: bytes) -> AdminTokenRecord | None:
        return self._call(lambda conn: tokens.lookup_admin_token(conn, token_hash))

    def environment_counts(self, environment: str) -> EventCounts:
        return self._call(lambda conn: inspection.environment_counts(conn, environment))

    def query_events(self, environment: str, query: EventQuery) -> list[StoredEvent]:
        return self._call(lambda conn: inspection.query_events(conn, environment, query))

    def recent_bad_rows(self, environment: str, limit: int) -> list[StoredBadRow]:
        return self._call(lambda conn: inspection.recent_bad_rows(conn, environment, limit))

    # --- connections ---------------------------------------------------------

    def _connect(self) -> Connection:
        return psycopg.connect(self._conninfo, autocommit=True)

    def _read_pages(
        self, read: Callable[[Connection], Iterator[list[T]]]
    ) -> Generator[list[T], None, None]:
        """The pages ``read`` yields from a connection of their own (neither the pool's
        nor the side connection is held between pages), mapping failures as
        :meth:`_borrow` does."""
        try:
            with self._connect() as conn:
                self._configure(conn)
                yield from read(conn)
        except psycopg.Error as exc:
            if is_unavailability(exc):
                raise self._failure(exc) from exc
            raise

    def _configure(self, conn: Connection) -> None:
        """Settings of every connection but the listener's (see
        :func:`.postgres_connections.configure`); warns once if commits were not durable."""
        if connections.configure(conn, self._busy_timeout) and not self._warned_synchronous:
            self._warned_synchronous = True
            log.warning(
                "synchronous_commit is off for %s; the endpoint's connections turn it on,"
                " since a 2xx must mean the events survive a crash",
                self.url,
            )

    def _change(self, work: Callable[[Connection], T]) -> T:
        """Run an administrative change; a running collector's copy of environments and
        keys sees it at once in this process (other processes hear of it, see
        :mod:`.postgres_metadata`)."""
        result = self._call(work)
        watcher = self._watcher
        if watcher is not None:
            self._call(watcher.refresh)
        return result

    def _call(self, work: Callable[[Connection], T], *, migrated: bool = True) -> T:
        """Run ``work`` on a borrowed connection (migrated first), mapping failures."""
        with self._borrow(migrated=migrated) as conn:
            return work(conn)

    @contextmanager
    def _borrow(self, *, migrated: bool = True) -> Iterator[Connection]:
        """A connection from the pool when open, else the side connection; failures of
        the database become StorageError, errors of our SQL pass through."""
        try:
            pool = self._pool
            if pool is not None:
                with pool.connection() as conn:
                    yield conn
            else:
                with self._side_lock:
                    conn = self._side(migrated)
                    try:
                        yield conn
                    except psycopg.Error:
                        if conn.broken or conn.closed:
                            self._drop_side()  # the lock is ours: not _close_side()
                        raise
        except psycopg.Error as exc:
            if is_unavailability(exc):
                raise self._failure(exc) from exc
            raise
        except Exception as exc:  # psycopg_pool.PoolTimeout is not a psycopg.Error
            if is_unavailability(exc):
                raise self._failure(exc) from exc
            raise

    def _side(self, migrated: bool) -> Connection:
        if self._side_conn is None:
            conn = self._connect()
            try:
                self._configure(conn)
            except BaseException:
                conn.close()
                raise
            self._side_conn = conn
        if migrated and not self._migrated:
            migrate(self._side_conn)
            self._migrated = True
        return self._side_conn

    def _close_side(self) -> None:
        with self._side_lock:
            self._drop_side()

    def _drop_side(self) -> None:
        """Close the side connection; the caller holds ``_side_lock`` (a
        ``threading.Lock``, which the same thread cannot take twice)."""
        conn, self._side_conn = self._side_conn, None
        if conn is not None:
            conn.close()

    def _failure(self, exc: BaseException) -> StorageError:
        return failure(exc, self.url)
