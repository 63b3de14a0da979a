"""Tracker memory: is the AsyncEmitter's queue bounded while the endpoint is down?

Each run is a fresh subprocess (``_memory_workload.py``) that tracks ``--events``
events through an ``AsyncEmitter`` pointed at a closed local port. Reported per
``buffer_capacity``: the RSS high-water mark above the post-import baseline,
bytes per queued event, and the drops counted as ``queue_full``. A reference
run whose capacity holds every event shows what an unbounded queue would cost.
Upstream 1.1.0 runs once too, for comparison (skip it with ``--no-upstream``).

    python benchmarks/tracker_memory.py [--events 100000] [--smoke]

Exit status: 0 when every check passed, 1 when a run failed or a check missed.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _peer import DEFAULT_VENV, PeerUnavailable, clean_environment, ensure_upstream, probe
from _peer import venv_python as peer_python
from _report import machine_summary, number, table, verdict

HERE = Path(__file__).resolve().parent
WORKLOAD = HERE / "_memory_workload.py"
OUR_PACKAGE = HERE.parent / "src" / "snowplow_tracker"
MIB = 1024 * 1024
#: A bounded queue may cost at most this much more per queued event than the reference.
BOUND_SLACK = 1.5
#: Plus this much in all: the allocator takes memory from the system in arenas and pages,
#: so small runs (``--smoke``: a few hundred queued events, under 1 MiB) move by that much.
BOUND_ALLOWANCE = 1 * MIB


@dataclass(frozen=True)
class MemoryRun:
    label: str
    capacity: int
    growth_bytes: int
    held: int  # events the emitter still holds (queued + in flight)
    queue_full: int | None
    drop_warnings: int
    track_us: float
    close_s: float | None


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--capacities", default="10000,50000", help="comma-separated")
    parser.add_argument("--smoke", action="store_true", help="3,000 events, small capacities")
    parser.add_argument("--no-upstream", action="store_true")
    parser.add_argument("--upstream-venv", type=Path, default=DEFAULT_VENV)
    args = parser.parse_args()
    if args.smoke:
        args.events, args.capacities = 3_000, "500,1000"
    return args


def closed_port() -> int:
    """A local port nobody listens on (bound, then released)."""
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        port: int = probe_socket.getsockname()[1]
    return port


def run_once(
    label: str, python: Path, package: Path, capacity: int, events: int, env: dict[str, str] | None
) -> MemoryRun:
    command = [
        str(python), "-E", "-s", str(WORKLOAD), "--port", str(closed_port()),
        "--events", str(events), "--capacity", str(capacity), "--expect-package", str(package),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, cwd=HERE)
    if done.returncode != 0:
        raise RuntimeError(f"{label}: exit {done.returncode}\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    in_flight = result["in_flight"] or 0
    dropped = result["dropped"]
    return MemoryRun(
        label=label,
        capacity=capacity,
        growth_bytes=result["peak_bytes"] - result["baseline_bytes"],
        held=result["queued"] + in_flight,
        queue_full=dropped.get("queue_full", 0) if dropped is not None else None,
        drop_warnings=result["warnings_logged"],
        track_us=result["track_cpu_s"] / events * 1e6,
        close_s=result.get("close_s"),
    )


def _upstream(args: argparse.Namespace) -> Path | None:
    if args.no_upstream:
        return None
    try:
        return ensure_upstream(args.upstream_venv, timeout=20.0 if args.smoke else 300.0)
    except PeerUnavailable as exc:
        print(f"note: upstream skipped: {exc}", file=sys.stderr)
        return None


def main() -> int:
    args = _arguments()
    ours = probe(Path(sys.executable))
    if ours is None or ours[1] != OUR_PACKAGE:
        print(f"FAILED: {sys.executable} does not import our snowplow_tracker", file=sys.stderr)
        return 1
    capacities = [int(c) for c in args.capacities.split(",")]
    upstream_package = _upstream(args)
    print(machine_summary())
    print(f"{args.events:,} events tracked into a closed port, AsyncEmitter batch 50")
    python = Path(sys.executable)
    runs = [
        run_once("ours", python, ours[1], capacity, args.events, None) for capacity in capacities
    ]
    reference = run_once("ours, holds all", python, ours[1], args.events, args.events, None)
    runs.append(reference)
    if upstream_package is not None:
        upstream_python = peer_python(args.upstream_venv)
        runs.append(
            run_once("upstream 1.1.0", upstream_python, upstream_package, capacities[0],
                     args.events, clean_environment())
        )  # fmt: skip

    reference_per_event = reference.growth_bytes / max(reference.held, 1)
    rows = []
    passed = True
    for run in runs:
        bounded = run.held <= run.capacity and (
            run.growth_bytes <= BOUND_SLACK * reference_per_event * run.capacity + BOUND_ALLOWANCE
        )
        drops_counted = run.queue_full is None or run.queue_full == args.events - run.held
        if run.label == "ours":
            passed = passed and bounded and drops_counted
        rows.append([
            run.label, f"{run.capacity:,}", f"{run.held:,}",
            number(run.growth_bytes / MIB), number(run.growth_bytes / max(run.held, 1), 0),
            "—" if run.queue_full is None else f"{run.queue_full:,}",
            f"{run.drop_warnings:,}", number(run.track_us, 1),
            number(run.close_s, 2), "—" if run is reference else verdict(bounded and drops_counted),
        ])  # fmt: skip
    print()
    print(
        table(
            ["run", "buffer_capacity", "held at end", "peak RSS growth MiB", "bytes/held event",
             "dropped queue_full", "warnings logged", "CPU µs/track", "close s", "bounded"],
            rows,
        )
    )  # fmt: skip
    print(
        "\nbounded: held <= buffer_capacity, RSS growth <= "
        f"{BOUND_SLACK} x the reference's bytes per event x capacity"
        f" + {BOUND_ALLOWANCE / MIB:g} MiB, and every event "
        "not held was reported as queue_full"
    )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
