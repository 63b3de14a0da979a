"""The plugin's fixtures, used as a user's tests use them, against the real endpoint."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import requests
from freezegun import freeze_time

from datacoral.testing import Endpoint, EventsNotFound, start_endpoint
from snowplow_tracker import AsyncEmitter, Emitter, SelfDescribingJson, Tracker
from snowplow_tracker.events import PageView
from tests.testing.user_project import CHECKOUT_SCHEMA, SCHEMA

TP2 = "/com.snowplowanalytics.snowplow/tp2"
PAYLOAD_DATA = "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4"
CONTEXT = "iglu:com.acme/basket/jsonschema/1-0-0"


def browser_post(endpoint: Endpoint, origin: str) -> requests.Response:
    """What a browser tracker on ``origin`` sends: a page view, with the key in a header."""
    event = {"e": "pv", "p": "web", "tv": "js-4.0.0", "eid": str(uuid.uuid4()), "url": origin}
    return requests.post(
        endpoint.url + TP2,
        json={"schema": PAYLOAD_DATA, "data": [event]},
        headers={"Origin": origin, "X-Api-Key": endpoint.key},
        timeout=5,
    )


def test_where_it_listens_and_a_key_per_environment(datacoral_endpoint: Endpoint) -> None:
    endpoint = datacoral_endpoint
    assert endpoint.url == f"http://{endpoint.host}:{endpoint.port}"
    assert endpoint.host == "127.0.0.1" and endpoint.port > 0
    assert set(endpoint.keys) == {"dev", "stage", "prod"} == set(endpoint.environments)
    assert len(set(endpoint.keys.values())) == 3
    assert endpoint.env == "dev" and endpoint.key == endpoint.keys["dev"]
    assert requests.get(endpoint.url + "/ready", timeout=5).status_code == 200


def test_the_session_server_is_the_endpoint(
    datacoral_server: Endpoint, datacoral_endpoint: Endpoint
) -> None:
    assert datacoral_server is datacoral_endpoint


def test_an_event_is_stored_when_track_returns(
    datacoral_tracker: Tracker, datacoral_endpoint: Endpoint
) -> None:
    event_id = datacoral_tracker.track(PageView("https://shop.example.com/", "Home"))

    # No waiting: the endpoint answers after the commit, the emitter sends one event a request.
    [event] = datacoral_endpoint.good_events()
    assert event["event_id"] == event_id
    assert event["event"] == "page_view"
    assert (event["page_url"], event["page_title"]) == ("https://shop.example.com/", "Home")
    assert (event["app_id"], event["name_tracker"], event["platform"]) == ("pytest", "pytest", "pc")
    assert event["environment"] == "dev"
    assert datacoral_endpoint.bad_rows() == []


def test_filters_by_event_type_schema_and_context(
    datacoral_tracker: Tracker, datacoral_endpoint: Endpoint
) -> None:
    basket = SelfDescribingJson(CONTEXT, {"items": 2})
    datacoral_tracker.track_page_view("https://shop.example.com/")
    datacoral_tracker.track_struct_event("basket", "add", "sku-1", context=[basket])
    datacoral_tracker.track_self_describing_event(SelfDescribingJson(CHECKOUT_SCHEMA, {"x": 1}))

    endpoint = datacoral_endpoint
    assert len(endpoint.wait_for_events(3)) == 3
    [struct] = endpoint.wait_for_events(1, event_type="struct")
    assert endpoint.wait_for_events(1, event_type="se") == [struct]
    assert (struct["se_category"], struct["se_action"], struct["se_label"]) == (
        "basket",
        "add",
        "sku-1",
    )
    assert struct["contexts"] == [{"schema": CONTEXT, "data": {"items": 2}}]
    assert endpoint.good_events(context=CONTEXT) == [struct]
    [checkout] = endpoint.wait_for_events(1, schema=CHECKOUT_SCHEMA)
    assert checkout["event"] == "unstruct"
    assert checkout["unstruct_event"] == {"schema": CHECKOUT_SCHEMA, "data": {"x": 1}}
    assert endpoint.good_events(event_type="self_describing") == [checkout]
    assert [e["event"] for e in endpoint.good_events(event_type="page_view")] == ["page_view"]
    with pytest.raises(ValueError, match="unknown event_type 'pageview': use one of"):
        endpoint.good_events(event_type="pageview")


def test_reset_empties_one_environment_or_all(
    datacoral_endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = datacoral_endpoint
    event_id = str(uuid.uuid4())
    monkeypatch.setattr(Tracker, "get_uuid", staticmethod(lambda: event_id))
    for env in ("dev", "prod"):
        endpoint.tracker(env).track_page_view(f"https://{env}.example.com/")
    endpoint.reset("dev")
    assert endpoint.good_events("dev") == []
    assert len(endpoint.good_events("prod")) == 1

    endpoint.reset()
    assert endpoint.good_events("prod") == []
    # The id again (other content): stored, not a conflict with the event reset away.
    endpoint.tracker("prod").track_page_view("https://prod.example.com/again")
    [event] = endpoint.good_events("prod")
    assert (event["event_id"], event["page_url"]) == (event_id, "https://prod.example.com/again")
    assert endpoint.bad_rows("prod") == []


def test_code_that_builds_its_own_tracker_from_configuration(
    datacoral_endpoint: Endpoint,
) -> None:
    endpoint = datacoral_endpoint
    emitter = Emitter(endpoint.host, protocol="http", port=endpoint.port, batch_size=1)
    tracker = Tracker(
        emitter, api_key=[endpoint.keys["stage"]], datacoral_env="stage", namespace="app"
    )
    try:
        tracker.track_struct_event("signup", "submit")
    finally:
        emitter.close(timeout=5)

    [event] = endpoint.wait_for_events(1, env="stage")
    assert (event["se_action"], event["name_tracker"]) == ("submit", "app")
    assert endpoint.good_events() == []  # dev


def test_wait_for_events_waits_for_an_async_emitter(datacoral_endpoint: Endpoint) -> None:
    endpoint = datacoral_endpoint
    emitter = AsyncEmitter(
        endpoint.url, api_key=endpoint.key, datacoral_env=endpoint.env, flush_interval=0.2
    )
    try:
        Tracker("async", emitter).track_page_view("https://later.example.com/")
        [event] = endpoint.wait_for_events(1, timeout=5, event_type="pv")
    finally:
        emitter.close(timeout=5)
    assert event["page_url"] == "https://later.example.com/"


def test_a_wait_in_vain_says_what_the_endpoint_answered(datacoral_endpoint: Endpoint) -> None:
    endpoint = datacoral_endpoint
    emitter = Emitter(endpoint.url, api_key="dck_not-a-key", datacoral_env="dev", batch_size=1)
    try:
        Tracker("wrong", emitter).track_page_view("https://nowhere.example.com/")
    finally:
        emitter.close(timeout=5)

    with pytest.raises(EventsNotFound) as failure:
        endpoint.wait_for_events(1, timeout=0.2, event_type="page_view")
    message = str(failure.value)
    assert message.startswith("expected 1 page_view event(s) in 'dev' within 0.2 s, found 0")
    assert f"401 'unknown API key' to POST {TP2}" in message
    [refusal] = endpoint.refusals()
    assert (refusal.status, refusal.reason) == (401, "unknown API key")


def test_a_wait_in_vain_shows_the_bad_rows(
    datacoral_tracker: Tracker, datacoral_endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Tracker, "get_uuid", staticmethod(lambda: "abc"))
    datacoral_tracker.track_page_view("https://shop.example.com/")
    with pytest.raises(EventsNotFound, match="tracker_protocol_violation: eid: not a UUID: 'abc'"):
        datacoral_endpoint.wait_for_events(1, timeout=0.1)
    [row] = datacoral_endpoint.wait_for_bad_rows(1)
    assert row["kind"] == "tracker_protocol_violation"
    assert json.loads(row["payload"])["url"] == "https://shop.example.com/"


def test_allowed_origins_for_browser_code(datacoral_endpoint: Endpoint) -> None:
    endpoint = datacoral_endpoint
    page = "http://localhost:3000"
    assert browser_post(endpoint, page).status_code == 403

    endpoint.allow_origin(page)  # returns once the running endpoint lets it in
    answer = browser_post(endpoint, page)
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == page
    assert len(endpoint.good_events()) == 1

    # The next test starts without it.
    endpoint.begin_test()
    assert browser_post(endpoint, page).status_code == 403


def test_a_frozen_clock_stops_neither_the_endpoint_nor_a_deadline(
    datacoral_tracker: Tracker, datacoral_endpoint: Endpoint
) -> None:
    with freeze_time("2030-01-01T00:00:00Z"):
        datacoral_tracker.track_page_view("https://frozen.example.com/")
        [event] = datacoral_endpoint.wait_for_events(1, timeout=2)
        with pytest.raises(EventsNotFound):
            datacoral_endpoint.wait_for_events(2, timeout=0.2)
    assert event["dvce_created_tstamp"] == 1_893_456_000_000


def schema_folder(directory: Path) -> Path:
    """A user's folder in the static Iglu layout holding the checkout schema."""
    schema = directory / "iglu/schemas/com.acme/checkout/jsonschema/1-0-0"
    schema.parent.mkdir(parents=True)
    schema.write_text(json.dumps(SCHEMA))
    return directory / "iglu"


