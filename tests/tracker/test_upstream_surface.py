"""Upstream's attributes, module names and hooks, against a real local endpoint.

What upstream's own suite checks with mocks, checked here over real sockets: the
byte_limit flush trigger, the retry timer, the AsyncEmitter's queue, the names 0.x and
1.x code imports, and the hooks (get_uuid, uuid.uuid4, complete_payload, input) that a
test patches to see or decide what the tracker does.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any
from unittest import mock

import pytest

import snowplow_tracker
from snowplow_tracker import AsyncEmitter, Emitter, PageView, Payload, Tracker
from snowplow_tracker.events import Event
from snowplow_tracker.flush_timer import FlushTimer
from tests.support.recorder import Answer, Recorder


def test_byte_limit_sends_a_batch_early_and_never_splits_it(recorder: Recorder) -> None:
    emitter = Emitter(recorder.url, batch_size=10, byte_limit=300)
    tracker = Tracker("ns", emitter)
    tracker.track_struct_event("cat", "one")
    queued = emitter.bytes_queued
    assert queued is not None and 100 < queued < 300  # len(str(event)), as upstream counts
    assert recorder.requests == []
    tracker.track_struct_event("cat", "two")  # past 300: the batch goes, whole
    assert [len(r.events()) for r in recorder.wait_for(1)] == [2]
    assert emitter.bytes_queued == 0
    assert Emitter(recorder.url).bytes_queued is None  # no byte_limit, no count


def test_the_endpoint_attribute_is_the_url_and_timeouts_apply_by_default() -> None:
    post = Emitter("collector.example.com")
    get = Emitter("http://127.0.0.1:8080", method="get")
    assert post.endpoint == "https://collector.example.com/com.snowplowanalytics.snowplow/tp2"
    assert get.endpoint == "http://127.0.0.1:8080/i"
    assert post.parsed_endpoint.base == "https://collector.example.com"
    assert post.request_timeout is None  # as given, as upstream
    assert post.transport.timeout == (5.0, 15.0)  # but requests are bounded


def test_retry_timer_redelivers_after_a_retryable_failure(recorder: Recorder) -> None:
    recorder.answer_next(Answer(503))
    delivered: list[list[dict[str, Any]]] = []
    emitter = Emitter(recorder.url, batch_size=1, on_success=delivered.append)
    assert isinstance(emitter.retry_timer, FlushTimer) and not emitter.retry_timer.is_active()
    Tracker("ns", emitter).track_page_view("https://p/")
    assert emitter.retry_timer.is_active()
    assert emitter.retry_delay > 0
    first, second = recorder.wait_for(2)
    assert first.events()[0]["eid"] == second.events()[0]["eid"]
    emitter.flush(timeout=5)
    assert len(delivered) == 1 and delivered[0][0]["stm"] == second.events()[0]["stm"]
    assert emitter.retry_delay == 0


def test_flush_timer_flushes_a_partial_batch(recorder: Recorder) -> None:
    emitter = Emitter(recorder.url, batch_size=10)
    Tracker("ns", emitter).track_page_view("https://p/")
    emitter.set_flush_timer(0.1)
    assert emitter.timer.is_active()
    assert len(recorder.wait_for_events(1)) == 1
    emitter.cancel_flush_timer()
    assert not emitter.timer.is_active()


def test_async_emitter_is_an_emitter_whose_queue_takes_flush_requests(
    recorder: Recorder,
) -> None:
    emitter = AsyncEmitter(recorder.url, batch_size=10, flush_interval=None)
    assert isinstance(emitter, Emitter)
    assert emitter.queue.empty()
    tracker = Tracker("ns", emitter)
    for i in range(3):
        tracker.track_struct_event("cat", str(i))
    assert recorder.requests == []  # a partial batch waits for a flush
    emitter.flush()
    emitter.queue.join()  # returns once a sender thread handled the request
    assert len(recorder.events()) == 3
    emitter.async_flush()  # nothing left: a request that sends nothing
    emitter.queue.join()
    assert len(recorder.requests) == 1


def test_replaced_requester_functions_carry_every_request(recorder: Recorder) -> None:
    emitter = Emitter(recorder.url, batch_size=1)
    sent: list[str] = []

    def post(url: str, **kwargs: Any) -> Any:
        sent.append(kwargs["data"])
        return mock.Mock(status_code=200)

    emitter.request_method.post = post
    Tracker("ns", emitter).track_page_view("https://p/")
    assert len(sent) == 1 and isinstance(sent[0], str)
    assert recorder.requests == []


def test_callbacks_can_be_set_after_construction(recorder: Recorder) -> None:
    emitter = Emitter(recorder.url, batch_size=1)
    seen: list[int] = []
    emitter.on_success = lambda events: seen.append(len(events))
    Tracker("ns", emitter).track_page_view("https://p/")
    assert seen == [1]
    assert emitter.on_failure is None


def test_names_that_0x_and_1x_code_imports() -> None:
    from snowplow_tracker import emitters, redis_worker, snowplow
    from snowplow_tracker.redis_queue import RedisEmitter, RedisWorker

    assert emitters.DEFAULT_MAX_LENGTH == 10
    assert emitters.logger is logging.getLogger("snowplow_tracker")
    assert snowplow.logger is emitters.logger
    assert emitters.RedisEmitter is RedisEmitter
    assert redis_worker.RedisWorker is RedisWorker
    assert emitters.FlushTimer is FlushTimer
    assert emitters.PAYLOAD_DATA_SCHEMA.endswith("payload_data/jsonschema/1-0-4")
    with pytest.raises(AttributeError):
        emitters.NoSuchName  # noqa: B018
    # 0.x's worker signature: every argument after the emitter is optional.
    worker_defaults = RedisWorker.__init__.__defaults__
    assert worker_defaults is not None and worker_defaults[:2] == (None, "snowplow")


def test_a_patched_uuid4_decides_event_ids() -> None:
    fixed = uuid.UUID("5628c4c6-3f8a-43f8-a09f-6ff68f68dfb6")
    with mock.patch("uuid.uuid4", return_value=fixed):
        assert Tracker.get_uuid() == str(fixed)
    assert Tracker.get_uuid() != str(fixed)


def test_a_replaced_input_gets_upstreams_payload_types() -> None:
    with mock.patch.object(Emitter, "input") as replaced:
        tracker = Tracker("ns", Emitter("http://127.0.0.1:9"), app_id="app")
        eid = tracker.track(PageView("https://p/"))
    (payload,), _ = replaced.call_args
    assert payload["eid"] == eid and type(payload["dtm"]) is int
    assert payload["aid"] == "app" and payload["url"] == "https://p/"


def test_an_event_with_its_own_build_payload_goes_upstreams_way() -> None:
    class Custom(Event):
        def build_payload(
            self, encode_base64: bool, json_encoder: Any, subject: Any = None
        ) -> Payload:
            payload = Payload()
            payload.add("e", "se")
            payload.add("se_ca", "custom")
            return payload

    received: list[dict[str, Any]] = []

    class Sink:
        def input(self, payload: dict[str, Any]) -> None:
            received.append(payload)

    eid = Tracker("ns", Sink()).track(Custom())
    assert received[0]["se_ca"] == "custom" and received[0]["eid"] == eid
    assert type(received[0]["dtm"]) is int and received[0]["tna"] == "ns"
    assert "aid" not in received[0]  # None is left out, as upstream's Payload.add does


def test_a_patched_complete_payload_is_what_track_sends() -> None:
    received: list[dict[str, Any]] = []

    class Sink:
        def input(self, payload: dict[str, Any]) -> None:
            received.append(payload)

    made = Payload({"e": "pv", "url": "https://patched/", "eid": "fixed-id"})
    with mock.patch.object(Tracker, "complete_payload", return_value=made) as patched:
        assert Tracker("ns", Sink()).track(PageView("https://p/")) == "fixed-id"
    assert patched.call_args.kwargs == {"event": mock.ANY}
    assert received == [made.nv_pairs]


def test_the_tracker_keeps_upstreams_standard_pairs_and_timer() -> None:
    tracker = Tracker("ns", Emitter("http://127.0.0.1:9"))
    assert tracker.standard_nv_pairs == {
        "tv": "py-" + snowplow_tracker.__version__,
        "tna": "ns",
        "aid": None,
    }
    assert tracker.timer is None
