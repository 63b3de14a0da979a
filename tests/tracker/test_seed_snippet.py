"""The call every user starts with (PRODUCT.md), in both call styles, against a real server."""

from __future__ import annotations

import time

from snowplow_tracker import (
    Emitter,
    EmitterConfiguration,
    SelfDescribingJson,
    Snowplow,
    Tracker,
    TrackerConfiguration,
)
from tests.support.payload_data import validation_errors
from tests.support.recorder import Recorder, decode_b64_json

KEY = "dck_test-key-0123456789"
DATA = {"foo": "bar", "metadata": {"sub": "data"}}
UNSTRUCT = "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0"


def assert_one_seed_post(recorder: Recorder, path: str, with_key: bool) -> dict[str, str]:
    requests = recorder.wait_for(1)
    assert len(requests) == 1
    request = requests[0]
    assert request.method == "POST"
    assert request.path == path
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    body = request.json()
    assert validation_errors(body) == []
    (event,) = body["data"]
    if with_key:
        assert request.headers["X-Api-Key"] == KEY
        assert request.headers["X-Datacoral-Environment"] == "dev"
        assert KEY not in request.body.decode()
    assert event["e"] == "ue"
    assert decode_b64_json(event["ue_px"]) == {
        "schema": UNSTRUCT,
        "data": {"schema": "test", "data": DATA},
    }
    return event


def test_datacoral_style_snippet_sends_one_post_with_key_headers(recorder: Recorder) -> None:
    before_ms = int(time.time() * 1000)
    emitter = Emitter(recorder.url, buffer_size=1)
    tracker = Tracker(
        emitter,
        datacoral_env="dev",
        api_key=[KEY],
        namespace="your-namespace-here",
        app_id="app-id-here",
        encode_base64=True,
    )
    sjson = SelfDescribingJson(schema="test", data=DATA)
    assert tracker.track_unstruct_event(event_json=sjson) is tracker

    event = assert_one_seed_post(recorder, "/com.snowplowanalytics.snowplow/tp2", with_key=True)
    assert event["tna"] == "your-namespace-here"
    assert event["aid"] == "app-id-here"
    assert event["p"] == "pc"
    assert event["tv"].startswith("py-")
    assert before_ms <= int(event["dtm"]) <= int(event["stm"]) <= int(time.time() * 1000)
    assert "x_api_key" not in event and "x_datacoral_environment" not in event


def test_datacoral_style_with_tp2_alias_path(recorder: Recorder) -> None:
    emitter = Emitter(recorder.url, buffer_size=1, post_path="/tp2")
    tracker = Tracker(emitter, datacoral_env="dev", api_key=KEY, namespace="ns", app_id="a")
    tracker.track_unstruct_event(SelfDescribingJson("test", DATA))
    assert_one_seed_post(recorder, "/tp2", with_key=True)


def test_one_x_style_script_works_against_the_same_server(recorder: Recorder) -> None:
    tracker = Tracker("ns", Emitter(recorder.url, batch_size=1), app_id="app-1x")
    tracker.track_self_describing_event(SelfDescribingJson("test", DATA))
    event = assert_one_seed_post(recorder, "/com.snowplowanalytics.snowplow/tp2", with_key=False)
    assert event["tna"] == "ns"
    assert event["aid"] == "app-1x"
    assert "X-Api-Key" not in recorder.requests[0].headers


def test_snowplow_create_tracker_works_against_the_same_server(recorder: Recorder) -> None:
    Snowplow.reset()
    try:
        tracker = Snowplow.create_tracker(
            "facade",
            recorder.url,
            app_id="app-facade",
            tracker_config=TrackerConfiguration(encode_base64=True),
            emitter_config=EmitterConfiguration(batch_size=1),
        )
        assert Snowplow.get_tracker("facade") is tracker
        tracker.track_self_describing_event(SelfDescribingJson("test", DATA))
        event = assert_one_seed_post(recorder, "/com.snowplowanalytics.snowplow/tp2", False)
        assert event["tna"] == "facade"
    finally:
        Snowplow.reset()


def test_snowplow_create_tracker_can_send_datacoral_headers(recorder: Recorder) -> None:
    Snowplow.reset()
    try:
        config = EmitterConfiguration(batch_size=1, api_key=KEY, datacoral_env="dev")
        tracker = Snowplow.create_tracker("f2", recorder.url, emitter_config=config)
        tracker.track_self_describing_event(SelfDescribingJson("test", DATA))
        assert_one_seed_post(recorder, "/com.snowplowanalytics.snowplow/tp2", with_key=True)
    finally:
        Snowplow.reset()
