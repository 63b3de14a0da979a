"""The plugin as pytest loads it: cheap until used, quick to start, and a user's project
passes with it (run by this interpreter here; test_user_venv.py installs it afresh)."""

from __future__ import annotations

import re
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from datacoral.config import Settings
from datacoral.testing import EndpointNotStarted, start_endpoint
from datacoral.testing.server import Activity, ServerThread
from tests.support.subprocesses import ROOT, run_python
from tests.testing.user_project import (
    OUTCOME,
    PYTHON_FILES,
    outcome,
    plugin_installed,
    run_pytest,
    write_user_project,
)

#: The loose bound CI asserts; measured on a 2-core machine: ~0.05 s in a process that has
#: imported the endpoint, ~0.25 s from a fresh interpreter (imports included).
STARTUP_BOUND = 2.0


def plugin_arguments() -> list[str]:
    """What pytest needs to load the plugin in this interpreter."""
    return [] if plugin_installed() else ["-p", "datacoral.testing.plugin"]


def imports_of_datacoral(project: Path) -> list[str]:
    """The lines of the user's Python files that import ``datacoral`` (there must be none)."""
    return [
        line
        for name in PYTHON_FILES
        for line in (project / name).read_text().splitlines()
        if re.match(r"\s*(import|from)\s+datacoral\b", line)
    ]


def test_pyproject_registers_the_plugin_and_the_extra() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["pytest11"] == {"datacoral": "datacoral.testing.plugin"}
    testing = project["optional-dependencies"]["testing"]
    assert "datacoral-tracker-py[collector]" in testing
    assert any(re.match(r"pytest\b", requirement) for requirement in testing)


def test_loading_the_plugin_imports_nothing_of_the_endpoint() -> None:
    done = run_python(
        """
        import sys
        import datacoral.testing.plugin
        heavy = ("uvicorn", "datacoral.collector", "datacoral.storage", "snowplow_tracker")
        print(sorted(m for m in sys.modules if m.startswith(heavy)))
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_run_that_uses_no_fixture_starts_nothing(tmp_path: Path) -> None:
    (tmp_path / "test_plain.py").write_text(
        textwrap.dedent(
            """
            import sys
            import threading

            def test_nothing_was_started():
                assert "uvicorn" not in sys.modules
                assert not [t for t in threading.enumerate() if t.name.startswith("datacoral")]
            """
        )
    )
    listed = run_pytest(sys.executable, tmp_path, "--fixtures", *plugin_arguments())
    assert "datacoral_endpoint" in listed.stdout, listed.stdout + listed.stderr
    done = run_pytest(sys.executable, tmp_path, *plugin_arguments())
    assert outcome(done) == {"passed": 1}, done.stdout + done.stderr


def test_start_up_is_well_under_a_second(tmp_path: Path) -> None:
    with start_endpoint(tmp_path) as endpoint:
        assert endpoint.good_events() == []
    assert endpoint.startup_seconds < STARTUP_BOUND


def test_start_up_from_a_fresh_interpreter(tmp_path: Path) -> None:
    done = run_python(
        f"""
        import time
        began = time.perf_counter()
        from datacoral.testing import start_endpoint
        endpoint = start_endpoint({str(tmp_path)!r})
        print(time.perf_counter() - began, endpoint.startup_seconds)
        endpoint.stop()
        """
    )
    assert done.returncode == 0, done.stderr
    total, serving = (float(x) for x in done.stdout.split())
    assert serving <= total < STARTUP_BOUND


def test_a_users_project_passes_with_the_plugin(tmp_path: Path) -> None:
    project = write_user_project(tmp_path / "project")
    assert imports_of_datacoral(project) == []
    done = run_pytest(sys.executable, project, *plugin_arguments())
    assert outcome(done) == OUTCOME, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("ini", "said"),
    [
        (
            "datacoral_validation = strictest",
            "datacoral_validation: invalid validation mode 'strictest': use strict, lenient, off",
        ),
        ("datacoral_iglu = no-such-folder", "datacoral_iglu: no such folder: "),
    ],
)
def test_a_wrong_setting_stops_the_run_at_once(tmp_path: Path, ini: str, said: str) -> None:
    (tmp_path / "pytest.ini").write_text(f"[pytest]\n{ini}\n")
    (tmp_path / "test_any.py").write_text("def test_any(datacoral_endpoint):\n    pass\n")
    done = run_pytest(sys.executable, tmp_path, *plugin_arguments())
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert said in done.stderr
    assert "test_any" not in done.stdout  # nothing ran


def test_the_endpoint_leaves_logging_as_it_was() -> None:
    done = run_python(
        """
        import logging, tempfile
        access = logging.getLogger("uvicorn.access")
        access.addHandler(logging.NullHandler())
        before = (list(access.handlers), access.propagate)
        from datacoral.testing import start_endpoint
        with tempfile.TemporaryDirectory() as directory:
            with start_endpoint(directory):
                pass
        print(before == (list(access.handlers), access.propagate))
        print(logging.getLogger().handlers)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["True", "[]"]


def test_a_failed_start_says_why(tmp_path: Path) -> None:
    server = ServerThread(Settings(port=0, db=tmp_path / "missing/x.sqlite"), Activity())
    with pytest.raises(EndpointNotStarted, match=r"could not open storage at .*unable to open"):
        server.start()
    # Its own thread has ended (other tests' endpoints may still be serving).
    assert server.port != 0
    ours = f"datacoral-endpoint-{server.port}"
    assert not [t for t in threading.enumerate() if t.name == ours]
