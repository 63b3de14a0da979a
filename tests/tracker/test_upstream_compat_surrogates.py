"""Upstream 1.1.0 compatibility: one string with a lone surrogate must not lose a batch.

A cut emoji leaves a lone surrogate such as ``"\\ud83d"`` in a string. Upstream
snowplow-tracker 1.1.0 writes POST bodies with the standard library's ``json.dumps``,
which escapes it as ``\\ud83d``, so the batch goes out whole and the value comes back
as the same string. These tests pin that on both emitters, for a field of the event and
for JSON inside the event (self-describing data, contexts). Every test passes against
upstream itself, run from an environment where upstream 1.1.0 is installed::

    python -m pytest --noconftest -p no:cacheprovider \\
        tests/tracker/test_upstream_compat_surrogates.py

Two paths where upstream raises ``UnicodeEncodeError`` at the track call (base64-encoded
JSON, and GET query strings) are asserted as upstream's behaviour on its side and as
"does not raise, the other events arrive" on ours. Tests marked ours-only exercise this
package's two JSON encoders (orjson when installed, the standard library otherwise).
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable
from typing import Any
from unittest import mock
from unittest.mock import Mock

import pytest

from snowplow_tracker import AsyncEmitter, Emitter, SelfDescribingJson, Tracker
from tests.support.recorder import Recorder, recording_server
from tests.tracker.upstream_compat import (
    OURS,
    PAYLOAD_DATA_SCHEMA,
    THING_SCHEMA,
    USER_SCHEMA,
    WAIT_SECONDS,
    Callbacks,
    decode_b64,
    new_emitter,
    quiet,
    settle,
)

ours_only = pytest.mark.skipif(
    not OURS, reason="exercises this package's own JSON encoders; upstream has one"
)

LONE = "\ud83d"
ESCAPED_LONE = re.compile(r"\\u[dD]83[dD]")


def track_six_valid(tracker: Tracker) -> None:
    with quiet():
        tracker.track_page_view("https://shop.example/a", "A")
        tracker.track_page_ping("https://shop.example/a", min_x=0, max_x=10)
        tracker.track_struct_event("shop", "add", value=2)
        tracker.track_self_describing_event(SelfDescribingJson(THING_SCHEMA, {"n": 1}))
        tracker.track_screen_view("Home", "screen-1")
        tracker.track_link_click("https://shop.example/b", element_content="Go 🚀")


def bad_struct_event(tracker: Tracker) -> None:
    with quiet():
        tracker.track_struct_event("cat" + LONE, "act")


def bad_self_describing_data(tracker: Tracker) -> None:
    with quiet():
        tracker.track_self_describing_event(SelfDescribingJson(THING_SCHEMA, {"x": "bad" + LONE}))


def bad_context(tracker: Tracker) -> None:
    with quiet():
        tracker.track_struct_event(
            "shop", "ctx", context=[SelfDescribingJson(USER_SCHEMA, {"name": "bad" + LONE})]
        )


def check_struct_event(event: dict[str, Any]) -> None:
    assert event["e"] == "se"
    assert event["se_ca"] == "cat" + LONE
    assert event["se_ac"] == "act"


def embedded(event: dict[str, Any], text_key: str, base64_key: str) -> Any:
    if text_key in event:
        return json.loads(event[text_key])
    return decode_b64(event[base64_key])  # strict: the base64 holds valid UTF-8


def check_self_describing_data(event: dict[str, Any]) -> None:
    assert event["e"] == "ue"
    assert embedded(event, "ue_pr", "ue_px")["data"] == {
        "schema": THING_SCHEMA,
        "data": {"x": "bad" + LONE},
    }


def check_context(event: dict[str, Any]) -> None:
    assert event["se_ac"] == "ctx"
    assert embedded(event, "co", "cx")["data"] == [
        {"schema": USER_SCHEMA, "data": {"name": "bad" + LONE}}
    ]


# (track the bad event, check it as received)
CASES: dict[str, tuple[Callable[[Tracker], None], Callable[[dict[str, Any]], None]]] = {
    "structured event category": (bad_struct_event, check_struct_event),
    "self-describing data": (bad_self_describing_data, check_self_describing_data),
    "context": (bad_context, check_context),
}


def the_one_body(post: Mock) -> str:
    """The body of the one request sent through the patched requests.post: text."""
    assert post.call_count == 1
    data = post.call_args.kwargs["data"]
    assert isinstance(data, str)
    return data


def check_body_text(data: str) -> list[dict[str, Any]]:
    """A POST body as upstream sends it: valid UTF-8, the surrogate escaped."""
    data.encode("utf-8")  # sendable
    assert ESCAPED_LONE.search(data)
    body = json.loads(data)
    assert body["schema"] == PAYLOAD_DATA_SCHEMA
    return list(body["data"])


def check_six_valid(events: list[dict[str, Any]]) -> None:
    assert [e["e"] for e in events] == ["pv", "pp", "se", "ue", "ue", "ue"]
    link_click = embedded(events[5], "ue_pr", "ue_px")["data"]["data"]
    assert link_click["elementContent"] == "Go 🚀"


# -- the standard POST path, Emitter with mocked requests.post ----------------------------


@pytest.mark.parametrize("where", list(CASES))
def test_lone_surrogate_does_not_lose_the_batch(where: str) -> None:
    track_bad, check_bad = CASES[where]
    callbacks = Callbacks()
    with mock.patch("requests.post", return_value=Mock(status_code=200)) as post:
        emitter = new_emitter(callbacks, batch_size=10)
        tracker = Tracker("ns", emitter, encode_base64=False)
        track_six_valid(tracker)
        track_bad(tracker)
        assert post.call_count == 0
        emitter.flush()

    events = check_body_text(the_one_body(post))
    assert len(events) == 7
    check_six_valid(events[:6])
    check_bad(events[6])
    assert callbacks.failures == []
    assert [len(batch) for batch in callbacks.successes] == [7]


@pytest.mark.parametrize("where", ["self-describing data", "context"])
def test_lone_surrogate_in_base64_json(where: str) -> None:
    """Upstream raises UnicodeEncodeError at the track call (it base64-encodes the UTF-8
    of the JSON) and sends the other six; ours must not raise and sends all seven."""
    track_bad, check_bad = CASES[where]
    with mock.patch("requests.post", return_value=Mock(status_code=200)) as post:
        emitter = Emitter("collector.test", batch_size=10)
        tracker = Tracker("ns", emitter)  # encode_base64 defaults to True
        track_six_valid(tracker)
        if OURS:
            track_bad(tracker)
        else:
            with pytest.raises(UnicodeEncodeError):
                track_bad(tracker)
        emitter.flush()

    events = json.loads(the_one_body(post))["data"]
    check_six_valid(events[:6])
    if OURS:
        assert len(events) == 7
        check_bad(events[6])
    else:
        assert len(events) == 6


# -- a real local server, both emitters ---------------------------------------------------


def flush_everything(emitter: Any) -> None:
    if isinstance(emitter, AsyncEmitter):
        # Ours waits with a deadline; upstream's sync_flush blocks until the queue is empty.
        if OURS:
            emitter.flush(timeout=WAIT_SECONDS)
        else:
            emitter.sync_flush()
    else:
        emitter.flush()


@pytest.mark.parametrize("emitter_class", [Emitter, AsyncEmitter], ids=lambda c: c.__name__)
@pytest.mark.parametrize("where", ["structured event category", "self-describing data"])
def test_lone_surrogate_reaches_a_real_server(emitter_class: type, where: str) -> None:
    track_bad, check_bad = CASES[where]
    server: Recorder
    with recording_server() as server:
        emitter = emitter_class("127.0.0.1", protocol="http", port=server.port, batch_size=10)
        tracker = Tracker("ns", emitter, encode_base64=False)
        track_six_valid(tracker)
        track_bad(tracker)
        flush_everything(emitter)
        events = server.wait_for_events(7, timeout=WAIT_SECONDS)
        settle(emitter)
        requests = list(server.requests)

    assert all(r.method == "POST" for r in requests)
    assert all(r.path == "/com.snowplowanalytics.snowplow/tp2" for r in requests)
    assert len(events) == 7
    check_six_valid(events[:6])
    check_bad(events[6])
    if emitter_class is Emitter:
        assert len(requests) == 1
        assert ESCAPED_LONE.search(requests[0].body.decode("utf-8"))


def test_lone_surrogate_on_the_get_path() -> None:
    """Upstream raises UnicodeEncodeError from the track call (requests cannot encode the
    query string) and loses that event; ours must not raise, and the others arrive."""
    with recording_server() as server:
        emitter = Emitter("127.0.0.1", protocol="http", port=server.port, method="get")
        tracker = Tracker("ns", emitter)
        with quiet():
            tracker.track_struct_event("ok", "first")
            if OURS:
                tracker.track_struct_event("cat" + LONE, "act")
            else:
                with pytest.raises(UnicodeEncodeError):
                    tracker.track_struct_event("cat" + LONE, "act")
            tracker.track_struct_event("ok", "second")
        emitter.flush()
        settle(emitter)
        requests = list(server.requests)

    assert all(r.method == "GET" and r.path == "/i" for r in requests)
    good = [r.query["se_ac"] for r in requests if r.query.get("se_ca") == "ok"]
    assert good == ["first", "second"]


# -- ours only: both of our JSON encoders ------------------------------------------------


@ours_only
def test_ours_encodes_with_orjson_when_it_is_installed() -> None:
    pytest.importorskip("orjson")
    json_text = importlib.import_module("snowplow_tracker.json_text")
    assert json_text.accelerated()


@ours_only
@pytest.mark.parametrize("encode_base64", [False, True], ids=["base64 off", "base64 on"])
@pytest.mark.parametrize("where", list(CASES))
def test_ours_lone_surrogate_with_the_standard_library_encoder(
    monkeypatch: pytest.MonkeyPatch, where: str, encode_base64: bool
) -> None:
    """The same batch with orjson switched off (as on PyPy): all seven are sent."""
    monkeypatch.setattr("snowplow_tracker.json_text._fast", None)
    json_text = importlib.import_module("snowplow_tracker.json_text")
    assert not json_text.accelerated()
    track_bad, check_bad = CASES[where]
    with mock.patch("requests.post", return_value=Mock(status_code=200)) as post:
        emitter = Emitter("collector.test", batch_size=10)
        tracker = Tracker("ns", emitter, encode_base64=encode_base64)
        track_six_valid(tracker)
        track_bad(tracker)
        emitter.flush()

    data = the_one_body(post)
    data.encode("utf-8")
    events = json.loads(data)["data"]
    assert len(events) == 7
    check_six_valid(events[:6])
    check_bad(events[6])


@ours_only
def test_ours_lone_surrogate_on_a_real_server_with_the_standard_library_encoder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("snowplow_tracker.json_text._fast", None)
    with recording_server() as server:
        emitter = AsyncEmitter("127.0.0.1", protocol="http", port=server.port, batch_size=10)
        tracker = Tracker("ns", emitter)
        track_six_valid(tracker)
        bad_struct_event(tracker)
        bad_self_describing_data(tracker)
        emitter.flush(timeout=WAIT_SECONDS)
        events = server.wait_for_events(8, timeout=WAIT_SECONDS)
        emitter.close(timeout=2.0)

    check_six_valid(events[:6])
    check_struct_event(events[6])
    assert decode_b64(events[7]["ue_px"])["data"]["data"] == {"x": "bad" + LONE}
