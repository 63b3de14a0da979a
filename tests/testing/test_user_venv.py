"""A user's view: a fresh virtual environment, ``pip install '.[testing]'`` from a copy of
this project (dependencies from PyPI), and a user's project that uses only the fixtures
and the public tracker API. pytest finds the plugin through its entry point alone."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.services import require
from tests.support.subprocesses import ROOT
from tests.testing.test_plugin import expected_outcome
from tests.testing.user_project import outcome, run_pytest, write_user_project

#: What pip prints when it cannot reach an index: then the test skips (CI: fails).
NETWORK_TROUBLE = (
    "Could not find a version",
    "NewConnectionError",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "ConnectTimeoutError",
)


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_users_project_passes_in_a_fresh_virtual_environment(tmp_path: Path) -> None:
    source = tmp_path / "datacoral-tracker-py"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".venv", ".git", "node_modules", "*.sqlite*", ".*_cache", "__pycache__",
            "tests", "benchmarks", "wheels",
        ),
    )  # fmt: skip
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    installed = subprocess.run(
        [str(venv_python(venv)), "-m", "pip", "install", "--disable-pip-version-check",
         "--quiet", f"{source}[testing]"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    said = installed.stdout + installed.stderr
    if installed.returncode != 0 and any(marker in said for marker in NETWORK_TROUBLE):
        require(False, f"PyPI cannot be reached from here: {said[-500:]}")
    assert installed.returncode == 0, said

    where = subprocess.run(
        [str(venv_python(venv)), "-c", "import datacoral.testing.plugin as p; print(p.__file__)"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout + where.stderr

    project = write_user_project(tmp_path / "project")
    done = run_pytest(venv_python(venv), project, "-v")
    assert outcome(done) == expected_outcome(), done.stdout + done.stderr
    assert "datacoral" in done.stdout.split("plugins:", 1)[1].splitlines()[0], done.stdout
