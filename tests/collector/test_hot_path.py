"""The hot path's shortcuts give the same answers as the plain library calls they replace."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qsl

from hypothesis import given
from hypothesis import strategies as st

from datacoral.collector import protocol
from datacoral.storage import sqlite_rows

QUERY_BYTES = st.lists(
    st.sampled_from(
        [b"&", b"=", b"+", b"%", b"%2", b"%41", b"%C3%BC", b"%zz", b"a", b"e", b"\xc3\xbc", b"\xff"]
    ),
    max_size=40,
).map(b"".join)


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
