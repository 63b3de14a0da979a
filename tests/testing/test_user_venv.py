"""A user's view: a virtual environment of its own with ``pip install '.[testing]'`` from
this checkout (dependencies from the index pip is configured with), and a user's project
that uses only the fixtures and the public tracker API. pytest finds the plugin through
its entry point alone. The venv's dependencies are cached between runs (venv_cache.py);
the package is built from the checkout every run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.services import require
from tests.testing.test_plugin import imports_of_datacoral
from tests.testing.user_project import OUTCOME, outcome, run_pytest, write_user_project
from tests.testing.venv_cache import InstallFailed, copy_distribution, user_venv, venv_python

#: What pip prints when it cannot reach an index: then the test skips (CI: fails).
NETWORK_TROUBLE = (
    "Could not find a version",
    "NewConnectionError",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "ConnectTimeoutError",
)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_users_project_passes_in_a_fresh_virtual_environment(tmp_path: Path) -> None:
    source = copy_distribution(tmp_path / "datacoral-tracker-py")
    project = write_user_project(tmp_path / "project")
    assert imports_of_datacoral(project) == []
    try:
        with user_venv(source, timeout=300) as venv:
            plugin = run_pytest(
                venv_python(venv), project, "--version", "--version"
            )  # lists the plugins pytest loaded, and where from
            done = run_pytest(venv_python(venv), project, "-v")
    except InstallFailed as failure:
        trouble = any(marker in failure.output for marker in NETWORK_TROUBLE)
        require(not trouble, f"the package index cannot be reached from here: {failure}")
        raise

    said = plugin.stdout + plugin.stderr
    assert "datacoral" in said and str(venv) in said, said
    assert outcome(done) == OUTCOME, done.stdout + done.stderr
    assert "datacoral" in done.stdout.split("plugins:", 1)[1].splitlines()[0], done.stdout
