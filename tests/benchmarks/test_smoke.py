"""Each benchmark runs once at smoke size, so a change that breaks one is seen in CI.

The figures at this size mean nothing; the scripts' own checks (every event
received exactly once, the queue bounded by ``buffer_capacity``) still apply and
make the exit status non-zero when they fail. Upstream's venv is used when it is
cached or can be made within a few seconds; otherwise only our side runs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def run_smoke(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--smoke"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=BENCHMARKS.parent,
    )


@pytest.mark.timeout(150)
def test_tracker_overhead_smoke() -> None:
    done = run_smoke("tracker_overhead.py")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "sync POST, batch 1" in done.stdout
    assert "median track() call" in done.stdout


@pytest.mark.timeout(150)
def test_tracker_memory_smoke() -> None:
    done = run_smoke("tracker_memory.py")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS" in done.stdout
