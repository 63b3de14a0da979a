"""The hot path's shortcuts give the same answers as the plain library calls they replace."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qsl

from hypothesis import given, settings
from hypothesis import strategies as st

from datacoral.collector import fields, protocol
from datacoral.collector.enrich import Arrival, fingerprint
from datacoral.collector.events import build_good_event
from datacoral.storage import sqlite_rows
from datacoral.storage.base import GoodEvent

QUERY_BYTES = st.lists(
    st.sampled_from(
        [
            *(b"&", b"=", b"+", b"%", b"%2", b"%41", b"%C3%BC", b"%zz", b"a", b"e"),
            # escapes of separators, of "+" and "%", and broken UTF-8 around separators
            *(b"%26", b"%3D", b"%3d", b"%2B", b"%25", b"%C3", b"%BC", b"%E2%82", b"\xc3"),
            *(b"\xc3\xbc", b"\xff"),
        ]
    ),
    max_size=40,
).map(b"".join)


@settings(max_examples=2000)
@given(QUERY_BYTES)
def test_parse_query_matches_parse_qsl(query: bytes) -> None:
    expected = dict(parse_qsl(query.decode("utf-8", "replace"), keep_blank_values=True))
    assert protocol.parse_query(query) == expected


def test_parse_query_keeps_the_parameter_limit() -> None:
    exactly = b"&".join(b"a%d=1" % i for i in range(protocol.MAX_QUERY_PARAMETERS))
    assert len(protocol.parse_query(exactly)) == protocol.MAX_QUERY_PARAMETERS


@given(st.uuids())
def test_event_id_bytes_matches_uuid(value: uuid.UUID) -> None:
    for text in (str(value), str(value).upper()):
        assert sqlite_rows.event_id_bytes(text) == value.bytes


def test_build_good_event_puts_every_field_in_its_column() -> None:
    """Events are built positionally (events.py): each payload key must still land in
    the column its rule names, and everything else in the collector's columns."""
    event = {name: "x" for name, (kind, _) in fields.FIELD_RULES.items() if kind == fields.TEXT}
    event |= {name: "1.5" for name in fields.DECIMAL_COLUMNS}
    event |= {name: "7" for name in (*fields.INTEGER_COLUMNS, *fields.INTEGER_EXTRAS)}
    event |= {"dtm": "1000", "stm": "3000", "ttm": "500", "e": "se", "p": "web", "other": "kept"}
    event |= {"eid": "C0FFEE00-1234-4abc-8def-0123456789ab", "ip": "10.0.0.9, 10.0.0.1"}
    event |= {"ua": "agent", "nuid": "n-1"}
    arrival = Arrival("dev", 9_000, "127.0.0.1", "curl", "cookie-id")
    built = build_good_event(dict(event), arrival)
    expected: dict[str, object] = {}
    for kind, column in fields.FIELD_RULES.values():
        if kind == fields.TEXT:
            expected[column] = "x"
        elif kind == fields.DECIMAL:
            expected[column] = 1.5
        elif kind == fields.INTEGER:
            expected[column] = 7
    assert built == GoodEvent(
        event_id="c0ffee00-1234-4abc-8def-0123456789ab",
        environment="dev",
        fingerprint=fingerprint(event),
        platform="web",
        event="struct",
        collector_tstamp=9_000,
        derived_tstamp=500,
        dvce_created_tstamp=1000,
        dvce_sent_tstamp=3000,
        true_tstamp=500,
        user_ipaddress="10.0.0.9",
        useragent="agent",
        network_userid="n-1",
        extra={"pp_mix": "7", "pp_max": "7", "pp_miy": "7", "pp_may": "7", "other": "kept"},
        **expected,  # type: ignore[arg-type]
    )
