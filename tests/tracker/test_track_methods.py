"""Every track_* method sends exactly the fields it should, over GET and POST."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from snowplow_tracker import Emitter, SelfDescribingJson, Subject, Tracker
from tests.support.payload_data import validation_errors
from tests.support.recorder import Recorder, decode_b64_json

SP = "iglu:com.snowplowanalytics.snowplow"
UNSTRUCT = f"{SP}/unstruct_event/jsonschema/1-0-0"
CONTEXTS = f"{SP}/contexts/jsonschema/1-0-1"
VOLATILE = ("eid", "dtm", "stm", "tv")
BASE = {"p": "pc", "tna": "ns", "aid": "app"}
CONTEXT = SelfDescribingJson("iglu:com.acme/user/jsonschema/1-0-0", {"id": "u-1", "näme": "Zoë"})


def sd(schema: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"schema": UNSTRUCT, "data": {"schema": schema, "data": data}}


def send(recorder: Recorder, method: str, call: Callable[[Tracker], Any], count: int = 1) -> list:
    emitter = Emitter(recorder.url, method=method, batch_size=1)
    tracker = Tracker("ns", emitter, app_id="app")
    call(tracker)
    events = recorder.wait_for_events(count)
    for request in recorder.requests:
        expected_path = "/i" if method == "get" else "/com.snowplowanalytics.snowplow/tp2"
        assert request.path == expected_path
        if method == "post":
            assert validation_errors(request.json()) == []
    for event in events:
        assert all(isinstance(v, str) for v in event.values())
        assert re.fullmatch(r"[0-9a-f-]{36}", event["eid"])
        assert re.fullmatch(r"\d{13}", event["dtm"]) and re.fullmatch(r"\d{13}", event["stm"])
    return events


def stable(event: dict[str, str]) -> dict[str, Any]:
    """The event without per-send values, with JSON fields decoded."""
    out: dict[str, Any] = {k: v for k, v in event.items() if k not in VOLATILE}
    for key in ("ue_px", "cx"):
        if key in out:
            out[key] = decode_b64_json(out[key])
    return out


METHODS = pytest.mark.parametrize("method", ["get", "post"])


@METHODS
def test_page_view(recorder: Recorder, method: str) -> None:
    (event,) = send(
        recorder,
        method,
        lambda t: t.track_page_view("https://shop/ä?q=1&x", "Titel ü", "https://ref/", [CONTEXT]),
    )
    assert stable(event) == {
        **BASE,
        "e": "pv",
        "url": "https://shop/ä?q=1&x",
        "page": "Titel ü",
        "refr": "https://ref/",
        "cx": {"schema": CONTEXTS, "data": [CONTEXT.to_json()]},
    }


@METHODS
def test_page_ping(recorder: Recorder, method: str) -> None:
    (event,) = send(
        recorder, method, lambda t: t.track_page_ping("https://a/", "T", None, 0, 10, 5, 500)
    )
    assert stable(event) == {
        **BASE,
        "e": "pp",
        "url": "https://a/",
        "page": "T",
        "pp_mix": "0",
        "pp_max": "10",
        "pp_miy": "5",
        "pp_may": "500",
    }


@METHODS
def test_link_click(recorder: Recorder, method: str) -> None:
    (event,) = send(
        recorder,
        method,
        lambda t: t.track_link_click("https://t/", "id1", ["a", "b"], "_blank", "Click"),
    )
    assert stable(event) == {
        **BASE,
        "e": "ue",
        "ue_px": sd(
            f"{SP}/link_click/jsonschema/1-0-1",
            {
                "targetUrl": "https://t/",
                "elementId": "id1",
                "elementClasses": ["a", "b"],
                "elementTarget": "_blank",
                "elementContent": "Click",
            },
        ),
    }


@METHODS
@pytest.mark.parametrize("name", ["add_to_cart", "remove_from_cart"])
def test_cart_events(recorder: Recorder, method: str, name: str) -> None:
    (event,) = send(
        recorder,
        method,
        lambda t: getattr(t, f"track_{name}")("sku-1", 2, "Shoe", "feet", 9.5, "EUR"),
    )
    assert stable(event) == {
        **BASE,
        "e": "ue",
        "ue_px": sd(
            f"{SP}/{name}/jsonschema/1-0-0",
            {
                "sku": "sku-1",
                "quantity": 2,
                "name": "Shoe",
                "category": "feet",
                "unitPrice": 9.5,
                "currency": "EUR",
            },
        ),
    }


@METHODS
def test_form_change(recorder: Recorder, method: str) -> None:
    (event,) = send(
        recorder,
        method,
        lambda t: t.track_form_change("f1", "e1", "INPUT", "v", "TEXT", ["c1"]),
    )
    assert stable(event)["ue_px"] == sd(
        f"{SP}/change_form/jsonschema/1-0-0",
        {
            "formId": "f1",
            "elementId": "e1",
            "nodeName": "INPUT",
            "value": "v",
            "type": "text",
            "elementClasses": ["c1"],
        },
    )


@METHODS
def test_form_submit(recorder: Recorder, method: str) -> None:
    elements = [{"name": "email", "value": "a@b", "nodeName": "INPUT", "type": "email"}]
    (event,) = send(recorder, method, lambda t: t.track_form_submit("f1", ["x"], elements))
    assert stable(event)["ue_px"] == sd(
        f"{SP}/submit_form/jsonschema/1-0-0",
        {"formId": "f1", "formClasses": ["x"], "elements": elements},
    )


@METHODS
def test_site_search(recorder: Recorder, method: str) -> None:
    (event,) = send(
        recorder, method, lambda t: t.track_site_search(["red", "shoe"], {"size": "9"}, 40, 10)
    )
    assert stable(event)["ue_px"] == sd(
        f"{SP}/site_search/jsonschema/1-0-0",
        {"terms": ["red", "shoe"], "filters": {"size": "9"}, "totalResults": 40, "pageResults": 10},
    )


@METHODS
def test_ecommerce_transaction_with_items(recorder: Recorder, method: str) -> None:
    items = [
        {"sku": "s1", "price": 2.5, "quantity": 2, "name": "One", "category": "c"},
        {"sku": "s2", "price": 5, "quantity": 1},
    ]
    original = [dict(item) for item in items]
    events = send(
        recorder,
        method,
        lambda t: t.track_ecommerce_transaction(
            "o-1", 10.0, "aff", 1.5, 2.0, "Köln", "NRW", "DE", "EUR", items, tstamp=1700000000123
        ),
        count=3,
    )
    assert items == original, "items must not be modified"
    tr, ti1, ti2 = (stable(e) for e in events)
    assert tr == {
        **BASE,
        "e": "tr",
        "tr_id": "o-1",
        "tr_tt": "10.0",
        "tr_af": "aff",
        "tr_tx": "1.5",
        "tr_sh": "2.0",
        "tr_ci": "Köln",
        "tr_st": "NRW",
        "tr_co": "DE",
        "tr_cu": "EUR",
        "ttm": "1700000000123",
    }
    assert ti1 == {
        **BASE,
        "e": "ti",
        "ti_id": "o-1",
        "ti_sk": "s1",
        "ti_pr": "2.5",
        "ti_qu": "2",
        "ti_nm": "One",
        "ti_ca": "c",
        "ti_cu": "EUR",
        "ttm": "1700000000123",
    }
    assert ti2["ti_sk"] == "s2" and ti2["ti_pr"] == "5" and ti2["ti_id"] == "o-1"


@METHODS
def test_screen_view_legacy_schema(recorder: Recorder, method: str) -> None:
    (event,) = send(recorder, method, lambda t: t.track_screen_view("Home", "scr-1"))
    assert stable(event)["ue_px"] == sd(
        f"{SP}/screen_view/jsonschema/1-0-0", {"name": "Home", "id": "scr-1"}
    )


@METHODS
def test_mobile_screen_view(recorder: Recorder, method: str) -> None:
    (event,) = send(
        recorder,
        method,
        lambda t: t.track_mobile_screen_view("Home", None, "feed", "Prev", "p-1", "list", "push"),
    )
    data = stable(event)["ue_px"]["data"]
    assert data["schema"] == "iglu:com.snowplowanalytics.mobile/screen_view/jsonschema/1-0-0"
    generated = data["data"].pop("id")
    uuid.UUID(generated)
    assert data["data"] == {
        "name": "Home",
        "type": "feed",
        "previousName": "Prev",
        "previousId": "p-1",
        "previousType": "list",
        "transitionType": "push",
    }


@METHODS
def test_struct_event(recorder: Recorder, method: str) -> None:
    (event,) = send(
        recorder, method, lambda t: t.track_struct_event("shop", "add", "lbl", "prop", 2.5)
    )
    assert stable(event) == {
        **BASE,
        "e": "se",
        "se_ca": "shop",
        "se_ac": "add",
        "se_la": "lbl",
        "se_pr": "prop",
        "se_va": "2.5",
    }


@METHODS
@pytest.mark.parametrize("name", ["track_self_describing_event", "track_unstruct_event"])
def test_self_describing_event_and_alias(recorder: Recorder, method: str, name: str) -> None:
    subject = Subject().set_user_id("user-9").set_platform("srv")
    sjson = SelfDescribingJson("iglu:com.acme/thing/jsonschema/1-0-0", {"k": "välue 😀"})
    (event,) = send(
        recorder,
        method,
        lambda t: getattr(t, name)(sjson, [CONTEXT], 1699999999999, subject),
    )
    assert stable(event) == {
        **BASE,
        "p": "srv",
        "uid": "user-9",
        "e": "ue",
        "ttm": "1699999999999",
        "ue_px": sd("iglu:com.acme/thing/jsonschema/1-0-0", {"k": "välue 😀"}),
        "cx": {"schema": CONTEXTS, "data": [CONTEXT.to_json()]},
    }


@METHODS
def test_plain_json_fields_without_base64(recorder: Recorder, method: str) -> None:
    emitter = Emitter(recorder.url, method=method, batch_size=1)
    tracker = Tracker("ns", emitter, app_id="app", encode_base64=False)
    tracker.track_self_describing_event(SelfDescribingJson("test", {"ü": "€"}), [CONTEXT])
    (event,) = recorder.wait_for_events(1)
    assert "ue_px" not in event and "cx" not in event
    import json

    assert json.loads(event["ue_pr"]) == sd("test", {"ü": "€"})
    assert json.loads(event["co"])["data"] == [CONTEXT.to_json()]
