"""A PostgreSQL database of the test run's own, and a fresh schema for each test.

The server is ``DATACORAL_TEST_POSTGRES`` (a URL to a database the test user may
connect to, default ``postgresql://postgres@127.0.0.1:5432/postgres``, trust
auth as on the CI machine). A run creates ``datacoral_test_<random>`` there and
drops it at the end, so runs never see each other's rows; each test gets a new
schema in it, named by its URL (``?options=-csearch_path%3D...``), so tests never
see each other's rows either. Without a server, the tests that need one skip with
the reason, or fail under ``DATACORAL_REQUIRE_SERVICES=1`` (tests/support/services.py).
"""

from __future__ import annotations

import functools
import itertools
import os
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

from datacoral.storage.target import DatabaseURL

if TYPE_CHECKING:
    import psycopg

ADMIN_URL = os.environ.get(
    "DATACORAL_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@functools.cache
def unavailable_reason() -> str | None:
    """Why PostgreSQL cannot be used for tests, or None when it can."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'datacoral-tracker-py[postgres]')"
    try:
        with psycopg.connect(ADMIN_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return f"PostgreSQL not usable at {DatabaseURL(ADMIN_URL)}: {first_line}"
    return None


class RunDatabase:
    """A database created for this test run; hands out one fresh schema per test."""

    def __init__(self, admin_url: str = ADMIN_URL) -> None:
        self._admin_url = admin_url
        self.name = f"datacoral_test_{secrets.token_hex(4)}"
        self._numbers = itertools.count(1)
        with _connect(admin_url) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        self.url = _with_database(admin_url, self.name)

    def new_schema(self) -> DatabaseURL:
        """A URL whose tables live in a new, empty schema of this database."""
        schema = f"t{next(self._numbers)}_{secrets.token_hex(3)}"
        with _connect(self.url) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        separator = "&" if urlsplit(self.url).query else "?"
        return DatabaseURL(f"{self.url}{separator}options={quote(f'-csearch_path={schema}')}")

    def connect(self, url: DatabaseURL) -> psycopg.Connection[Any]:
        """A plain connection (autocommit) to a test's schema, to look or meddle."""
        return _connect(url.url)

    def drop(self) -> None:
        with _connect(self._admin_url) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def _connect(url: str) -> psycopg.Connection[Any]:
    import psycopg

    return psycopg.connect(url, autocommit=True)


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))
