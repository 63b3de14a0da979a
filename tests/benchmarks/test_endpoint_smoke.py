"""The endpoint benchmarks run once at smoke size, so that a change that breaks one is seen.

At this size the figures mean nothing and targets are not enforced; what is
checked is that both servers start, the load generator runs, the database is
counted and the tables are printed.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.support.subprocesses import ROOT, run_script


def run_smoke(script: str) -> subprocess.CompletedProcess[str]:
    return run_script(ROOT / "benchmarks" / script, "--smoke", timeout=90)


@pytest.mark.timeout(120)
def test_endpoint_throughput_smoke() -> None:
    done = run_smoke("endpoint_throughput.py")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "| POST tp2, 50 events" in done.stdout
    assert "| GET /i, 1 event" in done.stdout
    assert "POST stored events/s ÷ ceiling's parsed events/s" in done.stdout
    assert "p99 latency at half the maximum load" in done.stdout


@pytest.mark.timeout(120)
def test_endpoint_growth_smoke() -> None:
    done = run_smoke("endpoint_growth.py")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "| events stored before" in done.stdout
    assert "largest fall of stored events/s" in done.stdout
    assert "MiB per million events" in done.stdout


@pytest.mark.timeout(120)
def test_endpoint_stages_smoke() -> None:
    done = run_smoke("endpoint_stages.py")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "| sort_events (validate, enrich)" in done.stdout
    assert "| writer: rows + INSERT + commit, synchronous=FULL" in done.stdout
    assert "| INSERT alone: memory, no constraints" in done.stdout
