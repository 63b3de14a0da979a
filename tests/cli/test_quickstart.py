"""``datacoral quickstart`` end to end: a real endpoint process, our tracker, a real file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_quickstart_stores_one_event_per_environment(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "datacoral", "quickstart"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "TMPDIR": str(tmp_path)},  # its database stays inside tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line.split() for line in done.stdout.splitlines()]
    header = lines.index(["ENVIRONMENT", "GOOD", "BAD"])
    assert lines[header + 1 : header + 4] == [
        ["dev", "1", "0"],
        ["stage", "1", "0"],
        ["prod", "1", "0"],
    ]
    assert "datacoral key create --env dev" in done.stdout
    database = Path(done.stdout.splitlines()[0].removeprefix("database: "))
    assert database.exists() and database.is_relative_to(tmp_path)
    assert "Traceback" not in done.stderr
