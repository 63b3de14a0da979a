"""``datacoral serve`` refuses to start with one clear line and the README's exit code.

Run as real processes: what matters is everything the process prints, uvicorn's
logging included, and its exit status.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner

from datacoral.cli.app import cli
from datacoral.config import Settings
from datacoral.storage.sqlite import SQLiteStorage


def serve(
    *args: str, env: dict[str, str] | None = None, prefix: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    """``datacoral serve ARGS`` on a free port; it must exit by itself, never listen."""
    command = [*prefix, sys.executable, "-m", "datacoral", "serve", "--port", "0", *args]
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DATACORAL_")}
    try:
        return subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env={**environ, **(env or {})},
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"serve started instead of refusing: {exc.stdout!r} {exc.stderr!r}")


def assert_one_error_line(done: subprocess.CompletedProcess[str], code: int, line: str) -> None:
    assert (done.returncode, done.stdout, done.stderr) == (code, "", f"error: {line}\n")


def test_a_missing_directory_is_bad_input(tmp_path: Path) -> None:
    db = tmp_path / "nonexistent" / "dir" / "x.sqlite"
    assert_one_error_line(
        serve("--db", str(db)),
        1,
        f"cannot create the database {db}: there is no directory {db.parent}",
    )


def test_a_file_that_is_not_a_database_is_bad_input(tmp_path: Path) -> None:
    db = tmp_path / "notes.sqlite"
    db.write_text("these are my notes, not a database\n" * 10)
    assert_one_error_line(
        serve("--db", str(db)),
        1,
        f"{db} is not a SQLite database: give --db a Datacoral database file,"
        " or the name of a new one",
    )
    listed = CliRunner().invoke(cli, ["env", "list", "--db", str(db)])
    assert (listed.exit_code, listed.stderr) == (
        1,
        f"error: {db} is not a SQLite database: give --db a Datacoral database file,"
        " or the name of a new one\n",
    )


@pytest.fixture
def bound_by_permissions(tmp_path: Path) -> Iterator[list[str]]:
    """A command prefix under which file modes apply: none for a normal user; for root,
    whom they do not stop, ``setpriv`` without the capabilities that override them."""
    if sys.platform == "win32":
        pytest.skip("file modes are POSIX")
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: file modes would not apply")
        prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search"]
    yield prefix
    tmp_path.chmod(0o755)  # so that pytest can clean up


def _database(path: Path) -> Path:
    store = SQLiteStorage(path)
    store.environments()
    store.close()
    return path


def test_a_read_only_file_is_storage_unavailable(
    tmp_path: Path, bound_by_permissions: list[str]
) -> None:
    db = _database(tmp_path / "ro.sqlite")
    db.chmod(0o444)  # the directory stays writable: only the file is read-only
    assert_one_error_line(
        serve("--db", str(db), prefix=bound_by_permissions),
        3,
        f"cannot write to the database {db}: the file is read-only"
        " (check its permissions and owner)",
    )


def test_a_read_only_directory_is_storage_unavailable(
    tmp_path: Path, bound_by_permissions: list[str]
) -> None:
    db = _database(tmp_path / "ro.sqlite")
    tmp_path.chmod(0o555)  # the file stays writable: only the directory is read-only
    assert_one_error_line(
        serve("--db", str(db), prefix=bound_by_permissions),
        3,
        f"cannot write to the database {db}: its directory {tmp_path} is read-only,"
        " and SQLite needs to create ro.sqlite-wal and ro.sqlite-shm beside it",
    )


def test_admin_commands_tell_read_only_from_not_a_database(
    tmp_path: Path, bound_by_permissions: list[str]
) -> None:
    db = _database(tmp_path / "ro.sqlite")
    db.chmod(0o444)
    command = [sys.executable, "-m", "datacoral", "env", "create", "qa", "--db", str(db)]
    done = subprocess.run(
        [*bound_by_permissions, *command], capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stderr) == (
        3,
        f"error: cannot write to the database {db}: the file is read-only"
        " (check its permissions and owner)\n",
    )


def test_a_locked_database_names_the_file(tmp_path: Path) -> None:
    db = _database(tmp_path / "locked.sqlite")
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        result = CliRunner().invoke(cli, ["env", "create", "qa", "--db", str(db)])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert (result.exit_code, result.stderr) == (
        3,
        f"error: storage unavailable: database is locked: another process is writing to"
        f" the database {db}; try again\n",
    )


def test_an_unknown_log_level_names_the_variable(tmp_path: Path) -> None:
    assert_one_error_line(
        serve("--db", str(tmp_path / "x.sqlite"), env={"DATACORAL_LOG_LEVEL": "bogus"}),
        1,
        "DATACORAL_LOG_LEVEL must be one of debug, info, warning, error, critical, got 'bogus'",
    )


def test_a_bad_value_names_the_option_or_the_variable_it_came_from(tmp_path: Path) -> None:
    db = str(tmp_path / "x.sqlite")
    assert_one_error_line(
        serve("--db", db, "--max-body-bytes", "10"),
        1,
        "--max-body-bytes must be at least 1024, got 10",
    )
    assert_one_error_line(
        serve("--db", db, env={"DATACORAL_MAX_BODY_BYTES": "10"}),
        1,
        "DATACORAL_MAX_BODY_BYTES must be at least 1024, got 10",
    )
    assert_one_error_line(
        serve("--db", db, "--trusted-proxy", "not-a-network"),
        1,
        "--trusted-proxy: 'not-a-network' does not appear to be an IPv4 or IPv6 network",
    )
    assert not Path(db).exists()  # settings are checked before the database is touched


def test_help_names_only_variables_that_exist() -> None:
    helped = CliRunner().invoke(cli, ["serve", "--help"], terminal_width=200)
    assert helped.exit_code == 0
    mentioned = set(re.findall(r"DATACORAL_[A-Z_<>]+", helped.stdout))
    settings = {f"DATACORAL_{f.name.upper()}" for f in dataclasses.fields(Settings)}
    settings.discard("DATACORAL_EXTRA")
    settings.add("DATACORAL_CONFIG")  # the config file (--config), not a setting
    assert mentioned == settings


def test_an_iglu_source_that_names_nothing_is_refused_before_listening(tmp_path: Path) -> None:
    db = str(tmp_path / "x.sqlite")
    missing = str(tmp_path / "no-such-folder")
    assert_one_error_line(
        serve("--db", db, "--iglu", missing),
        1,
        f"--iglu {missing!r}: no such folder",
    )
    assert_one_error_line(
        serve("--db", db, env={"DATACORAL_IGLU": f"{tmp_path} ftp://iglu.example.com"}),
        1,
        "DATACORAL_IGLU 'ftp://iglu.example.com': not http(s); write http(s)://host[/prefix]"
        " for a static repository, iglu-server+https://host for an Iglu Server, or a folder",
    )
    assert_one_error_line(
        serve("--db", db, env={"DATACORAL_IGLU_TIMEOUT_SECONDS": "0"}),
        1,
        "DATACORAL_IGLU_TIMEOUT_SECONDS must be more than 0 and at most 60, got 0",
    )
    assert not Path(db).exists()
