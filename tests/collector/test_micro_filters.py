"""``POST /micro/good`` filters over each backend, with events sent by our tracker.

First the filter bodies exactly as Snowplow Micro's documentation writes them (so that
existing Micro client code works pointed at us), then ours beyond Micro (``event_id``,
``app_id``, ``since`` / ``until``), then the bodies refused with 400 and a reason. The
server's only Iglu registry is down, which ``/micro/iglu`` reports as such.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from snowplow_tracker import SelfDescribingJson
from tests.collector.builders import event
from tests.collector.micro_support import MicroServer, Reader, micro_server
from tests.support.backends import Targets

MOBILE = "com.snowplowanalytics.mobile"
APPLICATION = f"iglu:{MOBILE}/application/jsonschema/1-0-0"
SCREEN = f"iglu:{MOBILE}/screen/jsonschema/1-0-0"
ACME = "iglu:com.acme/example/jsonschema/1-0-0"
LINK_CLICK = "iglu:com.snowplowanalytics.snowplow/link_click/jsonschema/1-0-1"


#: An Iglu registry nobody listens on: schemas beyond the embedded ones are unavailable
#: (the events, in a lenient environment, are stored unvalidated all the same).
DEAD_REGISTRY = "http://127.0.0.1:1"


@pytest.fixture(scope="module")
def micro(module_targets: Targets) -> Iterator[MicroServer]:
    with micro_server(module_targets, iglu=DEAD_REGISTRY) as server:
        yield server


@pytest.fixture
def reader(micro: MicroServer) -> Iterator[Reader]:
    with micro.reader() as fresh:
        yield fresh


def _ids(events: list[dict[str, Any]]) -> list[str]:
    return [e["event"]["event_id"] for e in events]


def _tracked(reader: Reader) -> dict[str, str]:
    """A page view, a link click with a screen, an acme event with an application and a
    screen, and a structured event, in that order, each with an id we know."""
    tracker = reader.tracker(app_id="shop")
    screen = SelfDescribingJson(SCREEN, {"name": "home", "id": str(uuid.uuid4())})
    application = SelfDescribingJson(APPLICATION, {"version": "1.0", "build": "7"})
    tracker.track_page_view("https://shop.example/", "Shop")
    tracker.track_link_click("https://shop.example/p/1", element_id="buy", context=[screen])
    tracker.track_self_describing_event(
        SelfDescribingJson(ACME, {"step": 1}), context=[application, screen]
    )
    tracker.track_struct_event("shop", "add", "sku-1", value=2)
    page, click, acme, struct = _ids(reader.good())[::-1]
    return {"page": page, "click": click, "acme": acme, "struct": struct}


def test_the_filter_bodies_of_micros_documentation(reader: Reader) -> None:
    ids = _tracked(reader)
    assert _ids(reader.good()) == [ids["struct"], ids["acme"], ids["click"], ids["page"]]
    assert _ids(reader.good({"event_type": "page_view", "limit": 10})) == [ids["page"]]
    assert _ids(reader.good({"schema": LINK_CLICK})) == [ids["click"]]
    documented = {
        "schema": "iglu:com.acme/example/jsonschema/1-0-0",
        "contexts": [
            "com.snowplowanalytics.mobile/application/jsonschema/1-0-0",
            "com.snowplowanalytics.mobile/screen/jsonschema/1-0-0",
        ],
        "limit": 10,
    }
    assert _ids(reader.good(documented)) == [ids["acme"]]
    screens = {"contexts": ["com.snowplowanalytics.mobile/screen/jsonschema/1-0-0"]}
    assert _ids(reader.good(screens)) == [ids["acme"], ids["click"]]
    assert _ids(reader.good({"contexts": [SCREEN, APPLICATION]})) == [ids["acme"]]
    assert _ids(reader.good({"event_type": "unstruct"})) == [ids["acme"], ids["click"]]
    assert _ids(reader.good({"event_type": "unstruct", "limit": 1})) == [ids["acme"]]
    assert _ids(reader.good({"limit": 2})) == [ids["struct"], ids["acme"]]
    # Micro's "schema" of events that are not self-describing is Enrich's.
    page_view = "iglu:com.snowplowanalytics.snowplow/page_view/jsonschema/1-0-0"
    assert _ids(reader.good({"schema": page_view})) == [ids["page"]]
    structured = {"schema": "iglu:com.google.analytics/event/jsonschema/1-0-0"}
    assert _ids(reader.good(structured)) == [ids["struct"]]
    assert reader.good({"schema": page_view, "event_type": "struct"}) == []
    assert reader.good({"event_type": "page_ping"}) == []
    assert reader.good({"schema": "iglu:com.acme/example/jsonschema/1-0-1"}) == []
    # A tracker-protocol code names the same type; null is no filter.
    assert _ids(reader.good({"event_type": "se", "schema": None})) == [ids["struct"]]


def test_filters_beyond_micro(reader: Reader) -> None:
    ids = _tracked(reader)
    other = str(uuid.uuid4())
    reader.send(event(eid=other, aid="admin"))
    assert _ids(reader.good({"event_id": ids["click"]})) == [ids["click"]]
    wanted = [ids["page"], other.upper(), str(uuid.uuid4())]
    assert _ids(reader.good({"event_id": wanted})) == [other, ids["page"]]
    assert _ids(reader.good({"app_id": "admin"})) == [other]
    assert _ids(reader.good({"app_id": "shop", "event_type": "page_view"})) == [ids["page"]]

    everything = reader.good()
    stamps = {e["event"]["event_id"]: e["event"]["collector_tstamp"] for e in everything}
    since = stamps[ids["acme"]]
    later = [i for i in _ids(everything) if stamps[i] >= since]
    assert ids["acme"] in later
    assert _ids(reader.good({"since": since})) == later
    earlier = [i for i in _ids(everything) if stamps[i] < since]
    assert _ids(reader.good({"until": since})) == earlier
    assert _ids(reader.good({"since": since, "until": since})) == []
    # The same instant written with an offset, and times far away.
    moment = datetime.datetime.fromisoformat(since.replace("Z", "+00:00"))
    shifted = moment.astimezone(datetime.timezone(datetime.timedelta(hours=2))).isoformat()
    assert _ids(reader.good({"since": shifted})) == later
    assert _ids(reader.good({"since": "2000-01-01"})) == _ids(everything)
    assert reader.good({"until": "2000-01-01T00:00:00Z"}) == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{", "body: not JSON (unexpected end of data: line 1 column 2 (char 1))"),
        (b"[]", "body: must be a JSON object of filters, got []"),
        (b'{"evnt_type": "page_view"}', "unknown filter 'evnt_type': use event_type, schema,"),
        (b'{"limit": "10"}', "limit: must be an integer, got '10'"),
        (b'{"limit": true}', "limit: must be an integer, got true"),
        (b'{"limit": 10001}', "limit: must be 0-10000, got 10001"),
        (b'{"limit": -1}', "limit: must be 0-10000, got -1"),
        (b'{"event_type": 1}', "event_type: must be a string, got 1"),
        (b'{"schema": "test"}', "schema: not a schema URI iglu:vendor/name/format/M-R-A: 'test'"),
        (b'{"contexts": "x"}', "contexts: not a schema URI iglu:vendor/name/format/M-R-A: 'x'"),
        (b'{"contexts": [1]}', "contexts: must be a string or a list of strings, got [1]"),
        (b'{"event_id": "abc"}', "event_id: not a UUID: 'abc'"),
        (b'{"since": "yesterday"}', "since: not an ISO 8601 time like 2026-01-31T12:00:00Z:"),
        (b'{"until": 1700000000000}', "until: must be a string, got 1700000000000"),
    ],
)
def test_filter_bodies_refused_with_a_reason(reader: Reader, body: bytes, reason: str) -> None:
    answer = reader.micro("POST", "good", data=body, extra_headers={"Content-Type": "x/y"})
    assert answer.status_code == 400
    assert answer.text.startswith(f"400 {reason}"), answer.text


def test_bad_filter_bodies_refused_with_a_reason(reader: Reader) -> None:
    answer = reader.micro("POST", "bad", {"schema": LINK_CLICK})
    assert (answer.status_code, answer.text) == (
        400,
        "400 unknown filter 'schema': use vendor, version, limit\n",
    )
    too_large = reader.micro("POST", "good", data=b" " * (64 * 1024 + 1))
    assert too_large.status_code == 413


def test_iglu_says_when_a_registry_is_down(reader: Reader) -> None:
    answer = reader.micro("GET", "iglu/com.acme/example/jsonschema/1-0-0")
    assert answer.status_code == 503
    assert int(answer.headers["Retry-After"]) >= 1
    found = answer.json()
    assert (found["uri"], found["error"]) == (ACME, "unavailable")
    assert found["reason"].startswith("registry unavailable: ")
    embedded = reader.micro("GET", "iglu/com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1")
    assert embedded.status_code == 200 and embedded.json()["self"]["name"] == "contexts"
