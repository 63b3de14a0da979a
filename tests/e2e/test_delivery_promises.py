"""Issue acceptance for delivery: our tracker against a real endpoint process.

Outage, Retry-After, refusals, exit, crash, fork, concurrency and 413 — each
counted in the endpoint's SQLite file afterwards.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from datacoral.storage.sqlite import SQLiteStorage
from snowplow_tracker import AsyncEmitter, Emitter, Tracker
from tests.e2e.conftest import Endpoint, free_port, new_database, server_on_port
from tests.support.server import running_server
from tests.support.subprocesses import ROOT, run_python


def test_outage_in_the_middle_loses_nothing_and_does_not_hammer(tmp_path: Path) -> None:
    db, key = new_database(tmp_path)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    emitter = AsyncEmitter(url, batch_size=50, buffer_capacity=20_000, max_retry_delay_seconds=2)
    tracker = Tracker(emitter, api_key=key, datacoral_env="dev", namespace="outage")
    with server_on_port(db, port):
        for i in range(5000):
            tracker.track_struct_event("outage", "before", str(i))
        emitter.flush(timeout=30)
    attempts_before = emitter.stats().attempts
    outage_started = time.monotonic()
    for i in range(5000, 10_000):
        tracker.track_struct_event("outage", "during", str(i))
    while time.monotonic() - outage_started < 5:  # the endpoint stays down for 5 s
        time.sleep(0.1)
    attempts_during = emitter.stats().attempts - attempts_before
    with server_on_port(db, port):
        report = emitter.flush(timeout=60)
        assert report.pending == 0, report
    assert 1 <= attempts_during <= 20, attempts_during
    labels = Endpoint(None, db, key).stored_labels()
    assert len(labels) == 10_000
    assert sorted(map(int, labels)) == list(range(10_000))


def test_retry_after_from_the_endpoint_is_honoured(tmp_path: Path) -> None:
    db, key = new_database(tmp_path)
    with running_server(db, retry_after_seconds=2, storage_busy_timeout_seconds=0.2) as server:
        times: list[tuple[str, float]] = []
        emitter = Emitter(
            server.url,
            batch_size=1,
            on_failure=lambda n, events: times.append(("failure", time.monotonic())),
            on_success=lambda events: times.append(("success", time.monotonic())),
        )
        tracker = Tracker(emitter, api_key=key, datacoral_env="dev")
        blocker = sqlite3.connect(db, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            tracker.track_struct_event("retry", "after", "1")
            assert [kind for kind, _ in times] == ["failure"]
            assert emitter.stats().last_error.startswith("HTTP 503")  # type: ignore[union-attr]
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        emitter.flush(timeout=10)
        kinds = [kind for kind, _ in times]
        assert kinds == ["failure", "success"]
        assert times[1][1] - times[0][1] >= 2.0


@pytest.mark.parametrize(
    ("env_header", "use_real_key", "status"), [("dev", False, 401), ("prod", True, 403)]
)
def test_refusals_are_not_retried_and_are_reported(
    endpoint: Endpoint, env_header: str, use_real_key: bool, status: int
) -> None:
    failures: list[int] = []
    drops: list[tuple[str, int]] = []
    emitter = AsyncEmitter(
        endpoint.url,
        batch_size=5,
        on_failure=lambda n, events: failures.append(len(events)),
        on_drop=lambda reason, events: drops.append((reason, len(events))),
    )
    key = endpoint.key if use_real_key else "dck_not-a-real-key"
    tracker = Tracker(emitter, api_key=key, datacoral_env=env_header)
    for i in range(10):
        tracker.track_struct_event("refused", "x", str(i))
    report = emitter.flush(timeout=10)
    stats = emitter.stats()
    # Each event went out exactly once (batches may split by timing), none was retried;
    # on_failure heard about each event once.
    assert sum(failures) == 10 and stats.failed == 10 and stats.retried == 0
    assert all(reason == "rejected" for reason, _ in drops)
    assert sum(count for _, count in drops) == 10
    assert report.dropped == {"rejected": 10} and report.pending == 0
    assert f"HTTP {status}" in (stats.last_error or "")
    assert endpoint.counts("dev") == (0, 0, 0)


def test_events_buffered_at_exit_are_all_stored(endpoint: Endpoint) -> None:
    result = run_python(
        f"""
        from snowplow_tracker import AsyncEmitter, Tracker
        emitter = AsyncEmitter({endpoint.url!r}, batch_size=50)
        tracker = Tracker(emitter, api_key={endpoint.key!r}, datacoral_env="dev")
        for i in range(5000):
            tracker.track_struct_event("exit", "main", str(i))
        """
    )
    assert result.returncode == 0, result.stderr
    assert sorted(map(int, endpoint.stored_labels())) == list(range(5000))


def test_exit_with_the_endpoint_down_is_bounded_and_reported() -> None:
    result = run_python(
        f"""
        import time
        from snowplow_tracker import AsyncEmitter, Tracker
        emitter = AsyncEmitter("http://127.0.0.1:{free_port()}", batch_size=50, exit_timeout=2)
        tracker = Tracker(emitter, api_key="dck_k", datacoral_env="dev")
        for i in range(5000):
            tracker.track_struct_event("exit", "down", str(i))
        print(time.monotonic(), flush=True)
        """
    )
    ended = time.monotonic()
    assert result.returncode == 0, result.stderr
    assert ended - float(result.stdout) < 2 + 1
    assert "5000 event(s) not delivered at exit" in result.stderr


def test_crash_with_the_durable_store_loses_nothing(endpoint: Endpoint, tmp_path: Path) -> None:
    queue = tmp_path / "queue.sqlite"
    tracker_code = f"""
        import sys
        from snowplow_tracker import AsyncEmitter, SQLiteEventStore, Tracker
        emitter = AsyncEmitter({endpoint.url!r}, batch_size=50,
                               event_store=SQLiteEventStore({str(queue)!r}))
        tracker = Tracker(emitter, api_key={endpoint.key!r}, datacoral_env="dev")
        for i in range(5000):
            tracker.track_struct_event("crash", "kill", str(i))
        print("tracked", flush=True)
        sys.stdin.read()  # wait for the kill
    """
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(tracker_code)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert child.stdout is not None and child.stdin is not None
    assert child.stdout.readline().strip() == "tracked"
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()
    child.stdin.close()
    result = run_python(
        f"""
        from snowplow_tracker import Emitter, SQLiteEventStore
        store = SQLiteEventStore({str(queue)!r})
        emitter = Emitter({endpoint.url!r}, batch_size=100, event_store=store,
                          api_key={endpoint.key!r}, datacoral_env="dev")
        report = emitter.flush(timeout=60)
        assert report.pending == 0 and store.total() == 0, report
        """
    )
    assert result.returncode == 0, result.stderr
    labels = endpoint.stored_labels()
    assert len(labels) == 5000 and sorted(map(int, labels)) == list(range(5000))


def test_fork_parent_and_child_events_are_stored_once(endpoint: Endpoint) -> None:
    result = run_python(
        f"""
        import os
        from snowplow_tracker import AsyncEmitter, Tracker
        emitter = AsyncEmitter({endpoint.url!r}, batch_size=50)
        tracker = Tracker(emitter, api_key={endpoint.key!r}, datacoral_env="dev")
        for i in range(500):
            tracker.track_struct_event("fork", "x", "before-" + str(i))
        pid = os.fork()
        role = "child" if pid == 0 else "parent"
        for i in range(1000):
            tracker.track_struct_event("fork", "x", role + "-" + str(i))
        if pid == 0:
            report = emitter.close(timeout=30)
            os._exit(0 if report.pending == 0 and report.sent == 1000 else 3)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert emitter.close(timeout=30).sent == 1500
        """
    )
    assert result.returncode == 0, result.stderr
    labels = endpoint.stored_labels()
    expected = {f"{p}-{i}" for p in ("parent", "child") for i in range(1000)}
    expected |= {f"before-{i}" for i in range(500)}
    assert len(labels) == 2500 and set(labels) == expected
    assert endpoint.counts() == (2500, 0, 0)


def test_sixteen_threads_through_one_tracker(endpoint: Endpoint) -> None:
    emitter = AsyncEmitter(endpoint.url, batch_size=100, buffer_capacity=40_000, thread_count=2)
    tracker = Tracker(emitter, api_key=endpoint.key, datacoral_env="dev")

    def work(thread: int) -> None:
        for i in range(2000):
            tracker.track_struct_event("threads", str(thread), f"{thread}-{i}")

    threads = [threading.Thread(target=work, args=(t,)) for t in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report = emitter.flush(timeout=120)
    assert report.sent == 32_000 and report.pending == 0 and report.dropped == {}
    labels = endpoint.stored_labels()
    assert len(labels) == 32_000 == len(set(labels))


def test_413_splits_batches_and_drops_a_single_oversized_event(tmp_path: Path) -> None:
    db, key = new_database(tmp_path)
    with running_server(db, max_body_bytes=20_000) as server:
        drops: list[tuple[str, int]] = []
        emitter = Emitter(
            server.url,
            batch_size=200,
            on_drop=lambda reason, events: drops.append((reason, len(events))),
        )
        tracker = Tracker(emitter, api_key=key, datacoral_env="dev")
        for i in range(199):
            tracker.track_struct_event("split", "x" * 200, str(i))
        tracker.track_struct_event("split", "y" * 30_000, "huge")
        report = emitter.flush(timeout=30)
        assert drops == [("too_large", 1)]
        assert report.sent == 199 and report.dropped == {"too_large": 1}
        labels = Endpoint(server, db, key).stored_labels()
        assert sorted(map(int, labels)) == list(range(199))
        good, bad, _ = Endpoint(server, db, key).counts()
        assert good == 199 and bad >= 1, "the 413s were recorded as size violations"
        assert SQLiteStorage(db).latest_bad_rows("dev", 1)
