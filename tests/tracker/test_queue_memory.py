"""A queue of events costs about what the events weigh (allocations are not kept around)."""

from __future__ import annotations

import os

import pytest

from tests.support.subprocesses import run_python

_SCRIPT = """
import socket
from snowplow_tracker import AsyncEmitter, SelfDescribing, SelfDescribingJson, Tracker

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096

closed = socket.socket()
closed.bind(("127.0.0.1", 0))
port = closed.getsockname()[1]
closed.close()
emitter = AsyncEmitter(f"http://127.0.0.1:{port}", batch_size=50, buffer_capacity=20_000,
                       request_timeout=0.2, exit_timeout=0.2)
tracker = Tracker("ns", emitter)
schema = "iglu:com.acme/step/jsonschema/1-0-0"
tracker.track(SelfDescribing(SelfDescribingJson(schema, {"warm": 1})))
before = rss()
for i in range(20_000):
    tracker.track(SelfDescribing(
        SelfDescribingJson(schema, {"step": i, "note": "café"}),
        context=[SelfDescribingJson(schema, {"user": f"u{i}"})],
    ))
held = emitter.stats().queued + emitter.stats().in_flight
print((rss() - before) / max(held, 1), held)
emitter.close(timeout=0.2)
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads RSS from /proc (Linux)")
def test_queued_events_hold_about_their_own_size() -> None:
    out = run_python(_SCRIPT)
    assert out.returncode == 0, out.stderr
    per_event, held = out.stdout.split()
    assert int(held) >= 19_000
    # About 1 KB per event here; holding each encoder's 4 KiB buffer would be above 5 KB.
    assert float(per_event) < 3_000, out.stdout
