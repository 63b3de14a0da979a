"""``--db`` takes a path or a PostgreSQL URL; a URL's password is never shown."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from datacoral.config import Settings
from datacoral.storage import open_storage
from datacoral.storage.base import StorageUnavailable, StorageUnusable
from datacoral.storage.postgres import PostgresStorage
from datacoral.storage.postgres_errors import failure
from datacoral.storage.sqlite import SQLiteStorage
from datacoral.storage.target import DatabaseURL, parse_target, target_argument

SECRET_URL = "postgresql://app:s3cr3t-pw@db.internal:6543/events?sslmode=require"


def test_a_url_is_a_database_and_anything_else_a_path() -> None:
    assert isinstance(parse_target("postgresql://u@h/db"), DatabaseURL)
    assert isinstance(parse_target("POSTGRES://u@h/db"), DatabaseURL)
    assert parse_target("events.sqlite") == Path("events.sqlite")
    assert parse_target("postgresql.sqlite") == Path("postgresql.sqlite")
    assert isinstance(open_storage("postgresql://u@h/db"), PostgresStorage)
    assert isinstance(open_storage(Path("x.sqlite")), SQLiteStorage)


def test_the_password_is_shown_nowhere_but_where_the_driver_needs_it() -> None:
    url = DatabaseURL(SECRET_URL)
    shown = "postgresql://app:***@db.internal:6543/events?sslmode=require"
    assert str(url) == shown
    assert repr(url) == f"DatabaseURL({shown!r})"
    assert target_argument(url) == SECRET_URL == url.url
    assert (url.host, url.database) == ("db.internal:6543", "events")
    in_query = DatabaseURL("postgresql://db/events?user=app&password=s3cr3t-pw")
    assert "s3cr3t" not in str(in_query) and "password=***" in str(in_query)
    assert url.hide_secret(f"failed for {SECRET_URL}: s3cr3t-pw") == f"failed for {shown}: ***"
    settings = Settings(db=SECRET_URL)
    assert settings.db == url
    assert "s3cr3t" not in repr(settings)
    assert "s3cr3t" not in repr(open_storage(url))


def test_a_malformed_url_is_refused_without_its_password() -> None:
    with pytest.raises(ValueError, match=r"not a valid PostgreSQL URL") as refused:
        Settings(db="postgresql://app:s3cr3t@db:notaport/events")
    assert "s3cr3t" not in str(refused.value)
    assert str(refused.value).startswith("db is not a valid PostgreSQL URL, got ")


def test_database_failures_are_one_line_in_the_users_terms() -> None:
    url = DatabaseURL("postgresql://app:s3cr3t@127.0.0.1:1/events")
    refused = failure(
        psycopg.OperationalError(
            'connection failed: connection to server at "127.0.0.1", port 1 failed:'
            " Connection refused\n\tIs the server running on that host and accepting"
            " TCP/IP connections?"
        ),
        url,
    )
    assert isinstance(refused, StorageUnavailable)
    assert str(refused) == (
        "cannot connect to PostgreSQL at 127.0.0.1:1: Connection refused; Is the server"
        " running on that host and accepting TCP/IP connections?"
        " (postgresql://app:***@127.0.0.1:1/events)"
    )
    missing = failure(
        psycopg.OperationalError(
            'connection failed: connection to server at "127.0.0.1", port 1 failed:'
            ' FATAL:  database "events" does not exist'
        ),
        url,
    )
    assert isinstance(missing, StorageUnusable)
    assert str(missing).startswith("there is no database 'events' on the PostgreSQL server")
    wrong = failure(psycopg.OperationalError("password authentication failed for user s3cr3t"), url)
    assert isinstance(wrong, StorageUnusable) and "s3cr3t" not in str(wrong)
