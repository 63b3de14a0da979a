"""The tracking workload, run in a fresh subprocess by either tracker's interpreter.

Both trackers share upstream 1.x's API, so this one file runs unchanged against
our ``snowplow_tracker`` (project venv) and upstream's (its own cached venv). It
tracks ``--events`` self-describing events with one context each (base64 on),
waits until every event is delivered, and prints one JSON line with the process
CPU time, the wall time and, for the async scenario, the cost of each
``track()`` call. A watchdog ends the process if delivery hangs.

Usage (from tracker_overhead.py): ``python -E -s _workload.py --scenario post1
--port 8080 --events 20000 --run-id r1 --expect-package /path/snowplow_tracker``
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import threading
import time
from typing import Any

from _events import make_event

#: name -> (emitter class, method, batch size)
SCENARIOS: dict[str, tuple[str, str, int]] = {
    "post1": ("Emitter", "post", 1),
    "post50": ("Emitter", "post", 50),
    "get1": ("Emitter", "get", 1),
    "async50": ("AsyncEmitter", "post", 50),
}


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--run-id", required=True, help="sent as app_id; the receiver counts by it")
    parser.add_argument("--expect-package", required=True, help="where snowplow_tracker must be")
    parser.add_argument("--timeout", type=float, default=600.0, help="watchdog, seconds")
    return parser.parse_args()


def _start_watchdog(seconds: float, scenario: str) -> None:
    def expire() -> None:
        print(f"workload {scenario}: not delivered within {seconds:.0f} s", file=sys.stderr)
        sys.stderr.flush()
        os._exit(3)

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()


def _make_emitter(module: Any, scenario: str, port: int, events: int, ours: bool) -> Any:
    class_name, method, batch = SCENARIOS[scenario]
    emitter_class = getattr(module, class_name)
    # Both sides hold every event of the run: tracking in a tight loop outruns one
    # background sender, and ours would drop past the default capacity of 10,000
    # (reported as queue_full) where upstream's unbounded queue keeps everything.
    capacity = max(10_000, events)
    size = {"buffer_size" if ours and class_name == "Emitter" else "batch_size": batch}
    # (The seed call uses buffer_size, the 0.x name of batch_size; upstream has batch_size.)
    return emitter_class(
        "127.0.0.1", protocol="http", port=port, method=method, buffer_capacity=capacity, **size
    )


def main() -> int:
    args = _arguments()
    import snowplow_tracker as tracker_module
    from snowplow_tracker import Tracker

    where = os.path.dirname(os.path.abspath(tracker_module.__file__))
    if where != os.path.abspath(args.expect_package):
        print(f"wrong snowplow_tracker imported: {where}", file=sys.stderr)
        return 2
    ours = hasattr(tracker_module, "AsyncioEmitter")
    # Upstream logs two INFO lines to stderr per request; silence it so the
    # comparison measures tracking, not terminal output.
    logging.getLogger("snowplow_tracker").setLevel(logging.WARNING)

    emitter = _make_emitter(tracker_module, args.scenario, args.port, args.events, ours)
    tracker = Tracker("bench", emitter, app_id=args.run_id, encode_base64=True)
    measure_calls = args.scenario == "async50"
    call_ns: list[int] = []
    clock = time.perf_counter_ns
    _start_watchdog(args.timeout, args.scenario)

    cpu_start = time.process_time()
    wall_start = time.perf_counter()
    for i in range(args.events):
        event = make_event(tracker_module, i)
        if measure_calls:
            before = clock()
            tracker.track(event)
            call_ns.append(clock() - before)
        else:
            tracker.track(event)
    tracked_wall = time.perf_counter() - wall_start
    tracker.flush()  # sync_flush on both: returns once everything is delivered
    wall = time.perf_counter() - wall_start
    cpu = time.process_time() - cpu_start

    if ours:
        stats = emitter.stats()
        emitter.close(timeout=1.0)
        if stats.sent != args.events:
            print(f"our emitter reports {stats.sent} sent: {stats}", file=sys.stderr)
            return 4
    result = {
        "cpu_s": cpu,
        "wall_s": wall,
        "tracked_wall_s": tracked_wall,
        "track_call_median_us": statistics.median(call_ns) / 1000 if call_ns else None,
        "track_call_p99_us": (
            statistics.quantiles(call_ns, n=100)[98] / 1000 if len(call_ns) > 100 else None
        ),
        "package": where,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
