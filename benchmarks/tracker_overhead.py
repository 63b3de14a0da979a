"""Tracker overhead: our snowplow_tracker against upstream snowplow-tracker 1.1.0.

The same workload (``_workload.py``: self-describing events with one context,
base64 on) runs in a fresh subprocess per run, ours with this interpreter and
upstream with its own cached venv, against one local receiver that counts what
arrived. Runs are interleaved (ours, upstream, ours, upstream, ...). Reported per
scenario: median CPU µs per event of the tracking process (``process_time``
around tracking plus delivery) and events delivered per second (wall); for the
AsyncEmitter also the median ``track()`` call and the time until all delivered.

    python benchmarks/tracker_overhead.py [--events 20000] [--rounds 5] [--smoke]

Exit status: 0 when every run delivered every event (PASS/MISS are reported,
not enforced, unless ``--strict``); 1 when a run failed or lost events.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from _peer import DEFAULT_VENV, PeerUnavailable, clean_environment, ensure_upstream, probe
from _peer import venv_python as peer_python
from _receiver import Receiver
from _report import machine_summary, number, table, verdict

HERE = Path(__file__).resolve().parent
WORKLOAD = HERE / "_workload.py"
OUR_PACKAGE = HERE.parent / "src" / "snowplow_tracker"
SCENARIOS = {
    "post1": "sync POST, batch 1",
    "post50": "sync POST, batch 50",
    "get1": "sync GET, batch 1",
    "async50": "AsyncEmitter POST, batch 50",
}
CPU_TARGET = 1 / 3
TRACK_CALL_TARGET = 1 / 5


class BenchmarkFailed(RuntimeError):
    """A run crashed, hung or lost events."""


@dataclass(frozen=True)
class Side:
    name: str
    python: Path
    package: Path
    environment: dict[str, str] | None


@dataclass(frozen=True)
class Run:
    cpu_us_per_event: float
    events_per_second: float
    delivered_seconds: float
    track_call_us: float | None


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000, help="events per run")
    parser.add_argument("--rounds", type=int, default=5, help="runs per tracker and scenario")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated")
    parser.add_argument("--smoke", action="store_true", help="300 events, 1 round (for CI)")
    parser.add_argument("--no-upstream", action="store_true", help="measure our tracker only")
    parser.add_argument("--upstream-venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--run-timeout", type=float, default=900.0, help="seconds per run")
    parser.add_argument("--strict", action="store_true", help="exit 2 when a target is missed")
    parser.add_argument(
        "--profile",
        choices=sorted(SCENARIOS),
        help="run our side of one scenario once under pyinstrument and print its report",
    )
    args = parser.parse_args()
    if args.smoke:
        args.events, args.rounds, args.run_timeout = 300, 1, 60.0
    unknown = set(args.scenarios.split(",")) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s) {sorted(unknown)}; known: {sorted(SCENARIOS)}")
    return args


def _our_side() -> Side:
    python = Path(sys.executable)
    found = probe(python)
    if found is None or found[1] != OUR_PACKAGE:
        raise BenchmarkFailed(
            f"{python} does not import snowplow_tracker from {OUR_PACKAGE} "
            f"(got {found}); run this script with the project venv's python"
        )
    return Side("ours", python, found[1], None)


def _upstream_side(args: argparse.Namespace) -> Side | None:
    if args.no_upstream:
        return None
    try:
        package = ensure_upstream(args.upstream_venv, timeout=20.0 if args.smoke else 300.0)
    except PeerUnavailable as exc:
        if not args.smoke:
            raise BenchmarkFailed(str(exc)) from exc
        print(f"note: upstream skipped in smoke mode: {exc}", file=sys.stderr)
        return None
    return Side("upstream", peer_python(args.upstream_venv), package, clean_environment())


def run_once(
    side: Side,
    scenario: str,
    receiver: Receiver,
    args: argparse.Namespace,
    profiler: list[str] | None = None,
) -> Run:
    """One subprocess run; checks that the receiver got every event exactly once."""
    run_id = f"{side.name}-{scenario}-{time.monotonic_ns()}"
    command = [
        str(side.python), "-E", "-s", *(profiler or []), str(WORKLOAD), "--scenario", scenario,
        "--port", str(receiver.port), "--events", str(args.events), "--run-id", run_id,
        "--expect-package", str(side.package), "--timeout", str(args.run_timeout),
    ]  # fmt: skip
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=args.run_timeout + 30,
            env=side.environment,
            cwd=HERE,
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchmarkFailed(f"{side.name} {scenario}: no result in time") from exc
    if done.returncode != 0:
        raise BenchmarkFailed(
            f"{side.name} {scenario}: exit {done.returncode}\n{done.stderr[-3000:]}"
        )
    if profiler:
        print(done.stdout, done.stderr, sep="\n")
    result = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("{")))
    count = receiver.tally.take(run_id)
    if not count.complete(args.events):
        raise BenchmarkFailed(
            f"{side.name} {scenario}: the receiver got {count.events} events "
            f"({count.distinct_ids} distinct ids, {count.malformed} malformed) "
            f"in {count.requests} requests; {args.events} were tracked"
        )
    call = result["track_call_median_us"]
    return Run(
        cpu_us_per_event=result["cpu_s"] / args.events * 1e6,
        events_per_second=args.events / result["wall_s"],
        delivered_seconds=result["wall_s"],
        track_call_us=float(call) if call is not None else None,
    )


def _median(runs: list[Run], field: str) -> float | None:
    values = [getattr(r, field) for r in runs if getattr(r, field) is not None]
    return statistics.median(values) if values else None


def _ratio(ours: float | None, theirs: float | None) -> float | None:
    return ours / theirs if ours is not None and theirs else None


def _paired_ratio(by_side: dict[str, list[Run]], field: str) -> float | None:
    """The median of ours/upstream over the rounds: each pair ran back to back, so
    drift in the machine's speed between rounds cancels out."""
    pairs = zip(by_side["ours"], by_side.get("upstream", []), strict=False)
    ratios = [_ratio(getattr(o, field), getattr(u, field)) for o, u in pairs]
    present = [r for r in ratios if r is not None]
    return statistics.median(present) if present else None


