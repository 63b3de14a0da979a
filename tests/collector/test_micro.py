"""The inspection API (``serve --inspect``) over each backend: counts, good events in
Micro's shape, bad rows, reset, Iglu look-ups, paths; and read-your-writes.

Each test reads its own fresh environment of one shared server (micro_support.py).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

import datacoral.schemas
from datacoral.storage import open_storage
from snowplow_tracker import SelfDescribingJson
from tests.collector.builders import event
from tests.collector.conftest import Endpoint
from tests.collector.micro_support import MicroServer, Reader, micro_server
from tests.support.backends import Targets

SCREEN = "iglu:com.snowplowanalytics.mobile/screen/jsonschema/1-0-0"
LINK_CLICK = "iglu:com.snowplowanalytics.snowplow/link_click/jsonschema/1-0-1"
PAYLOAD_DATA = "com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4"
ZERO = {"total": 0, "good": 0, "bad": 0}


@pytest.fixture(scope="module")
def micro(module_targets: Targets) -> Iterator[MicroServer]:
    with micro_server(module_targets) as server:
        yield server


@pytest.fixture
def reader(micro: MicroServer) -> Iterator[Reader]:
    with micro.reader() as fresh:
        yield fresh


def test_an_event_is_readable_as_soon_as_its_answer_left(reader: Reader) -> None:
    # No polling anywhere: the endpoint answers after the commit.
    for sent in range(1, 21):
        eid = str(uuid.uuid4())
        reader.send(event(eid=eid, aid="ryw"))
        assert reader.counts() == {"total": sent, "good": sent, "bad": 0}
        newest = reader.good({"limit": 1})
        assert [e["event"]["event_id"] for e in newest] == [eid]
    tracker = reader.tracker()
    tracker.track_struct_event("shop", "add", "sku-1", value=2.5)
    (newest,) = reader.good({"limit": 1})
    assert newest["eventType"] == "struct"
    assert newest["rawEvent"]["parameters"]["se_va"] == "2.5"


def test_good_events_have_micros_shape(reader: Reader) -> None:
    tracker = reader.tracker(app_id="shop")
    screen = {"name": "home", "id": str(uuid.uuid4())}
    tracker.track_page_view("https://shop.example/", "Shop")
    tracker.track_link_click(
        "https://shop.example/p/1",
        element_id="buy",
        context=[SelfDescribingJson(SCREEN, screen)],
    )
    click, page = reader.good()  # newest first
    assert set(click) == {"rawEvent", "eventType", "schema", "contexts", "event", "incomplete"}
    assert (click["eventType"], click["schema"], click["contexts"]) == (
        "unstruct",
        LINK_CLICK,
        [SCREEN],
    )
    assert click["incomplete"] is False
    canonical = click["event"]
    assert canonical["unstruct_event"]["data"] == {
        "schema": LINK_CLICK,
        "data": {"targetUrl": "https://shop.example/p/1", "elementId": "buy"},
    }
    assert canonical["unstruct_event"]["schema"].endswith("/unstruct_event/jsonschema/1-0-0")
    assert canonical["contexts"]["data"] == [{"schema": SCREEN, "data": screen}]
    assert (canonical["app_id"], canonical["event"], canonical["event_name"]) == (
        "shop",
        "unstruct",
        "link_click",
    )
    assert canonical["collector_tstamp"].endswith("Z") and "T" in canonical["collector_tstamp"]
    assert canonical["environment"] == reader.environment
    raw = click["rawEvent"]
    assert raw["api"] == {"vendor": "com.snowplowanalytics.snowplow", "version": "tp2"}
    parameters = raw["parameters"]
    assert (parameters["e"], parameters["aid"], parameters["eid"]) == (
        "ue",
        "shop",
        canonical["event_id"],
    )
    assert json.loads(parameters["ue_pr"])["data"]["schema"] == LINK_CLICK
    assert json.loads(parameters["co"])["data"] == [{"schema": SCREEN, "data": screen}]
    assert raw["context"]["timestamp"] == canonical["collector_tstamp"]

    # A page view gets the schema Snowplow Enrich gives page views, and no contexts.
    assert page["eventType"] == "page_view"
    assert page["schema"] == "iglu:com.snowplowanalytics.snowplow/page_view/jsonschema/1-0-0"
    assert page["contexts"] == []
    assert page["event"]["contexts"] == {} and page["event"]["unstruct_event"] is None
    assert (page["event"]["page_url"], page["event"]["page_title"]) == (
        "https://shop.example/",
        "Shop",
    )
    assert page["rawEvent"]["parameters"]["url"] == "https://shop.example/"


def test_bad_rows_name_their_reason(reader: Reader) -> None:
    good_id = str(uuid.uuid4())
    reader.send(event(eid=good_id), event(eid="not-a-uuid"))
    assert reader.counts() == {"total": 2, "good": 1, "bad": 1}
    answer = reader.micro("GET", "bad")
    assert answer.status_code == 200
    (bad,) = answer.json()
    assert bad["errors"] == ["tracker_protocol_violation: eid: not a UUID: 'not-a-uuid'"]
    assert bad["rawEvent"]["parameters"]["eid"] == "not-a-uuid"
    assert json.loads(bad["collectorPayload"]["body"])["eid"] == "not-a-uuid"
    # Micro's documented filter body, and filters naming another protocol.
    documented = {"vendor": "com.snowplowanalytics.snowplow", "version": "tp2", "limit": 10}
    assert reader.micro("POST", "bad", documented).json() == [bad]
    assert reader.micro("POST", "bad", {"vendor": "com.acme"}).json() == []
    assert reader.micro("POST", "bad", {"version": "tp1"}).json() == []
    assert reader.micro("POST", "bad", {"limit": 0}).json() == []
    assert [e["event"]["event_id"] for e in reader.good()] == [good_id]


def test_reset_deletes_only_the_token_environment(micro: MicroServer) -> None:
    with micro.reader() as first, micro.reader() as second:
        first.send(event(), event(eid="bad"))
        second.send(event(), event())
        reset = first.micro("GET", "reset")
        assert (reset.status_code, reset.json()) == (200, ZERO)
        assert first.counts() == ZERO
        assert first.good() == [] and first.micro("GET", "bad").json() == []
        assert second.counts() == {"total": 2, "good": 2, "bad": 0}
        first.send(event())  # the environment, its key and token are still there
        assert first.counts()["good"] == 1
        assert first.micro("POST", "reset").json() == ZERO
        assert second.counts()["good"] == 2


def test_iglu_answers_the_schema_or_the_resolution_error(reader: Reader) -> None:
    found = reader.micro("GET", f"iglu/{PAYLOAD_DATA}")
    assert found.status_code == 200
    embedded = Path(datacoral.schemas.__file__).parent / "embedded" / "schemas" / PAYLOAD_DATA
    assert found.json() == json.loads(embedded.read_text("utf-8"))
    missing = reader.micro("GET", "iglu/com.acme/checkout/jsonschema/1-0-0")
    assert missing.status_code == 404
    assert missing.json() == {
        "uri": "iglu:com.acme/checkout/jsonschema/1-0-0",
        "error": "not_found",
        "reason": "embedded: no com.acme/checkout/jsonschema/1-0-0",
    }
    malformed = reader.micro("GET", "iglu/com.acme/checkout/1-0-0")
    assert malformed.status_code == 404
    assert malformed.json()["error"] == "not_iglu"
    assert reader.micro("POST", f"iglu/{PAYLOAD_DATA}").status_code == 405


def test_unknown_paths_and_methods(reader: Reader) -> None:
    for path in ("events", "good/1", "", "all/"):
        answer = reader.micro("GET", path)
        assert answer.status_code == 404, path
        assert "/micro/all /micro/good /micro/bad /micro/reset /micro/iglu/" in answer.text
    refused = reader.micro("DELETE", "good")
    assert (refused.status_code, refused.headers["Allow"]) == (405, "GET, POST")


def test_inspection_is_off_unless_asked_for(endpoint: Endpoint) -> None:
    storage = open_storage(endpoint.db)
    try:
        token = storage.create_admin_token("dev")[1]
    finally:
        storage.close()
    for path in ("/micro/all", "/micro/good", "/micro/reset"):
        answer = requests.get(
            endpoint.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert (answer.status_code, answer.text) == (404, "404 not found\n")
