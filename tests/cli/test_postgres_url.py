"""``--db postgresql://...``: what the CLI says when the database is not as expected.

Every other CLI test runs against PostgreSQL too (tests/cli/conftest.py); here are
the failures only a server can have, each one line with the README's exit code,
and never the URL's password.
"""

from __future__ import annotations

import socket

from click.testing import CliRunner

from datacoral.cli.app import cli
from datacoral.storage.target import DatabaseURL
from tests.support.postgres import RunDatabase


def invoke(*args: str, env: dict[str, str | None] | None = None) -> tuple[int, str]:
    result = CliRunner(env={"DATACORAL_DB": None, **(env or {})}).invoke(cli, list(args))
    return result.exit_code, result.stderr


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_server_is_storage_unavailable() -> None:
    url = f"postgresql://app:s3cr3t@127.0.0.1:{closed_port()}/events"
    code, stderr = invoke("env", "list", "--db", url)
    assert code == 3
    assert stderr.startswith("error: cannot connect to PostgreSQL at 127.0.0.1:")
    assert "Connection refused" in stderr and "postgresql://app:***@127.0.0.1:" in stderr
    assert "s3cr3t" not in stderr and stderr.count("\n") == 1


def test_a_database_that_does_not_exist_is_bad_input(postgres_database: RunDatabase) -> None:
    url = postgres_database.url.replace(postgres_database.name, "no_such_db_y")
    code, stderr = invoke("key", "list", "--db", url)
    assert code == 1
    assert stderr.startswith("error: there is no database 'no_such_db_y' on the PostgreSQL")
    assert "createdb no_such_db_y" in stderr and stderr.count("\n") == 1


def test_a_malformed_url_is_a_usage_error_without_its_password() -> None:
    result = CliRunner().invoke(cli, ["env", "list", "--db", "postgresql://a:s3cr3t@h:x/db"])
    assert result.exit_code == 2
    assert "not a valid PostgreSQL URL" in result.stderr
    assert "s3cr3t" not in result.output + result.stderr


def test_a_schema_without_our_tables_is_not_created_by_a_reading_command(
    postgres_database: RunDatabase,
) -> None:
    url = postgres_database.new_schema()
    code, stderr = invoke("env", "list", "--db", url.url)
    assert code == 1
    assert stderr == (
        f"error: the database {url} has no Datacoral tables yet: run `datacoral serve --db URL`"
        " once (it creates them), or pass another --db (or set DATACORAL_DB)\n"
    )
    code, _ = invoke("env", "create", "qa", env={"DATACORAL_DB": url.url})
    assert code == 0  # a creating command creates them
    assert invoke("env", "show", "qa", "--db", url.url)[0] == 0


def test_a_lock_held_elsewhere_exits_3(postgres_database: RunDatabase) -> None:
    url = postgres_database.new_schema()
    assert invoke("env", "list", "--db", url.url, "--json")[0] == 1  # not created yet
    assert invoke("env", "create", "qa", "--db", url.url)[0] == 0
    holder = postgres_database.connect(url)
    try:
        holder.execute("BEGIN")
        holder.execute("LOCK TABLE environments IN ACCESS EXCLUSIVE MODE")
        code, stderr = invoke("env", "create", "qb", "--db", url.url)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert code == 3
    assert stderr.startswith("error: storage unavailable: another session holds a lock")


def test_the_url_is_shown_without_its_password_in_snippet_warnings(
    postgres_database: RunDatabase,
) -> None:
    schema = postgres_database.new_schema()
    assert invoke("env", "list", "--db", schema.url)[0] == 1
    url = DatabaseURL(schema.url.replace("postgres@", "postgres:unused-pw@"))
    assert invoke("env", "create", "web", "--db", url.url)[0] == 0  # trust auth ignores it
    result = CliRunner(env={"DATACORAL_DB": url.url}).invoke(
        cli, ["snippet", "--env", "web", "--key", "dck_unknown"]
    )
    assert result.exit_code == 0
    assert "unused-pw" not in result.stderr
    assert f"warning: {url} does not know this key" in result.stderr
