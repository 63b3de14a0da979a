"""The pure rules, one by one: parsers, base64, wrappers, timestamps, addresses, routes."""

from __future__ import annotations

import base64
import json

import pytest

from datacoral.collector import protocol
from datacoral.collector.enrich import (
    client_ip,
    derived_tstamp,
    event_ip,
    fingerprint,
    split_schema_uri,
    trusted_networks,
)
from datacoral.collector.errors import EventRejected, MalformedRequest
from datacoral.collector.routes import Endpoint, match, redact


@pytest.mark.parametrize(
    "encode",
    [
        base64.urlsafe_b64encode,
        base64.b64encode,
        lambda raw: base64.urlsafe_b64encode(raw).rstrip(b"="),
        lambda raw: base64.b64encode(raw).rstrip(b"="),
    ],
)
def test_base64_in_every_alphabet_and_padding(encode: object) -> None:
    raw = b'{"k": "~~~???>>>"}'  # the encoding contains both + and / (or - and _)
    text = encode(raw).decode()  # type: ignore[operator]
    assert protocol.decode_base64("ue_px", text) == raw


@pytest.mark.parametrize("text", ["###", "a", "ab$c", "YWJj=ZA", "é"])
def test_invalid_base64(text: str) -> None:
    with pytest.raises(EventRejected, match=r"^ue_px: not valid base64$"):
        protocol.decode_base64("ue_px", text)


def test_timestamps() -> None:
    assert protocol.parse_timestamp("dtm", "1700000000000") == 1700000000000
    assert protocol.parse_timestamp("dtm", "") is None
    for bad in ("-1", "1.5", "1e3", "١٢٣", " 12"):
        with pytest.raises(EventRejected, match=r"^dtm: not a timestamp in milliseconds: "):
            protocol.parse_timestamp("dtm", bad)
    with pytest.raises(EventRejected, match="after year 9999"):
        protocol.parse_timestamp("ttm", "253402300800000")


def test_numbers_are_lenient_but_exact_about_garbage() -> None:
    assert protocol.parse_integer("ti_qu", "3.0") == 3
    assert protocol.parse_integer("ti_qu", " 4 ") == 4
    assert protocol.parse_decimal("se_va", "1e2") == 100.0
    assert protocol.parse_decimal("se_va", "") is None
    for bad in ("nan", "inf", "x"):
        with pytest.raises(EventRejected, match=r"^se_va: not a"):
            protocol.parse_decimal("se_va", bad)
    with pytest.raises(EventRejected, match="out of range"):
        protocol.parse_integer("vid", str(2**63))


def test_uuid() -> None:
    assert protocol.parse_uuid("eid", "C5C2C2B2-0000-4000-8000-00000000000A").endswith("a")
    for bad in (
        "abc",
        "c5c2c2b2000040008000000000000000",
        "{c5c2c2b2-0000-4000-8000-000000000001}",
    ):
        with pytest.raises(EventRejected, match=r"^eid: not a UUID: "):
            protocol.parse_uuid("eid", bad)


def test_envelope() -> None:
    good = {
        "schema": "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-0",
        "data": [{}],
    }
    assert protocol.split_body(json.dumps(good).encode()) == [{}]
    with pytest.raises(MalformedRequest, match="not valid JSON"):
        protocol.split_body(b"\xff\xfe")
    with pytest.raises(MalformedRequest, match="empty"):
        protocol.split_body(b"  \n")


def test_content_types() -> None:
    for accepted in (None, "application/json", "APPLICATION/JSON; charset=UTF-8", "text/plain"):
        protocol.check_content_type(accepted)
    with pytest.raises(MalformedRequest, match=r"^content-type: not accepted: 'application/x-www"):
        protocol.check_content_type("application/x-www-form-urlencoded")


def test_query_string() -> None:
    assert protocol.parse_query(b"e=pv&page=Gr%C3%BC%C3%9Fe&x=&e=se") == {
        "e": "se",
        "page": "Grüße",
        "x": "",
    }
    with pytest.raises(MalformedRequest, match="more than 1000 parameters"):
        protocol.parse_query(b"&".join(b"a%d=1" % i for i in range(1001)))


def test_shown_values_are_short() -> None:
    assert protocol.shown("x" * 100).endswith("...")
    assert len(protocol.shown("x" * 100)) == 60
    assert protocol.shown([1, {"a": None}]) == '[1,{"a":null}]'


def test_derived_timestamp() -> None:
    assert derived_tstamp(10_000, 1_000, 1_600, None) == 9_400
    assert derived_tstamp(10_000, 1_000, 1_600, 5) == 5
    assert derived_tstamp(10_000, 2_000, 1_000, None) == 10_000
    assert derived_tstamp(10_000, None, 1_000, None) == 10_000


def test_schema_uri() -> None:
    assert split_schema_uri("iglu:com.acme/click_event/jsonschema/1-0-2") == (
        "com.acme",
        "click_event",
        "jsonschema",
        "1-0-2",
    )
    assert split_schema_uri("test") is None
    assert split_schema_uri("iglu:com.acme/x/jsonschema/1-0") is None


def test_addresses() -> None:
    proxies = trusted_networks(["10.0.0.0/8", "::1"])
    assert client_ip("10.1.1.1", "198.51.100.7, 10.2.2.2", proxies) == "198.51.100.7"
    assert client_ip("203.0.113.1", "198.51.100.7", proxies) == "203.0.113.1"  # untrusted peer
    assert client_ip("10.1.1.1", "6.6.6.6, 198.51.100.7", proxies) == "198.51.100.7"  # no forging
    assert client_ip("10.1.1.1", None, proxies) == "10.1.1.1"
    assert client_ip("::1", "2001:db8::1", proxies) == "2001:db8::1"
    assert event_ip("203.0.113.9|x") == event_ip("203.0.113.9, y") == "203.0.113.9"


def test_fingerprint_ignores_only_the_send_time() -> None:
    base = {"e": "pv", "eid": "x", "stm": "1"}
    assert fingerprint(base) == fingerprint({**base, "stm": "2"})
    assert fingerprint(base) == fingerprint(dict(reversed(base.items())))
    assert fingerprint(base) != fingerprint({**base, "aid": "a"})
    assert len(fingerprint(base)) == 16


def test_routes() -> None:
    found = match("/k/dck_abc/com.snowplowanalytics.snowplow/tp2")
    assert found is not None and found[0].endpoint is Endpoint.EVENTS and found[1] == "dck_abc"
    assert match("/k/dck_abc/ready") is None
    assert redact("/k/dck_abc/i") == "/k/***/i"
    assert redact("/i") == "/i"
