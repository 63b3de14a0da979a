"""Delivery rules against a real HTTP server: batching, retry, backoff, drops, reports."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import pytest

from snowplow_tracker import AsyncEmitter, Emitter, InMemoryEventStore, Tracker
from tests.support.recorder import Answer, Recorder


def dead_url() -> str:
    """A local URL where nothing listens (connections are refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def track(tracker: Tracker, n: int) -> None:
    for i in range(n):
        tracker.track_struct_event("cat", "act", str(i))


def test_a_large_buffer_is_split_into_batch_size_posts(recorder: Recorder) -> None:
    emitter = Emitter(recorder.url, batch_size=10, buffer_capacity=1000)
    tracker = Tracker("ns", emitter)
    emitter.batch_size = 1000  # let 25 events pile up, then flush with batches of 10
    track(tracker, 25)
    emitter.delivery.limits = type(emitter.delivery.limits)(10, 900_000, 100)
    report = emitter.flush()
    assert [len(r.events()) for r in recorder.wait_for(3)] == [10, 10, 5]
    assert report.sent == 25 and report.pending == 0


def test_max_request_bytes_bounds_every_request_body(recorder: Recorder) -> None:
    emitter = AsyncEmitter(recorder.url, batch_size=100, max_request_bytes=2000)
    tracker = Tracker("ns", emitter)
    track(tracker, 60)
    assert emitter.flush(timeout=10).sent == 60
    requests = recorder.requests
    assert len(requests) > 1
    assert all(len(r.body) <= 2000 for r in requests)
    assert sum(len(r.events()) for r in requests) == 60


def test_time_based_flush_sends_a_partial_batch(recorder: Recorder) -> None:
    emitter = AsyncEmitter(recorder.url, batch_size=50, flush_interval=0.2)
    tracker = Tracker("ns", emitter)
    track(tracker, 3)
    events = recorder.wait_for_events(3, timeout=5)
    assert len(events) == 3


@pytest.mark.parametrize("status", [503, 429])
def test_retry_after_is_honoured(recorder: Recorder, status: int) -> None:
    recorder.answer_next(Answer(status, {"Retry-After": "2"}))
    emitter = AsyncEmitter(recorder.url, batch_size=1)
    Tracker("ns", emitter).track_page_view("https://p/")
    first, second = recorder.wait_for(2, timeout=10)
    assert second.received_at - first.received_at >= 2.0
    assert first.events()[0]["eid"] == second.events()[0]["eid"]
    emitter.flush(timeout=5)
    stats = emitter.stats()
    assert stats.sent == 1 and stats.retried == 1 and stats.failed == 1


@pytest.mark.parametrize("status", [400, 401, 403, 410, 422])
def test_permanent_statuses_are_not_retried_and_are_reported(
    recorder: Recorder, status: int
) -> None:
    recorder.default = Answer(status)
    failures: list[tuple[int, int]] = []
    drops: list[tuple[str, int]] = []
    emitter = Emitter(
        recorder.url,
        batch_size=1,
        on_failure=lambda n_ok, events: failures.append((n_ok, len(events))),
        on_drop=lambda reason, events: drops.append((reason, len(events))),
    )
    Tracker("ns", emitter).track_page_view("https://p/")
    report = emitter.flush(timeout=3)
    assert len(recorder.requests) == 1
    assert failures == [(0, 1)]
    assert drops == [("rejected", 1)]
    assert report.dropped == {"rejected": 1} and report.pending == 0
    assert f"HTTP {status}" in (emitter.stats().last_error or "")


def test_custom_retry_codes_override_per_emitter(recorder: Recorder) -> None:
    recorder.default = Answer(500)
    emitter = Emitter(recorder.url, batch_size=1, custom_retry_codes={500: False})
    Tracker("ns", emitter).track_page_view("https://p/")
    assert emitter.flush(timeout=2).dropped == {"rejected": 1}
    assert len(recorder.requests) == 1


def test_413_splits_the_batch_and_drops_a_single_oversized_event(recorder: Recorder) -> None:
    limit = 3000
    # The server answers 413 to any body above the limit.
    original = recorder._record

    def record(request: Any) -> Answer:
        answer = original(request)
        return Answer(413) if len(request.body) > limit else answer

    recorder._record = record  # type: ignore[method-assign]
    drops: list[tuple[str, int]] = []
    emitter = Emitter(
        recorder.url,
        batch_size=1000,
        on_drop=lambda reason, events: drops.append((reason, len(events))),
    )
    tracker = Tracker("ns", emitter)
    for i in range(20):
        tracker.track_struct_event("c", "a", "x" * 100 + str(i))
    tracker.track_struct_event("c", "a", "y" * 5000)
    report = emitter.flush(timeout=5)
    delivered = [e for r in recorder.requests if len(r.body) <= limit for e in r.events()]
    assert len(delivered) == 20
    assert len({e["eid"] for e in delivered}) == 20
    assert drops == [("too_large", 1)]
    assert report.sent == 20 and report.dropped == {"too_large": 1}


def test_full_queue_drops_the_newest_and_reports_it() -> None:
    drops: list[str] = []
    emitter = AsyncEmitter(
        dead_url(),
        batch_size=100,
        buffer_capacity=5,
        on_drop=lambda reason, events: drops.extend(reason for _ in events),
    )
    results = [emitter.input({"e": "pv", "eid": str(i)}) for i in range(8)]
    assert results == [True] * 5 + [False] * 3
    assert drops == ["queue_full"] * 3
    assert emitter.stats().dropped == {"queue_full": 3}


def test_dead_endpoint_costs_a_bounded_number_of_attempts() -> None:
    emitter = AsyncEmitter(dead_url(), batch_size=10, max_retry_delay_seconds=60)
    tracker = Tracker("ns", emitter)
    track(tracker, 100)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        time.sleep(0.1)  # observing the sender for a fixed window is the point here
    attempts = emitter.stats().attempts
    assert 1 <= attempts <= 12, attempts
    assert emitter.stats().queued + emitter.stats().in_flight == 100


def test_track_never_waits_on_the_network_with_async_emitter() -> None:
    # A server that accepts connections but never answers.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(100)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    try:
        emitter = AsyncEmitter(url, batch_size=1, request_timeout=(1, 5))
        tracker = Tracker("ns", emitter)
        started = time.perf_counter()
        track(tracker, 200)
        assert time.perf_counter() - started < 0.5
    finally:
        listener.close()


def test_events_older_than_max_event_age_are_given_up(recorder: Recorder) -> None:
    drops: list[str] = []
    emitter = Emitter(
        recorder.url,
        batch_size=10,
        max_event_age=60,
        on_drop=lambda reason, events: drops.append(reason),
    )
    old_ms = str(int((time.time() - 120) * 1000))
    emitter.input({"e": "pv", "p": "pc", "tv": "t", "eid": "a", "dtm": old_ms})
    emitter.input(
        {"e": "pv", "p": "pc", "tv": "t", "eid": "b", "dtm": str(int(time.time() * 1000))}
    )
    report = emitter.flush()
    assert drops == ["expired"]
    assert report.sent == 1 and report.dropped == {"expired": 1}
    assert [e["eid"] for e in recorder.events()] == ["b"]


def test_a_raising_callback_never_stops_delivery(recorder: Recorder, caplog: Any) -> None:
    calls: list[int] = []

    def bad_callback(events: list[Any]) -> None:
        calls.append(len(events))
        raise RuntimeError("user bug")

    emitter = AsyncEmitter(recorder.url, batch_size=5, on_success=bad_callback)
    tracker = Tracker("ns", emitter)
    track(tracker, 20)
    assert emitter.flush(timeout=10).sent == 20
    assert sum(calls) == 20
    assert "user bug" in caplog.text


def test_flush_and_close_return_reports_and_close_is_idempotent(recorder: Recorder) -> None:
    emitter = AsyncEmitter(recorder.url, batch_size=7)
    tracker = Tracker("ns", emitter)
    track(tracker, 30)
    report = emitter.flush(timeout=10)
    assert (report.sent, report.pending, report.dropped) == (30, 0, {})
    final = emitter.close(timeout=5)
    assert final is emitter.close(timeout=5)
    assert emitter.input({"e": "pv"}) is False
    assert emitter.stats().dropped == {"closed": 1}


def test_close_with_the_endpoint_down_respects_its_deadline() -> None:
    emitter = AsyncEmitter(dead_url(), batch_size=10)
    tracker = Tracker("ns", emitter)
    track(tracker, 50)
    started = time.monotonic()
    report = emitter.close(timeout=1.5)
    assert time.monotonic() - started < 2.5
    assert report.dropped.get("shutdown", 0) + report.pending == 50
    assert report.sent == 0


def test_sixteen_threads_share_one_tracker(recorder: Recorder) -> None:
    emitter = AsyncEmitter(recorder.url, batch_size=50, buffer_capacity=50_000)
    tracker = Tracker("ns", emitter)
    threads = [threading.Thread(target=track, args=(tracker, 500)) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert emitter.flush(timeout=30).sent == 8000
    eids = [e["eid"] for e in recorder.events()]
    assert len(eids) == len(set(eids)) == 8000


def test_in_memory_store_keeps_order_when_a_batch_is_put_back() -> None:
    store = InMemoryEventStore(buffer_capacity=3)
    for i in range(3):
        assert store.add_event({"i": i})
    batch = store.get_events_batch(2)
    assert not store.add_event({"i": 9}), "in-flight events count against capacity"
    store.cleanup(batch, True)
    assert [e["i"] for e in store.get_events_batch()] == [0, 1, 2]


def test_upstream_send_events_and_flush_timer(recorder: Recorder) -> None:
    emitter = AsyncEmitter(recorder.url, batch_size=100, flush_interval=None)
    emitter.send_events([{"e": "pv", "eid": "a"}, {"e": "pv", "eid": "b"}])
    assert [e["eid"] for e in recorder.wait_for_events(2)] == ["a", "b"]
    emitter.set_flush_timer(0.1)
    emitter.input({"e": "pv", "eid": "c"})
    assert recorder.wait_for_events(3)[-1]["eid"] == "c"
    emitter.cancel_flush_timer()
    assert emitter.flush_interval is None


def test_a_batch_failing_after_close_is_reported_not_lost(recorder: Recorder) -> None:
    recorder.answer_next(Answer(503, delay=1.0))
    drops: list[tuple[str, int]] = []
    done = threading.Event()

    def on_drop(reason: str, events: list[Any]) -> None:
        drops.append((reason, len(events)))
        done.set()

    emitter = AsyncEmitter(recorder.url, batch_size=5, on_drop=on_drop)
    tracker = Tracker("ns", emitter)
    track(tracker, 5)
    recorder.wait_for(1)  # the batch is in flight; its answer comes after close's deadline
    report = emitter.close(timeout=0.2)
    assert report.pending == 5
    assert done.wait(5), "the failed batch was never reported"
    assert drops == [("shutdown", 5)]
    assert emitter.stats().dropped == {"shutdown": 5}
