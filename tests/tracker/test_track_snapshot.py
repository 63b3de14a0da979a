"""What track() fixes at the call, whatever the caller does afterwards and wherever it goes."""

from __future__ import annotations

import datetime
import os
import threading
from typing import Any

import pytest

from snowplow_tracker import (
    AsyncEmitter,
    Emitter,
    SelfDescribing,
    SelfDescribingJson,
    SQLiteEventStore,
    Subject,
    Tracker,
)
from snowplow_tracker.tracker import new_event_id
from tests.support.recorder import Answer, Recorder, decode_b64_json

SCHEMA = "iglu:com.acme/thing/jsonschema/1-0-0"


def _event(data: dict[str, Any], entity: dict[str, Any]) -> SelfDescribing:
    return SelfDescribing(
        SelfDescribingJson(SCHEMA, data), context=[SelfDescribingJson(SCHEMA, entity)]
    )


def test_data_changed_after_track_is_sent_as_it_was(recorder: Recorder) -> None:
    emitter = AsyncEmitter(recorder.url, batch_size=100)
    tracker = Tracker("ns", emitter)
    data = {"step": 1, "tags": ["a"]}
    entity = {"id": "x"}
    tracker.track(_event(data, entity))
    data["step"] = 2
    data["tags"].append("b")
    entity["id"] = "changed"
    assert emitter.flush(timeout=10).sent == 1
    (sent,) = recorder.events()
    assert decode_b64_json(sent["ue_px"])["data"]["data"] == {"step": 1, "tags": ["a"]}
    assert decode_b64_json(sent["cx"])["data"][0]["data"] == {"id": "x"}
    emitter.close()


def test_number_fields_are_sent_as_text_beside_base64_fields(recorder: Recorder) -> None:
    emitter = AsyncEmitter(recorder.url, batch_size=100)
    subject = Subject().set_color_depth(24).set_domain_session_index(3)
    tracker = Tracker("ns", emitter, subject=subject)
    tracker.track(
        SelfDescribing(SelfDescribingJson(SCHEMA, {"a": 1}), true_timestamp=1_700_000_000_000)
    )
    assert emitter.flush(timeout=10).sent == 1
    (sent,) = recorder.events()
    assert (sent["cd"], sent["vid"], sent["ttm"]) == ("24", "3", "1700000000000")
    assert decode_b64_json(sent["ue_px"])["data"]["data"] == {"a": 1}
    emitter.close()


def test_data_that_cannot_be_json_is_refused_at_the_call(recorder: Recorder) -> None:
    emitter = AsyncEmitter(recorder.url)
    tracker = Tracker("ns", emitter)
    with pytest.raises(TypeError, match="datetime is not JSON serializable"):
        tracker.track(_event({"at": datetime.datetime(2026, 1, 1)}, {}))
    assert emitter.stats().queued == 0
    emitter.close()


def test_callbacks_and_public_payloads_hold_base64_text(recorder: Recorder) -> None:
    seen: list[Any] = []
    recorder.answer_next(Answer(400))
    emitter = Emitter(
        recorder.url,
        buffer_size=1,
        on_failure=lambda sent, events: seen.extend(events),
        on_drop=lambda reason, events: seen.extend(events),
    )
    tracker = Tracker("ns", emitter)
    tracker.track(_event({"a": 1}, {"b": 2}))
    assert len(seen) == 2  # a failed attempt, then dropped as rejected
    for event in seen:
        assert isinstance(event["ue_px"], str) and isinstance(event["cx"], str)
        assert decode_b64_json(event["ue_px"])["data"]["data"] == {"a": 1}
    payload = tracker.complete_payload(_event({"a": 1}, {"b": 2})).nv_pairs
    assert type(payload) is dict
    assert decode_b64_json(payload["cx"])["data"][0]["data"] == {"b": 2}
    built = _event({"a": 1}, {}).build_payload(True, None).nv_pairs
    assert decode_b64_json(built["ue_px"])["data"]["data"] == {"a": 1}
    emitter.close()


def test_two_emitters_and_a_durable_store_get_the_same_text(
    recorder: Recorder, tmp_path: Any
) -> None:
    memory = Emitter(recorder.url, buffer_size=1)
    durable = Emitter(recorder.url, buffer_size=1, event_store=SQLiteEventStore(tmp_path / "q.db"))
    tracker = Tracker("ns", [memory, durable])
    tracker.track(_event({"n": "é"}, {"k": 1}))
    durable_only = Tracker("ns", durable)
    durable_only.track(_event({"n": "é"}, {"k": 1}))
    events = recorder.wait_for_events(3)
    for sent in events:
        assert decode_b64_json(sent["ue_px"])["data"]["data"] == {"n": "é"}
        assert decode_b64_json(sent["cx"])["data"][0]["data"] == {"k": 1}
    assert events[0]["ue_px"] == events[1]["ue_px"]
    memory.close()
    durable.close()


def test_event_ids_are_unique_across_threads() -> None:
    ids: list[list[str]] = [[] for _ in range(8)]

    def take(bucket: list[str]) -> None:
        for _ in range(5_000):
            bucket.append(new_event_id())

    threads = [threading.Thread(target=take, args=(bucket,)) for bucket in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [i for bucket in ids for i in bucket]
    assert len(set(every)) == len(every) == 40_000
    for event_id in every[:100]:
        assert event_id[14] == "4" and event_id[19] in "89ab" and len(event_id) == 36


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    new_event_id()  # the parent now holds spare ids
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read)
        os.write(write, ",".join(new_event_id() for _ in range(200)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        child = set(pipe.read().decode().split(","))
    os.waitpid(pid, 0)
    parent = {new_event_id() for _ in range(200)}
    assert len(child) == 200 and not child & parent
