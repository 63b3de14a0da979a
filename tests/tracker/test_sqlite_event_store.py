"""The durable queue: on disk before track() returns, claims, crash recovery, sharing."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from snowplow_tracker import AsyncEmitter, Emitter, SQLiteEventStore, Tracker
from tests.support.recorder import Answer, Recorder
from tests.support.subprocesses import ROOT
from tests.tracker.test_delivery import dead_url


def test_events_are_on_disk_when_add_returns(tmp_path: Path) -> None:
    store = SQLiteEventStore(tmp_path / "q.sqlite")
    for i in range(10):
        assert store.add_event({"e": "pv", "eid": str(i)})
    other = SQLiteEventStore(tmp_path / "q.sqlite")
    assert other.size() == 10
    assert [e["eid"] for e in other.get_events_batch(4)] == ["0", "1", "2", "3"]
    assert store.size() == 6, "claimed events are not offered to anyone else"


def test_cleanup_deletes_or_releases(tmp_path: Path) -> None:
    store = SQLiteEventStore(tmp_path / "q.sqlite")
    for i in range(4):
        store.add_event({"eid": str(i)})
    batch = store.get_events_batch(2)
    store.cleanup(batch[:1], False)
    store.cleanup(batch[1:], True)
    assert store.total() == 3
    assert [e["eid"] for e in store.get_events_batch()] == ["1", "2", "3"]


def test_capacity_is_bounded_and_overflow_is_reported(tmp_path: Path) -> None:
    drops: list[str] = []
    store = SQLiteEventStore(tmp_path / "q.sqlite", max_events=3)
    emitter = Emitter(
        dead_url(),
        batch_size=100,
        event_store=store,
        on_drop=lambda reason, events: drops.append(reason),
    )
    assert [emitter.input({"e": "pv", "eid": str(i)}) for i in range(5)] == [True] * 3 + [False] * 2
    assert drops == ["queue_full", "queue_full"]


def test_claims_of_a_dead_process_are_released(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite"
    code = f"""
        from snowplow_tracker import SQLiteEventStore
        store = SQLiteEventStore({str(path)!r})
        for i in range(5):
            store.add_event({{"eid": str(i)}})
        assert len(store.get_events_batch(3)) == 3
        print("claimed", flush=True)
        import time; time.sleep(60)
    """
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "claimed"
    assert SQLiteEventStore(path).size() == 2
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()
    reopened = SQLiteEventStore(path)
    assert [e["eid"] for e in reopened.get_events_batch()] == ["0", "1", "2", "3", "4"]


def test_delivery_through_the_durable_store(recorder: Recorder, tmp_path: Path) -> None:
    recorder.answer_next(Answer(503))
    store = SQLiteEventStore(tmp_path / "q.sqlite")
    emitter = AsyncEmitter(recorder.url, batch_size=10, event_store=store)
    tracker = Tracker("ns", emitter)
    for i in range(35):
        tracker.track_page_view(f"https://p/{i}")
    report = emitter.flush(timeout=15)
    assert report.sent == 35 and report.pending == 0
    assert store.total() == 0
    eids = [e["eid"] for e in recorder.events()]
    assert len(set(eids)) == 35


def test_processes_sharing_one_file_never_send_an_event_twice(
    recorder: Recorder, tmp_path: Path
) -> None:
    path = tmp_path / "shared.sqlite"
    filler = SQLiteEventStore(path)
    for i in range(600):
        filler.add_event(
            {"e": "se", "p": "pc", "tv": "t", "eid": f"id-{i}", "se_ca": "c", "se_ac": "a"}
        )
    code = f"""
        from snowplow_tracker import Emitter, SQLiteEventStore
        store = SQLiteEventStore({str(path)!r})
        emitter = Emitter({recorder.url!r}, batch_size=25, event_store=store)
        emitter.flush(timeout=30)
        emitter.close(timeout=1)
    """
    workers = [
        subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT) for _ in range(3)
    ]
    for worker in workers:
        assert worker.wait(timeout=60) == 0
    eids = [e["eid"] for e in recorder.events()]
    assert len(eids) == 600 and len(set(eids)) == 600
    assert len({r.client_port for r in recorder.requests}) >= 2, "work was shared"
    assert filler.total() == 0


def test_age_is_bounded_by_the_emitters_max_event_age(recorder: Recorder, tmp_path: Path) -> None:
    import time

    store = SQLiteEventStore(tmp_path / "q.sqlite")
    old = str(int((time.time() - 7200) * 1000))
    store.add_event({"e": "pv", "p": "pc", "tv": "t", "eid": "old", "dtm": old})
    store.add_event({"e": "pv", "p": "pc", "tv": "t", "eid": "new", "dtm": old[:-3] + "999"})
    drops: list[str] = []
    emitter = Emitter(
        recorder.url,
        event_store=store,
        max_event_age=3 * 3600,
        on_drop=lambda reason, events: drops.extend(e["eid"] for e in events),
    )
    assert emitter.flush().sent == 2 and drops == []
    store.add_event({"e": "pv", "p": "pc", "tv": "t", "eid": "older", "dtm": "1000"})
    report = emitter.flush()
    assert drops == ["older"] and report.dropped == {"expired": 1}
    assert store.total() == 0


def test_a_lone_surrogate_is_queued_on_disk_and_sent_escaped(
    recorder: Recorder, tmp_path: Path
) -> None:
    store = SQLiteEventStore(tmp_path / "queue.sqlite")
    emitter = Emitter(recorder.url, batch_size=10, event_store=store)
    tracker = Tracker("ns", emitter)
    tracker.track_struct_event("cat\ud83d", "act")  # a cut emoji: must not raise
    tracker.track_struct_event("fine", "act")
    assert store.total() == 2
    emitter.flush()
    sent = recorder.wait_for_events(2)
    assert [e["se_ca"] for e in sent] == ["cat\ud83d", "fine"]
    assert b"\\ud83d" in recorder.requests[0].body
