"""Every ``track_*`` method that names a Snowplow schema sends data that schema accepts.

The schemas are the real ones of Iglu Central (``shared/iglu-central``, data we do not
write): each method is called with all its optional arguments and with none of them,
and the self-describing event it builds, the unstruct_event envelope around it and
the contexts envelope are validated against their schemas (Draft 4, as Iglu's
meta-schema is).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator

from snowplow_tracker import SelfDescribingJson, Subject, Tracker
from tests.support.iglu import iglu_central_dir

IGLU = iglu_central_dir() / "schemas"
CONTEXT = SelfDescribingJson(
    "iglu:com.snowplowanalytics.snowplow/geolocation_context/jsonschema/1-0-0",
    {"latitude": 52.5, "longitude": 13.4},
)


def schema_of(uri: str) -> dict[str, Any]:
    vendor, name, form, version = uri.removeprefix("iglu:").split("/")
    schema: dict[str, Any] = json.loads((IGLU / vendor / name / form / version).read_text())
    return schema


class Sink:
    """An emitter that keeps what it is given."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def input(self, payload: dict[str, Any]) -> None:
        self.events.append(payload)


def failures(uri: str, instance: Any) -> list[str]:
    validator = Draft4Validator(schema_of(uri))
    return sorted(f"{e.json_path}: {e.message}" for e in validator.iter_errors(instance))


# Each method with every optional argument, and with only what it requires.
CALLS: dict[str, Callable[[Tracker], object]] = {
    "link_click, all": lambda t: t.track_link_click(
        "https://example.com/", "id", ["a", "b"], "_blank", "Read more", [CONTEXT], 1.7e12
    ),
    "link_click, required": lambda t: t.track_link_click("https://example.com/"),
    "add_to_cart, all": lambda t: t.track_add_to_cart(
        "sku-1", 2, "Socks", "clothes", 9.99, "EUR", [CONTEXT], 1.7e12
    ),
    "add_to_cart, required": lambda t: t.track_add_to_cart("sku-1", 1),
    "remove_from_cart, all": lambda t: t.track_remove_from_cart(
        "sku-1", 2, "Socks", "clothes", 9.99, "EUR", [CONTEXT], 1.7e12
    ),
    "remove_from_cart, required": lambda t: t.track_remove_from_cart("sku-1", 1),
    "form_change, all": lambda t: t.track_form_change(
        "form", "email", "INPUT", "a@b.c", "EMAIL", ["wide"], [CONTEXT], 1.7e12
    ),
    "form_change, required": lambda t: t.track_form_change("form", "email", "INPUT", None),
    "form_change, no element id": lambda t: t.track_form_change("form", None, "SELECT", "x"),
    "form_submit, all": lambda t: t.track_form_submit(
        "form",
        ["big"],
        [
            {"name": "email", "value": "a@b.c", "nodeName": "INPUT", "type": "email"},
            {"name": "notes", "value": None, "nodeName": "TEXTAREA"},
        ],
        [CONTEXT],
        1.7e12,
    ),
    "form_submit, required": lambda t: t.track_form_submit("form"),
    "site_search, all": lambda t: t.track_site_search(
        ["red", "socks"], {"in_stock": True, "size": "M"}, 120, 10, [CONTEXT], 1.7e12
    ),
    "site_search, required": lambda t: t.track_site_search(["socks"]),
    "screen_view, all": lambda t: t.track_screen_view("Home", "screen-1", [CONTEXT], 1.7e12),
    "screen_view, name only": lambda t: t.track_screen_view("Home"),
    "screen_view, id only": lambda t: t.track_screen_view(id_="screen-1"),
    "mobile_screen_view, all": lambda t: t.track_mobile_screen_view(
        "Home",
        "5628c4c6-3f8a-43f8-a09f-6ff68f68dfb6",
        "feed",
        "Login",
        "prev-id",
        "form",
        "push",
        [CONTEXT],
        1.7e12,
    ),
    "mobile_screen_view, required": lambda t: t.track_mobile_screen_view("Home"),
}


@pytest.mark.parametrize("call", sorted(CALLS))
def test_the_data_a_track_method_sends_validates_against_its_schema(call: str) -> None:
    sink = Sink()
    tracker = Tracker("ns", sink, Subject(), encode_base64=False)
    CALLS[call](tracker)
    (event,) = sink.events
    # A self-describing JSON {schema: S, data: D}: D is what S describes.
    envelope = json.loads(event["ue_pr"])
    assert failures(envelope["schema"], envelope["data"]) == []
    inner = envelope["data"]
    assert (IGLU / inner["schema"].removeprefix("iglu:")).exists(), inner["schema"]
    assert failures(inner["schema"], inner["data"]) == [], inner
    if "co" in event:
        contexts = json.loads(event["co"])
        assert failures(contexts["schema"], contexts["data"]) == []
        for entity in contexts["data"]:
            assert failures(entity["schema"], entity["data"]) == []


def test_the_schemas_named_are_those_of_iglu_central() -> None:
    assert IGLU.is_dir(), f"{IGLU} is missing: the shared Iglu Central copy"
    for name in ("link_click/jsonschema/1-0-1", "change_form/jsonschema/1-0-0"):
        assert (IGLU / "com.snowplowanalytics.snowplow" / name).exists()
    assert Path(IGLU / "com.snowplowanalytics.mobile/screen_view/jsonschema/1-0-0").exists()


def test_a_screen_view_without_name_or_id_is_refused_at_the_call() -> None:
    sink = Sink()
    tracker = Tracker("ns", sink)
    with pytest.raises(ValueError, match="name or id_"):
        tracker.track_screen_view()
    assert sink.events == []