def summarize(results: dict[str, dict[str, list[Run]]], compared: bool) -> tuple[str, bool]:
    """The tables as printed, and whether every target passed."""
    passed = True
    rows = []
    for scenario, by_side in results.items():
        ours = _median(by_side["ours"], "cpu_us_per_event")
        theirs = _median(by_side.get("upstream", []), "cpu_us_per_event")
        ratio = _paired_ratio(by_side, "cpu_us_per_event")
        ok = ratio is not None and ratio <= CPU_TARGET
        passed = passed and (ok or not compared)
        rows.append([
            SCENARIOS[scenario], number(ours), number(theirs), number(ratio, 3),
            "≤ 0.333", verdict(ok) if compared else "—",
            number(_median(by_side["ours"], "events_per_second"), 0),
            number(_median(by_side.get("upstream", []), "events_per_second"), 0),
        ])  # fmt: skip
    text = table(
        ["scenario", "ours CPU µs/event", "upstream CPU µs/event", "ours/upstream", "target",
         "verdict", "ours events/s", "upstream events/s"],
        rows,
    )  # fmt: skip
    if "async50" in results:
        by_side = results["async50"]
        ours = _median(by_side["ours"], "track_call_us")
        theirs = _median(by_side.get("upstream", []), "track_call_us")
        ratio = _paired_ratio(by_side, "track_call_us")
        ok = ratio is not None and ratio <= TRACK_CALL_TARGET
        passed = passed and (ok or not compared)
        text += "\n\n" + table(
            ["AsyncEmitter POST, batch 50", "ours", "upstream", "ours/upstream", "target",
             "verdict"],
            [
                ["median track() call, µs", number(ours, 2), number(theirs, 2),
                 number(ratio, 3), "≤ 0.200", verdict(ok) if compared else "—"],
                ["time until all delivered, s",
                 number(_median(by_side["ours"], "delivered_seconds"), 2),
                 number(_median(by_side.get("upstream", []), "delivered_seconds"), 2),
                 number(_paired_ratio(by_side, "delivered_seconds"), 3),
                 "", ""],
            ],
        )  # fmt: skip
    return text, passed


def profile(scenario: str, args: argparse.Namespace) -> int:
    """Our side of ``scenario`` once under pyinstrument (``pip install pyinstrument``)."""
    side = _our_side()
    if probe_module(side.python, "pyinstrument") is False:
        print("FAILED: pyinstrument is not installed: pip install pyinstrument", file=sys.stderr)
        return 1
    profiler = ["-m", "pyinstrument", "-r", "text"]
    with Receiver() as receiver:
        run = run_once(side, scenario, receiver, args, profiler=profiler)
    print(f"{run.cpu_us_per_event:.1f} CPU µs/event under the profiler")
    return 0


def probe_module(python: Path, module: str) -> bool:
    done = subprocess.run([str(python), "-c", f"import {module}"], capture_output=True)
    return done.returncode == 0


def main() -> int:
    args = _arguments()
    scenarios = args.scenarios.split(",")
    if args.profile:
        try:
            return profile(args.profile, args)
        except BenchmarkFailed as exc:
            print(f"FAILED: {exc}", file=sys.stderr)
            return 1
    try:
        sides = [_our_side()]
        upstream = _upstream_side(args)
        if upstream is not None:
            sides.append(upstream)
        print(machine_summary())
        print(
            f"{args.events:,} events per run, {args.rounds} round(s), sides: "
            + ", ".join(f"{s.name} ({s.package})" for s in sides)
        )
        results: dict[str, dict[str, list[Run]]] = {s: {} for s in scenarios}
        with Receiver() as receiver:
            for round_number in range(1, args.rounds + 1):
                for scenario in scenarios:
                    for side in sides:
                        run = run_once(side, scenario, receiver, args)
                        results[scenario].setdefault(side.name, []).append(run)
                        call = f", track() {run.track_call_us:.2f} µs" if run.track_call_us else ""
                        print(
                            f"  round {round_number} {scenario:8} {side.name:8} "
                            f"{run.cpu_us_per_event:9.1f} CPU µs/event "
                            f"{run.events_per_second:9.0f} events/s{call}",
                            flush=True,
                        )
            if receiver.tally.bad_requests:
                raise BenchmarkFailed(f"{receiver.tally.bad_requests} bad request(s) received")
    except BenchmarkFailed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    text, passed = summarize(results, compared=upstream is not None)
    print()
    print(text)
    print(
        "\nfigures: medians over the rounds; ours/upstream: median of the per-round ratios"
        if upstream is not None
        else "\n(upstream not measured: no ratios, no verdicts)"
    )
    return 2 if args.strict and not passed else 0


if __name__ == "__main__":
    sys.exit(main())
