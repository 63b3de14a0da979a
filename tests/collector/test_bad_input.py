"""Every kind of bad input gets its documented answer and a bad row with a precise reason."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from datacoral.storage.base import BadRow
from tests.collector.builders import TP2, b64, envelope, event, headers, unstruct
from tests.collector.conftest import Endpoint, create_keys, totals
from tests.support.server import running_server

# (case, extra event fields, expected reason)
BAD_EVENTS: list[tuple[str, dict[str, Any], str]] = [
    ("non-string value", {"dtm": 1700000000000}, "dtm: value is not a string: 1700000000000"),
    ("null value", {"aid": None}, "aid: value cannot be null"),
    ("missing e", {"e": None}, "e: missing required field"),
    ("unknown e", {"e": "zz"}, "e: unknown event type: 'zz'"),
    ("unknown platform", {"p": "moon"}, "p: unknown platform: 'moon'"),
    ("bad UUID", {"eid": "abc"}, "eid: not a UUID: 'abc'"),
    ("bad timestamp", {"dtm": "yesterday"}, "dtm: not a timestamp in milliseconds: 'yesterday'"),
    ("float timestamp", {"stm": "1700000000000.5"}, "stm: not a timestamp in milliseconds:"),
    ("bad base64", {"e": "ue", "ue_px": "###"}, "ue_px: not valid base64"),
    (
        "base64 of non-JSON",
        {"e": "ue", "ue_px": base64.urlsafe_b64encode(b"not json").decode()},
        "ue_px: decodes to non-JSON",
    ),
    ("plain non-JSON", {"e": "ue", "ue_pr": "{oops"}, "ue_pr: not valid JSON"),
    ("ue without payload", {"e": "ue"}, "ue_px: missing: a self-describing event (e=ue)"),
    (
        "not a wrapper",
        {"e": "ue", "ue_px": b64({"foo": "bar"})},
        "ue_px: not an unstruct_event wrapper {schema, data}",
    ),
    (
        "inner not self-describing",
        {"e": "ue", "ue_px": b64({"schema": unstruct()["schema"], "data": {"foo": 1}})},
        "ue_px: data is not a self-describing {schema, data} object",
    ),
    (
        "bad context entry",
        {
            "cx": b64(
                {
                    "schema": "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1",
                    "data": [{"nope": 1}],
                }
            )
        },
        "cx: context 0 is not a self-describing {schema, data} object",
    ),
    ("non-numeric decimal", {"e": "se", "se_va": "lots"}, "se_va: not a number: 'lots'"),
    ("non-integer quantity", {"e": "ti", "ti_qu": "1.5"}, "ti_qu: not an integer: '1.5'"),
]


def new_bad_rows(endpoint: Endpoint, since: int) -> list[BadRow]:
    storage = endpoint.storage()
    try:
        return [stored.row for stored in storage.bad_rows_after("dev", since)]
    finally:
        storage.close()


@pytest.fixture
def bad_row_mark(shared_endpoint: Endpoint) -> Iterator[int]:
    """The position of the latest bad row in dev before the test."""
    storage = shared_endpoint.storage()
    try:
        latest = storage.latest_bad_rows("dev", 1)
    finally:
        storage.close()
    yield latest[0].position if latest else 0


@pytest.mark.parametrize(("case", "fields", "reason"), BAD_EVENTS, ids=[c[0] for c in BAD_EVENTS])
def test_bad_event_becomes_a_bad_row_and_the_rest_is_stored(
    shared_endpoint: Endpoint, bad_row_mark: int, case: str, fields: dict[str, Any], reason: str
) -> None:
    good = event(aid="neighbour")
    bad = event(**fields)
    if bad.get("e") is None:
        bad.pop("e")
    response = shared_endpoint.session.post(
        shared_endpoint.url + TP2,
        json=envelope(good, bad),
        headers=headers(shared_endpoint.keys["dev"]),
    )
    assert (response.status_code, response.text) == (200, "ok"), case
    (row,) = new_bad_rows(shared_endpoint, bad_row_mark)
    assert row.reason.startswith(reason), row.reason
    assert row.kind == "tracker_protocol_violation"
    assert row.environment == "dev"
    assert json.loads(row.payload) == bad
    storage = shared_endpoint.storage()
    try:
        assert len(storage.find_events(good["eid"])) == 1
    finally:
        storage.close()


MALFORMED: list[tuple[str, bytes, str, str]] = [
    ("invalid JSON", b'{"schema": ', "application/json", "body: not valid JSON"),
    ("empty body", b"", "application/json", "body: empty"),
    ("envelope is a list", b"[]", "application/json", "envelope: not a JSON object"),
    (
        "wrong envelope schema",
        json.dumps({"schema": "iglu:com.acme/x/jsonschema/1-0-0", "data": [event()]}).encode(),
        "application/json",
        "envelope: schema is not iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-*",
    ),
    (
        "empty data",
        json.dumps(envelope()).encode(),
        "application/json",
        "envelope: data is not a non-empty list: []",
    ),
    (
        "unknown content type",
        json.dumps(envelope(event())).encode(),
        "text/html",
        "content-type: not accepted: 'text/html'",
    ),
]


@pytest.mark.parametrize(
    ("case", "body", "ctype", "reason"), MALFORMED, ids=[m[0] for m in MALFORMED]
)
def test_malformed_request_is_one_bad_row_and_400(
    shared_endpoint: Endpoint, bad_row_mark: int, case: str, body: bytes, ctype: str, reason: str
) -> None:
    response = shared_endpoint.session.post(
        shared_endpoint.url + TP2,
        data=body,
        headers={"Content-Type": ctype, "X-Api-Key": shared_endpoint.keys["dev"]},
    )
    assert response.status_code == 400, case
    assert response.text.startswith("400 " + reason), response.text
    (row,) = new_bad_rows(shared_endpoint, bad_row_mark)
    assert row.reason.startswith(reason)
    assert row.payload == body.decode()


def test_text_plain_body_is_accepted_as_sendbeacon_sends_it(shared_endpoint: Endpoint) -> None:
    sent = event()
    response = shared_endpoint.session.post(
        shared_endpoint.url + TP2,
        data=json.dumps(envelope(sent)),
        headers={
            "Content-Type": "text/plain;charset=UTF-8",
            "X-Api-Key": shared_endpoint.keys["dev"],
        },
    )
    assert (response.status_code, response.text) == (200, "ok")


def test_non_object_in_data_is_a_bad_row(shared_endpoint: Endpoint, bad_row_mark: int) -> None:
    response = shared_endpoint.session.post(
        shared_endpoint.url + TP2,
        json=envelope(event(), "pv"),
        headers=headers(shared_endpoint.keys["dev"]),
    )
    assert response.status_code == 200
    (row,) = new_bad_rows(shared_endpoint, bad_row_mark)
    assert row.reason == "data[1]: not a JSON object"


@pytest.mark.parametrize(
    ("urlsafe", "padding"), [(True, True), (True, False), (False, True), (False, False)]
)
def test_every_base64_form_decodes(shared_endpoint: Endpoint, urlsafe: bool, padding: bool) -> None:
    data = {"text": "~~~???>>>", "n": "é"}  # encodes to both alphabet-specific characters
    encoded = b64(
        unstruct("iglu:com.acme/thing/jsonschema/1-0-0", data), urlsafe=urlsafe, padding=padding
    )
    sent = event(e="ue", ue_px=encoded)
    response = shared_endpoint.session.post(
        shared_endpoint.url + TP2, json=envelope(sent), headers=headers(shared_endpoint.keys["dev"])
    )
    assert response.status_code == 200
    storage = shared_endpoint.storage()
    try:
        (stored,) = storage.find_events(sent["eid"])
    finally:
        storage.close()
    assert json.loads(stored.event.unstruct_event or "")["data"] == data
    assert (stored.event.event_vendor, stored.event.event_name) == ("com.acme", "thing")
    assert (stored.event.event_format, stored.event.event_version) == ("jsonschema", "1-0-0")


def test_pixel_with_a_bad_event_stores_a_bad_row(
    shared_endpoint: Endpoint, bad_row_mark: int
) -> None:
    response = shared_endpoint.session.get(
        shared_endpoint.url + "/i",
        params={**event(eid="abc", p="web"), "api_key": shared_endpoint.keys["dev"]},
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/gif"
    (row,) = new_bad_rows(shared_endpoint, bad_row_mark)
    assert row.reason == "eid: not a UUID: 'abc'"
    assert "api_key" not in row.payload


def test_pixel_without_event_parameters_is_400(
    shared_endpoint: Endpoint, bad_row_mark: int
) -> None:
    response = shared_endpoint.session.get(
        shared_endpoint.url + "/i", headers={"X-Api-Key": shared_endpoint.keys["dev"]}
    )
    assert response.status_code == 400
    assert response.text.startswith("400 query string: no event parameters")
    (row,) = new_bad_rows(shared_endpoint, bad_row_mark)
    assert row.reason == "query string: no event parameters"


def test_body_over_the_limit_is_413_with_a_size_violation(db_path: Any) -> None:
    keys = create_keys(db_path)
    limit = 4096
    with running_server(db_path, max_body_bytes=limit) as server:
        endpoint = Endpoint(server, db_path, keys, requests.Session())
        big = json.dumps(envelope(*[event(aid="x" * 200) for _ in range(40)])).encode()
        assert len(big) > limit
        response = endpoint.session.post(server.url + TP2, data=big, headers=headers(keys["dev"]))
        assert response.status_code == 413
        assert response.text.startswith(f"413 body: {len(big)} bytes exceed the limit of {limit}")

        def chunks() -> Iterator[bytes]:
            for start in range(0, len(big), 1000):
                yield big[start : start + 1000]

        chunked = endpoint.session.post(
            server.url + TP2, data=chunks(), headers=headers(keys["dev"])
        )
        assert chunked.status_code == 413
        assert chunked.text.startswith(f"413 body: more than {limit} bytes")
        # The server is still healthy and the connection usable after refusing.
        assert endpoint.session.get(server.url + "/health").status_code == 200
        rows = new_bad_rows(endpoint, 0)
        endpoint.session.close()
    assert [r.kind for r in rows] == ["size_violation", "size_violation"]
    assert str(len(big)) in rows[0].reason
    assert rows[0].payload == big[:1024].decode()
    assert rows[1].payload == big[:1024].decode()


def test_oversized_body_without_a_key_is_413_and_stores_nothing(shared_endpoint: Endpoint) -> None:
    before = totals(shared_endpoint)
    response = shared_endpoint.session.post(
        shared_endpoint.url + TP2, data=b"x" * (1024 * 1024 + 1), headers=headers(None)
    )
    assert response.status_code == 413
    assert totals(shared_endpoint) == before


def test_malformed_body_without_a_key_is_401_and_stores_nothing(shared_endpoint: Endpoint) -> None:
    before = totals(shared_endpoint)
    response = shared_endpoint.session.post(
        shared_endpoint.url + TP2, data=b"{", headers=headers(None)
    )
    assert (response.status_code, response.text.strip()) == (
        401,
        "401 missing API key: send X-Api-Key",
    )
    assert totals(shared_endpoint) == before
