"""The console script: --db resolution, exit codes decided in one place, missing extras."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from datacoral.cli.app import cli
from datacoral.cli.entry import main
from tests.cli.conftest import Run


def test_main_returns_exit_codes(db: Path) -> None:
    assert main(["env", "list", "--db", str(db)]) == 0
    assert main(["env", "create", "dev", "--db", str(db)]) == 1
    assert main(["no-such-command"]) == 2


def test_missing_database_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.sqlite"
    result = CliRunner().invoke(cli, ["env", "list", "--db", str(missing)])
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: no database at {missing}: run `datacoral serve` once, or pass --db"
        " (or set DATACORAL_DB)\n"
    )
    assert not missing.exists()


def test_db_from_environment_root_option_and_command_option(db: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite"
    runner = CliRunner(env={"DATACORAL_DB": str(db)})
    assert runner.invoke(cli, ["env", "create", "from-env"]).exit_code == 0
    assert runner.invoke(cli, ["--db", str(other), "env", "create", "from-root"]).exit_code == 0
    assert runner.invoke(cli, ["env", "create", "from-cmd", "--db", str(other)]).exit_code == 0
    assert "from-env" in runner.invoke(cli, ["env", "list"]).stdout
    listed_other = runner.invoke(cli, ["env", "list", "--db", str(other)]).stdout
    assert "from-root" in listed_other and "from-cmd" in listed_other
    assert "from-env" not in listed_other


@pytest.mark.sqlite_only  # a SQLite lock; PostgreSQL: tests/cli/test_postgres_url.py
def test_locked_database_exits_3(run: Run, db: Path) -> None:
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        result = run("env", "create", "qa")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.exit_code == 3
    assert result.stderr.startswith("error: storage unavailable: database is locked")


def test_serve_rejects_bad_settings_before_starting(run: Run) -> None:
    result = run("serve", "--trusted-proxy", "not-a-network")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert "not-a-network" in result.stderr


def test_python_dash_m_runs_the_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "datacoral", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout.startswith("datacoral, version ")


def test_without_the_collector_extra_it_says_what_to_install() -> None:
    # A child interpreter where importing click fails, as on a tracker-only install.
    script = textwrap.dedent(
        """
        import sys

        class NoClick:
            def find_spec(self, name, path=None, target=None):
                if name == "click" or name.startswith("click."):
                    raise ModuleNotFoundError("No module named 'click'", name="click")
                return None

        sys.meta_path.insert(0, NoClick())
        from datacoral.cli.entry import main
        sys.exit(main(["env", "list"]))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ},
    )
    assert done.returncode == 2
    assert done.stderr == (
        "datacoral: the command line needs the collector extra:"
        " pip install 'datacoral-tracker-py[collector]'\n"
    )
