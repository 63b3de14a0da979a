"""How the PostgreSQL store connects: parameters, the pool, and each session's settings."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool

from datacoral.storage.postgres_admin import Connection
from datacoral.storage.target import DatabaseURL

#: How long the pool retries one connection (with backoff) before starting afresh.
RECONNECT_SECONDS = 4.0
#: psycopg_pool logs every failed connection attempt; one line per this many seconds.
POOL_LOG_INTERVAL = 5.0


def conninfo(url: DatabaseURL, busy_timeout: float) -> str:
    """The URL's parameters, with defaults for the ones it leaves out: a connection
    attempt gives up after a few seconds (libpq waits forever by default), and the
    server's activity views name us."""
    given = conninfo_to_dict(url.url)
    defaults = {
        "connect_timeout": str(max(2, math.ceil(busy_timeout))),
        "application_name": "datacoral",
    }
    extra = {name: value for name, value in defaults.items() if name not in given}
    return make_conninfo(url.url, **extra)


def pool(
    info: str, *, size: int, timeout: float, configure: Callable[[Connection], None]
) -> ConnectionPool[Connection]:
    """An opened pool of autocommit connections; a borrower waits at most ``timeout``."""
    opened: ConnectionPool[Connection] = ConnectionPool(
        info,
        min_size=1,
        max_size=size,
        kwargs={"autocommit": True},
        configure=configure,
        timeout=timeout,
        # Give up a connection attempt's backoff (1, 2, 4 ... s) after a few seconds and
        # start over at the next request: after a long outage, recovery comes within
        # seconds instead of after the last doubled delay.
        reconnect_timeout=RECONNECT_SECONDS,
        name="datacoral",
        open=False,
    )
    _quiet_pool_log()
    opened.open(wait=False)
    return opened


def configure(conn: Connection, busy_timeout: float) -> bool:
    """A write waits for a lock at most ``busy_timeout`` (then fails as unavailable: 503,
    as SQLite's busy timeout), and commits are durable: a session whose
    ``synchronous_commit`` is ``off`` is turned ``on``. True when it was off."""
    conn.execute(f"SET lock_timeout = {math.ceil(busy_timeout * 1000):d}")
    row = conn.execute("SHOW synchronous_commit").fetchone()
    if row is not None and row[0] == "off":
        conn.execute("SET synchronous_commit = on")
        return True
    return False


class _OncePer(logging.Filter):
    """Lets one warning through per ``interval`` seconds: while the database is away,
    every connection attempt fails alike, and the endpoint says so itself."""

    def __init__(self, interval: float) -> None:
        super().__init__()
        self._interval = interval
        self._last = -interval
        self._held = 0

    def filter(self, record: logging.LogRecord) -> bool:
        now = time.monotonic()
        if now - self._last < self._interval:
            self._held += 1
            return False
        if self._held:
            record.msg = f"{record.msg} (and {self._held} more like it)"
        self._last, self._held = now, 0
        return True


def _quiet_pool_log() -> None:
    pool_log = logging.getLogger("psycopg.pool")
    if not any(isinstance(f, _OncePer) for f in pool_log.filters):
        pool_log.addFilter(_OncePer(POOL_LOG_INTERVAL))
