"""Each benchmark runs once at smoke size, so a change that breaks one is seen in CI.

The figures at this size mean nothing and the speed targets are not enforced.
What is checked: the script exits 0 and prints its tables. The scripts' own
checks still apply and make the exit status non-zero when they fail: every
event received exactly once (tracker overhead), the queue bounded by
``buffer_capacity`` (tracker memory), both servers started, the load generator
ran and the database was counted (endpoint throughput and growth), every
benchmark event validated against its real Iglu Central schema (schema validation),
and every reliability check passed (answers, 5xx, slow clients, RSS, the store's counts
against the answers, a clean exit); for scale-out, every accepted event stored in each
configuration (SQLite, PostgreSQL with 1 and 2 workers, JetStream with loaders), which
needs PostgreSQL and nats-server (skipped without them, failed under
``DATACORAL_REQUIRE_SERVICES=1``). Upstream's venv is used when it is cached
or can be made within a few seconds; otherwise only our side runs.
"""

from __future__ import annotations

import pytest

from tests.support.services import services_required
from tests.support.subprocesses import ROOT, run_script

#: Each benchmark with lines its report must contain.
SMOKE_RUNS = [
    ("tracker_overhead.py", ["sync POST, batch 1", "median track() call"]),
    ("tracker_memory.py", ["| ours ", "PASS"]),
    (
        "endpoint_throughput.py",
        [
            "| POST tp2, 50 events",
            "| GET /i, 1 event",
            "POST stored events/s ÷ ceiling's parsed events/s",
            "p99 latency at half the maximum load",
        ],
    ),
    (
        "endpoint_growth.py",
        ["| events stored before", "largest fall of stored events/s", "MiB per million events"],
    ),
    (
        "endpoint_stages.py",
        [
            "| sort_events (validate, enrich)",
            "| writer: rows + INSERT + commit, synchronous=FULL",
            "| INSERT alone: memory, no constraints",
            "| INSERT alone: file holding 2,000 events",
        ],
    ),
    (
        "schema_validation.py",
        [
            "| web: link_click + web_page",
            "| mobile: screen_view + mobile_context",
            "validation on keeps at least half the collector's per-event throughput",
        ],
    ),
    (
        "reliability.py",
        [
            "phase A: 3,000 requests",
            "| A: mutation fuzz",
            "| B: slow clients, idle",
            "| C: overload",
            "| good + bad + duplicates",
            "| store against the 200/400/413 answers",
            "reliability: PASS",
        ],
    ),
    (
        "metrics_overhead.py",
        [
            "| POST tp2, 50 events | metrics on",
            "GET throughput a saturated server keeps (CPU off ÷ on)",
        ],
    ),
]


@pytest.mark.timeout(150)
@pytest.mark.parametrize(("script", "expected"), SMOKE_RUNS, ids=[s for s, _ in SMOKE_RUNS])
def test_benchmark_smoke(script: str, expected: list[str]) -> None:
    done = run_script(ROOT / "benchmarks" / script, "--smoke", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    for line in expected:
        assert line in done.stdout, f"{script}: {line!r} missing from\n{done.stdout}"


#: scaleout.py: lines every run prints (configuration a needs no service) ...
SCALEOUT_ALWAYS = [
    "## a: SQLite, 1 process",
    "| fixed 20 req/s",
    "| saturation, 4 connections",
    "| collector (1 process)",
    "| load generator (client)",
    "| rest of the machine (this script, other work)",
    "## Checks",
    "## Sizing for 100k and 1M events/s (an estimate from a ",
    "cores = events/s x CPU seconds per event",
    "ASSUMED, not measured",
]
#: ... and those of the configurations that need PostgreSQL and nats-server.
SCALEOUT_SERVICES = [
    "## b1: PostgreSQL direct, 1 worker",
    "## b2: PostgreSQL direct, 2 workers",
    "| collector (supervisor + 2 workers)",
    "## c: JetStream + loaders",
    "| postgres: this database's backends",
    "| nats-server ",
    "| loader 1 ",
    "| loaders, 2 together",
    "stream empty after the drain",
    "| PostgreSQL database growth on disk (tables, TOAST, indexes)",
    "| into nats-server (publishes, fetches, acks)",
    "nats-server, R3 (x3, assumed)",
    "| all roles, NATS at R3",
    "The bound is PostgreSQL",
]


@pytest.mark.timeout(150)
def test_scaleout_smoke() -> None:
    """Every configuration at smoke size; those whose service is missing are skipped by
    the script (it exits 1 for them under DATACORAL_REQUIRE_SERVICES=1)."""
    done = run_script(ROOT / "benchmarks" / "scaleout.py", "--smoke", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    for line in SCALEOUT_ALWAYS:
        assert line in done.stdout, f"scaleout.py: {line!r} missing from\n{done.stdout}"
    skipped = [line for line in done.stdout.splitlines() if line.startswith("skipped: ")]
    if skipped:
        assert not services_required(), done.stdout
        pytest.skip("; ".join(sorted(set(skipped))))
    for line in SCALEOUT_SERVICES:
        assert line in done.stdout, f"scaleout.py: {line!r} missing from\n{done.stdout}"