def test_schema_failures_name_the_json_pointer(tmp_path: Path) -> None:
    with start_endpoint(tmp_path, iglu=[str(schema_folder(tmp_path))]) as endpoint:
        assert endpoint.validation() == "lenient"
        tracker = endpoint.tracker()
        tracker.track_self_describing_event(SelfDescribingJson(CHECKOUT_SCHEMA, {"total": 1}))
        [row] = endpoint.bad_rows()
        assert f"{CHECKOUT_SCHEMA}: /data/orderId: required" in row["reason"]

        unknown = SelfDescribingJson("iglu:com.acme/unknown/jsonschema/1-0-0", {})
        tracker.track_self_describing_event(unknown)  # lenient: stored, not validated
        [event] = endpoint.good_events()
        assert event["schema_validated"] is False

        endpoint.set_validation("strict")  # returns once the running endpoint applies it
        assert endpoint.validation() == "strict" and endpoint.validation("prod") == "lenient"
        tracker.track_self_describing_event(unknown)
        assert len(endpoint.bad_rows()) == 2

        endpoint.set_validation("off")
        tracker.track_self_describing_event(SelfDescribingJson(CHECKOUT_SCHEMA, {"total": 1}))
        assert len(endpoint.good_events(schema=CHECKOUT_SCHEMA)) == 1

        endpoint.begin_test()  # the next test starts lenient again
        tracker = endpoint.tracker()  # (and with new emitters: the test's were closed)
        tracker.track_self_describing_event(SelfDescribingJson(CHECKOUT_SCHEMA, {"total": 1}))
        assert len(endpoint.bad_rows()) == 1
        assert endpoint.validation() == "lenient"


