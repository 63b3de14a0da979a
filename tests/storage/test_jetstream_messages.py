"""A request's records as one JetStream message: the format, the id, the size limit."""

from __future__ import annotations

import dataclasses

import orjson
import pytest

from datacoral.storage.base import BadRow, GoodEvent
from datacoral.storage.jetstream_messages import (
    BAD_FIELDS,
    GOOD_FIELDS,
    MessageFormatError,
    decode,
    encode,
    message_id,
    messages,
)
from tests.storage.factories import bad_row, good_event


def test_version_1_names_every_field_of_the_records_in_order() -> None:
    # A field added to GoodEvent or BadRow needs a new format version, not a silent change.
    assert tuple(f.name for f in dataclasses.fields(GoodEvent)) == tuple(GOOD_FIELDS)
    assert {f.name for f in dataclasses.fields(BadRow)} == set(BAD_FIELDS)


def test_records_come_back_as_they_went() -> None:
    good = [
        good_event(
            fingerprint=bytes(range(16)),
            se_value=1.5,
            ti_quantity=3,
            schema_validated=True,
            contexts='[{"schema":"s","data":{}}]',
            extra={"tna": "ns"},
            page_title="nul \x00 and a lone surrogate \ud83d",
        ),
        good_event("prod"),
    ]
    bad = [bad_row(), BadRow("r", "p \ud800", 5, None, None, "size_violation")]
    assert decode(encode(good, bad)) == (good, bad)


def test_a_message_is_compact_json_with_its_version_first() -> None:
    body = orjson.loads(encode([good_event()], [bad_row()]))
    assert body[0] == 1
    assert len(body[1][0]) == len(GOOD_FIELDS)


@pytest.mark.parametrize(
    "data", [b"", b"{}", b"[2, [], []]", b'[1, [["too few"]], []]', b"\xff\xfe"]
)
def test_anything_else_is_refused_with_a_reason(data: bytes) -> None:
    with pytest.raises(MessageFormatError):
        decode(data)


def test_a_retry_has_the_same_id_though_its_send_and_arrival_times_differ() -> None:
    event = good_event(collector_tstamp=1, dvce_sent_tstamp=10)
    row = BadRow('e: unknown: "zz"', '{"e":"zz","stm":"1700000000001"}', 1, "dev", None)
    retried_event = dataclasses.replace(event, collector_tstamp=2, dvce_sent_tstamp=20)
    retried_row = dataclasses.replace(
        row, payload='{"e":"zz","stm":"1700000009999"}', received_tstamp=2
    )
    assert message_id([event], [row]) == message_id([retried_event], [retried_row])


def test_other_content_has_another_id() -> None:
    event = good_event()
    assert message_id([event], []) != message_id([good_event()], [])
    assert message_id([event], []) != message_id(
        [dataclasses.replace(event, fingerprint=b"content-b")], []
    )
    assert message_id([event], []) != message_id([event], [bad_row()])
    assert message_id([], [bad_row("dev")]) != message_id([], [bad_row("prod")])


def test_records_over_the_limit_are_split_into_parts_that_fit() -> None:
    good = [good_event(page_title="x" * 2000) for _ in range(20)]
    bad = [bad_row(reason="y" * 2000) for _ in range(5)]
    parts = messages(good, bad, limit=10_000)
    assert len(parts) > 1
    assert all(len(part.data) <= 10_000 for part in parts)
    assert len({part.message_id for part in parts}) == len(parts)
    decoded = [decode(part.data) for part in parts]
    assert [e for g, _ in decoded for e in g] == good
    assert [r for _, b in decoded for r in b] == bad
    # The same records split the same way: a retry's parts are deduplicated too.
    assert [p.message_id for p in messages(good, bad, limit=10_000)] == [
        p.message_id for p in parts
    ]


def test_a_record_too_large_for_any_message_is_kept_as_a_size_violation() -> None:
    huge = good_event(page_title="z" * 50_000)
    (part,) = messages([huge], [], limit=10_000)
    good, bad = decode(part.data)
    assert good == []
    (row,) = bad
    assert row.kind == "size_violation"
    assert row.event_id == huge.event_id
    assert "more than the stream's message limit" in row.reason
    assert len(row.payload) == 1024
