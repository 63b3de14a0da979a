"""Exit and fork, in real subprocesses: buffered events are delivered once, exits are bounded."""

from __future__ import annotations

import time

from tests.support.recorder import Recorder
from tests.support.subprocesses import run_python
from tests.tracker.test_delivery import dead_url


def test_events_buffered_at_exit_are_delivered(recorder: Recorder) -> None:
    result = run_python(
        f"""
        from snowplow_tracker import AsyncEmitter, Tracker
        emitter = AsyncEmitter({recorder.url!r}, batch_size=50, flush_interval=None)
        tracker = Tracker("ns", emitter)
        for i in range(1234):
            tracker.track_struct_event("exit", "track", str(i))
        # no flush: main returns with most events still queued
        """
    )
    assert result.returncode == 0, result.stderr
    events = recorder.wait_for_events(1234, timeout=5)
    assert sorted(int(e["se_la"]) for e in events) == list(range(1234))
    assert result.stderr == ""


def test_exit_with_endpoint_down_is_bounded_and_reports_the_loss() -> None:
    result = run_python(
        f"""
        import time, sys
        from snowplow_tracker import AsyncEmitter, Tracker
        emitter = AsyncEmitter({dead_url()!r}, batch_size=10, exit_timeout=1.5)
        tracker = Tracker("ns", emitter)
        for i in range(300):
            tracker.track_struct_event("exit", "down", str(i))
        print(time.monotonic(), flush=True)
        """
    )
    ended = time.monotonic()
    assert result.returncode == 0, result.stderr
    tracked_at = float(result.stdout.strip())
    assert ended - tracked_at < 1.5 + 1.0
    assert "300 event(s) not delivered at exit" in result.stderr


def test_sync_emitter_events_waiting_for_a_retry_are_sent_at_exit(recorder: Recorder) -> None:
    result = run_python(
        f"""
        from snowplow_tracker import Emitter, Tracker
        emitter = Emitter({recorder.url!r}, batch_size=100)
        tracker = Tracker("ns", emitter)
        for i in range(42):
            tracker.track_page_view("https://p/" + str(i))
        """
    )
    assert result.returncode == 0, result.stderr
    assert len(recorder.wait_for_events(42, timeout=5)) == 42


def test_fork_parent_and_child_each_send_their_own_events_once(recorder: Recorder) -> None:
    result = run_python(
        f"""
        import os
        from snowplow_tracker import AsyncEmitter, Tracker
        emitter = AsyncEmitter({recorder.url!r}, batch_size=20)
        tracker = Tracker("ns", emitter)
        for i in range(100):
            tracker.track_struct_event("parent", "before", str(i))
        pid = os.fork()
        role = "child" if pid == 0 else "parent"
        for i in range(150):
            tracker.track_struct_event(role, "after", str(i))
        if pid == 0:
            report = emitter.close(timeout=10)
            os._exit(0 if report.sent == 150 and report.pending == 0 else 3)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        report = emitter.close(timeout=10)
        assert report.sent == 250, report
        """
    )
    assert result.returncode == 0, result.stderr
    events = recorder.wait_for_events(400, timeout=5)
    eids = [e["eid"] for e in events]
    assert len(eids) == len(set(eids)) == 400
    by_role: dict[str, int] = {}
    for e in events:
        by_role[e["se_ca"] + "/" + e["se_ac"]] = by_role.get(e["se_ca"] + "/" + e["se_ac"], 0) + 1
    assert by_role == {"parent/before": 100, "parent/after": 150, "child/after": 150}


def test_asyncio_application_awaits_flush_and_close(recorder: Recorder) -> None:
    import asyncio

    from snowplow_tracker import AsyncioEmitter, Tracker

    async def app() -> None:
        emitter = AsyncioEmitter(recorder.url, batch_size=10)
        tracker = Tracker("ns", emitter)
        for i in range(25):
            tracker.track_page_view(f"https://p/{i}")
        report = await emitter.aflush(timeout=5)
        assert report.sent == 25
        final = await emitter.aclose(timeout=5)
        assert final.pending == 0

    asyncio.run(app())
    assert len(recorder.events()) == 25
