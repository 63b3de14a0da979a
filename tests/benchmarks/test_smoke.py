"""Each benchmark runs once at smoke size, so a change that breaks one is seen in CI.

The figures at this size mean nothing; the scripts' own checks (every event
received exactly once, the queue bounded by ``buffer_capacity``) still apply and
make the exit status non-zero when they fail. Upstream's venv is used when it is
cached or can be made within a few seconds; otherwise only our side runs.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.support.subprocesses import ROOT, run_script


def run_smoke(script: str) -> subprocess.CompletedProcess[str]:
    return run_script(ROOT / "benchmarks" / script, "--smoke", timeout=120)


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
