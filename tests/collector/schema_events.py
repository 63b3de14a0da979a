"""Events with Iglu schemas for the validation tests, and what became of them."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from datacoral.storage import open_storage
from datacoral.storage.base import BadRow, EventCounts
from datacoral.storage.target import Target
from tests.collector.builders import CONTEXTS, UNSTRUCT

SP = "iglu:com.snowplowanalytics.snowplow"
LINK_CLICK = f"{SP}/link_click/jsonschema/1-0-1"
WEB_PAGE = f"{SP}/web_page/jsonschema/1-0-0"
SUBMIT_FORM = f"{SP}/submit_form/jsonschema/1-0-0"
PAGE_ID = "0b6ff2d8-1f3b-4a5c-9d8e-5f0e7c1d2a3b"


def self_describing(schema: str, data: Any, *contexts: tuple[str, Any]) -> dict[str, str]:
    """An ``e=ue`` event as the Python tracker sends it unencoded (``ue_pr``, ``co``)."""
    event = {
        "e": "ue",
        "p": "web",
        "tv": "py-test",
        "eid": str(uuid.uuid4()),
        "ue_pr": json.dumps({"schema": UNSTRUCT, "data": {"schema": schema, "data": data}}),
    }
    if contexts:
        entities = [{"schema": uri, "data": value} for uri, value in contexts]
        event["co"] = json.dumps({"schema": CONTEXTS, "data": entities})
    return event


def valid() -> dict[str, str]:
    return self_describing(
        LINK_CLICK,
        {"targetUrl": "https://shop.example/p/1", "elementId": "buy"},
        (WEB_PAGE, {"id": PAGE_ID}),
    )


def failing() -> dict[str, str]:
    """Both entities fail: the event misses a required member and has a wrong type, the
    context has a bad pattern and a member its schema does not allow."""
    return self_describing(
        LINK_CLICK,
        {"elementId": "buy", "elementClasses": "big"},
        (WEB_PAGE, {"id": "not-a-uuid", "tab": 1}),
    )


FAILING_REASON = (
    f'event {LINK_CLICK}: /data/targetUrl: required; /data/elementClasses: type "array"; '
    f"context[0] {WEB_PAGE}: /data/id: pattern"
    ' "^[a-fA-F0-9]{8}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{12}$";'
    " /data/tab: additionalProperties"
)
UNKNOWN = "iglu:com.acme/checkout/jsonschema/1-0-0"


def unresolvable() -> dict[str, str]:
    """A schema no source has (a valid context beside it)."""
    return self_describing(UNKNOWN, {"step": 2}, (WEB_PAGE, {"id": PAGE_ID}))


def unresolvable_reason(registry_url: str) -> str:
    path = "com.acme/checkout/jsonschema/1-0-0"
    return (
        f"event {UNKNOWN}: not found (embedded: no {path}; static {registry_url}: {path}: HTTP 404)"
    )


def not_iglu() -> dict[str, str]:
    """The seed snippet's ``schema="test"``: not an Iglu URI at all."""
    return self_describing("test", {"foo": "bar"})


NOT_IGLU_REASON = (
    "event 'test': schema: not an Iglu URI (iglu:vendor/name/format/MODEL-REVISION-ADDITION)"
)


def page_view() -> dict[str, str]:
    """Nothing self-describing: nothing to validate."""
    return {
        "e": "pv",
        "p": "web",
        "tv": "py-test",
        "eid": str(uuid.uuid4()),
        "url": "https://a.example/",
    }


@dataclass
class Stored:
    """An environment's rows: each good event's ``schema_validated`` by id, the bad rows."""

    validated: dict[str, bool]
    bad: list[BadRow]
    counts: EventCounts


def stored(db: Target, environment: str) -> Stored:
    storage = open_storage(db)
    try:
        events = storage.latest_events(environment, 1000)
        bad = [row.row for row in storage.latest_bad_rows(environment, 1000)]
        [counts] = storage.count_events(environment)
    finally:
        storage.close()
    return Stored({e.event.event_id: e.event.schema_validated for e in events}, bad, counts)
