"""Wire details: timestamps, strings, base64, non-ASCII, headers, connections, cookies."""

from __future__ import annotations

import base64
import json
import logging
import subprocess
import sys
import time

import pytest
import requests

from snowplow_tracker import Emitter, SelfDescribingJson, Subject, Tracker
from tests.support.recorder import Answer, Recorder, decode_b64_json

KEY = "dck_wire-key"


@pytest.mark.parametrize("method", ["get", "post"])
def test_key_and_environment_headers_on_get_and_post(recorder: Recorder, method: str) -> None:
    emitter = Emitter(recorder.url, method=method, batch_size=1, headers={"X-Extra": "1"})
    Tracker(emitter, api_key=KEY, datacoral_env="stage", namespace="n").track_page_view(
        "https://p/"
    )
    (request,) = recorder.wait_for(1)
    assert request.headers["X-Api-Key"] == KEY
    assert request.headers["X-Datacoral-Environment"] == "stage"
    assert request.headers["X-Extra"] == "1"
    raw = request.body.decode() + json.dumps(request.query)
    assert KEY not in raw and "stage" not in raw


def test_stm_is_milliseconds_at_send_time_and_dtm_at_track_time(recorder: Recorder) -> None:
    emitter = Emitter(recorder.url, batch_size=2)
    tracker = Tracker("ns", emitter)
    tracker.track_page_view("https://a/")
    tracked_ms = int(time.time() * 1000)
    # The second track fills the batch; the send happens after a measurable gap.
    time.sleep(0.05)
    tracker.track_page_view("https://b/")
    first, second = recorder.wait_for_events(2)
    assert int(first["dtm"]) <= tracked_ms
    assert int(first["stm"]) >= tracked_ms + 40
    assert first["stm"] == second["stm"]
    assert int(first["stm"]) % 1000 != 0 or int(second["dtm"]) % 1000 != 0


def test_true_timestamp_goes_to_ttm_and_absent_values_are_omitted(recorder: Recorder) -> None:
    tracker = Tracker("ns", Emitter(recorder.url, batch_size=1))
    tracker.track_struct_event("c", "a", None, "", None, tstamp=1600000000000)
    (event,) = recorder.wait_for_events(1)
    assert event["ttm"] == "1600000000000"
    for absent in ("se_la", "se_pr", "se_va", "aid"):
        assert absent not in event
    assert "None" not in event.values()


def test_base64_is_url_safe_and_non_ascii_round_trips(recorder: Recorder) -> None:
    tricky = {"emoji": "😀" * 20, "text": "ÿ\u00fe\u2028 ~~~???>>>", "cjk": "漢字"}
    tracker = Tracker("ns", Emitter(recorder.url, batch_size=1))
    tracker.track_self_describing_event(SelfDescribingJson("iglu:a/b/jsonschema/1-0-0", tricky))
    (event,) = recorder.wait_for_events(1)
    assert "+" not in event["ue_px"] and "/" not in event["ue_px"]
    assert decode_b64_json(event["ue_px"])["data"]["data"] == tricky
    standard = base64.b64decode(event["ue_px"].replace("-", "+").replace("_", "/"))
    assert json.loads(standard)["data"]["data"] == tricky


def test_subject_fields_and_event_subject_wins(recorder: Recorder) -> None:
    tracker_subject = Subject().set_user_id("t").set_lang("de").set_screen_resolution(10, 20)
    event_subject = Subject().set_user_id("e").set_network_user_id("n-1").set_ip_address("1.2.3.4")
    tracker = Tracker("ns", Emitter(recorder.url, batch_size=1), tracker_subject)
    tracker.track_page_view("https://p/", event_subject=event_subject)
    (event,) = recorder.wait_for_events(1)
    assert event["uid"] == "e"
    assert event["lang"] == "de"
    assert event["res"] == "10x20"
    assert event["tnuid"] == "n-1"
    assert event["ip"] == "1.2.3.4"


def test_one_keep_alive_connection_per_emitter(recorder: Recorder) -> None:
    tracker = Tracker("ns", Emitter(recorder.url, batch_size=1))
    for i in range(5):
        tracker.track_page_view(f"https://p/{i}")
    requests_seen = recorder.wait_for(5)
    assert len({r.client_port for r in requests_seen}) == 1


def test_no_cookies_kept_between_requests(recorder: Recorder) -> None:
    recorder.answer_next(Answer(200, {"Set-Cookie": "sp=abc; Path=/"}))
    tracker = Tracker("ns", Emitter(recorder.url, batch_size=1))
    tracker.track_page_view("https://p/1")
    tracker.track_page_view("https://p/2")
    _first, second = recorder.wait_for(2)
    assert "Cookie" not in second.headers


def test_callers_session_is_used_and_keeps_its_cookies(recorder: Recorder) -> None:
    session = requests.Session()
    session.headers["X-From-Session"] = "yes"
    recorder.answer_next(Answer(200, {"Set-Cookie": "sp=abc; Path=/"}))
    tracker = Tracker("ns", Emitter(recorder.url, batch_size=1, session=session))
    tracker.track_page_view("https://p/1")
    tracker.track_page_view("https://p/2")
    first, second = recorder.wait_for(2)
    assert first.headers["X-From-Session"] == "yes"
    assert second.headers.get("Cookie") == "sp=abc"


def test_library_adds_no_logging_handlers() -> None:
    code = (
        "import logging, snowplow_tracker;"
        "root = logging.getLogger();"
        "lib = logging.getLogger('snowplow_tracker');"
        "print(len(root.handlers), [type(h).__name__ for h in lib.handlers], lib.level)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "['NullHandler']", "0"]
    assert logging.getLogger("snowplow_tracker").propagate


def test_import_loads_nothing_outside_stdlib_and_declared_dependencies() -> None:
    code = """
import sys
before = set(sys.modules)
import snowplow_tracker
new = {m.split('.')[0] for m in set(sys.modules) - before}
allowed_third_party = {'requests', 'urllib3', 'idna', 'certifi', 'charset_normalizer', 'chardet',
                       'orjson', 'snowplow_tracker'}
stdlib = set(sys.stdlib_module_names) | {'cython_runtime'}  # made by compiled extensions
outside = sorted(m for m in new if m not in stdlib and m not in allowed_third_party
                 and not m.startswith('_'))
print(outside)
print(sorted(m for m in new if m in ('datacoral', 'redis', 'psycopg', 'nats', 'uvicorn',
                                     'click', 'typing_extensions')))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    outside, forbidden = out.stdout.splitlines()
    assert outside == "[]", out.stdout
    assert forbidden == "[]", out.stdout


def test_emitters_import_from_upstreams_paths() -> None:
    import snowplow_tracker
    from snowplow_tracker import async_emitter, emitters

    # upstream 1.x code imports AsyncEmitter from snowplow_tracker.emitters
    assert emitters.AsyncEmitter is async_emitter.AsyncEmitter is snowplow_tracker.AsyncEmitter
    assert emitters.AsyncioEmitter is snowplow_tracker.AsyncioEmitter
    assert emitters.Emitter is snowplow_tracker.Emitter
    assert {"AsyncEmitter", "AsyncioEmitter", "Emitter", "DEFAULT_MAX_LENGTH"} <= set(
        emitters.__all__
    )
    assert issubclass(emitters.AsyncEmitter, emitters.Emitter)
