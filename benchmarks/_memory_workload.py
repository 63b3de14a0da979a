"""Tracking into a dead endpoint, run in a fresh subprocess: how much memory does the queue take?

Tracks ``--events`` self-describing events (one context, base64 on) through an
``AsyncEmitter`` pointed at a local port nobody listens on, then prints one JSON
line: the RSS high-water mark after imports and setup (the baseline) and after
tracking (the peak), and what the emitter says it queued and dropped. Works with
our tracker and, for comparison, with upstream's (which has no ``stats()``).

Usage (from tracker_memory.py): ``python -E -s _memory_workload.py --port 9
--events 100000 --capacity 10000 --expect-package /path/snowplow_tracker``
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import sys
import threading
import time
from typing import Any

from _events import make_event


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True, help="a closed local port")
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--capacity", type=int, required=True, help="buffer_capacity")
    parser.add_argument("--expect-package", required=True, help="where snowplow_tracker must be")
    parser.add_argument("--timeout", type=float, default=300.0, help="watchdog, seconds")
    return parser.parse_args()


def max_rss_bytes() -> int:
    """The process's resident set high-water mark (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


class _RecordCounter(logging.Handler):
    """Counts the warnings the tracker logs (ours logs one per drop)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def _start_watchdog(seconds: float) -> None:
    def expire() -> None:
        print(f"memory workload: not finished within {seconds:.0f} s", file=sys.stderr)
        sys.stderr.flush()
        os._exit(3)

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()


def main() -> int:
    args = _arguments()
    import snowplow_tracker as module

    where = os.path.dirname(os.path.abspath(module.__file__))
    if where != os.path.abspath(args.expect_package):
        print(f"wrong snowplow_tracker imported: {where}", file=sys.stderr)
        return 2
    ours = hasattr(module, "AsyncioEmitter")
    _start_watchdog(args.timeout)
    options: dict[str, Any] = {"exit_timeout": 0.5, "request_timeout": 0.5} if ours else {}
    emitter: Any = module.AsyncEmitter(
        "127.0.0.1",
        protocol="http",
        port=args.port,
        batch_size=50,
        buffer_capacity=args.capacity,
        **options,
    )
    tracker = module.Tracker("bench", emitter, app_id="memory", encode_base64=True)
    log_records = _RecordCounter()
    logger = logging.getLogger("snowplow_tracker")
    logger.setLevel(logging.WARNING)  # upstream logs INFO per request; keep warnings only
    logger.addHandler(log_records)
    tracker.complete_payload(make_event(module, -1))  # warm every lazy import before the baseline
    baseline = max_rss_bytes()

    cpu_start = time.process_time()
    wall_start = time.perf_counter()
    for i in range(args.events):
        tracker.track(make_event(module, i))
    wall = time.perf_counter() - wall_start
    cpu = time.process_time() - cpu_start
    peak = max_rss_bytes()

    result: dict[str, Any] = {
        "baseline_bytes": baseline,
        "peak_bytes": peak,
        "track_wall_s": wall,
        "track_cpu_s": cpu,
        "warnings_logged": log_records.count,
        "package": where,
    }
    if ours:
        stats = emitter.stats()
        result.update(
            queued=stats.queued,
            in_flight=stats.in_flight,
            dropped=stats.dropped,
            attempts=stats.attempts,
            last_error=stats.last_error,
        )
        close_start = time.perf_counter()
        report = emitter.close(timeout=0.5)
        result.update(close_s=time.perf_counter() - close_start, dropped_after_close=report.dropped)
    else:
        # Upstream moves each full batch from its bounded store into an unbounded queue.
        batches = list(emitter.queue.queue)
        in_queue = sum(len(batch) for batch in batches)
        result.update(queued=emitter.event_store.size(), in_flight=in_queue, dropped=None)
    print(json.dumps(result))
    sys.stdout.flush()
    if not ours:
        os._exit(0)  # upstream's daemon threads may still be retrying; do not wait for them
    return 0


if __name__ == "__main__":
    sys.exit(main())