def test_every_environment_starts_in_the_mode_given(tmp_path: Path) -> None:
    with start_endpoint(
        tmp_path, iglu=[str(schema_folder(tmp_path))], validation="strict"
    ) as endpoint:
        assert {env: endpoint.validation(env) for env in endpoint.environments} == {
            "dev": "strict",
            "stage": "strict",
            "prod": "strict",
        }
        unknown = SelfDescribingJson("iglu:com.acme/unknown/jsonschema/1-0-0", {})
        endpoint.tracker("prod").track_self_describing_event(unknown)
        [row] = endpoint.bad_rows("prod")
        assert "iglu:com.acme/unknown/jsonschema/1-0-0: not found" in row["reason"]
        endpoint.tracker("prod").track_self_describing_event(
            SelfDescribingJson(CHECKOUT_SCHEMA, {"orderId": "o-1", "total": 3})
        )
        [event] = endpoint.good_events("prod")
        assert event["schema_validated"] is True

        with pytest.raises(ValueError, match="invalid validation mode 'loose'"):
            endpoint.set_validation("loose")
        assert endpoint.validation() == "strict"


def test_a_wrong_mode_or_folder_is_refused_before_serving(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="invalid validation mode 'loose'"):
        start_endpoint(tmp_path / "a", validation="loose")
    with pytest.raises(ValueError, match="no such folder"):
        start_endpoint(tmp_path / "b", iglu=[str(tmp_path / "missing")])


def test_an_unknown_environment_is_refused(datacoral_endpoint: Endpoint) -> None:
    with pytest.raises(ValueError, match="no environment 'qa': there are"):
        datacoral_endpoint.good_events("qa")
