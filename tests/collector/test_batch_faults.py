"""A batch with many faults: each faulty event is its own bad row, the rest is stored.

The bad-input tests send one bad event per request; these send several different
ones at once (a collector that stopped at the first would pass those), and event
ids that are 36 characters long without being UUIDs (``uuid.UUID`` would accept
them: it drops dashes and braces before reading the hex digits).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from datacoral.collector import protocol
from datacoral.collector.errors import EventRejected
from tests.collector.builders import TP2, UNSTRUCT, envelope, event, headers
from tests.collector.conftest import Endpoint, totals
from tests.collector.stored import bad_rows_after, last_bad_row, times_stored

#: 36 characters each, hex digits and dashes or braces, none a UUID's 8-4-4-4-12 form.
NOT_UUIDS_OF_36 = [
    "0123456789abcdef0123456789abcdef----",
    "----0123456789abcdef0123456789abcdef",
    "01234567-89abcdef-0123-4567-89abcdef",
    "0123456789ab-cdef-0123-4567-89abcdef",
    "{0123456789abcdef0123456789abcdef--}",
]


def test_not_uuids_are_all_36_characters_uuid_would_read() -> None:
    for text in NOT_UUIDS_OF_36:
        assert len(text) == 36
        assert uuid.UUID(text).hex == "0123456789abcdef0123456789abcdef"


def deep_ue_pr(levels: int) -> str:
    inner = {"schema": "iglu:com.acme/x/jsonschema/1-0-0", "data": None}
    text = json.dumps({"schema": UNSTRUCT, "data": inner})
    return text.replace("null", "[" * levels + "]" * levels)


def test_every_faulty_event_of_a_batch_becomes_its_own_bad_row(
    shared_endpoint: Endpoint,
) -> None:
    mark = last_bad_row(shared_endpoint)
    goods = [event(aid=f"good-{i}") for i in range(4)]
    faults: list[tuple[Any, str]] = [
        (event(e="zz"), "e: unknown event type: 'zz'"),
        (event(eid=NOT_UUIDS_OF_36[0]), f"eid: not a UUID: '{NOT_UUIDS_OF_36[0]}'"),
        (event(dtm=1700000000000), "dtm: value is not a string: 1700000000000"),  # type: ignore[arg-type]
        ("pv", "data[5]: not a JSON object"),
        (event(e="se", se_ca="cat\ud83d"), "se_ca: lone surrogate"),
        (event(e="ue", ue_pr=deep_ue_pr(400)), "ue_pr: JSON nested 401 levels deep"),
        (event(p="moon"), "p: unknown platform: 'moon'"),
    ]
    sent = [goods[0], *(f for f, _ in faults[:3]), goods[1], faults[3][0], goods[2]]
    sent += [*(f for f, _ in faults[4:]), goods[3]]
    assert sent[5] == "pv"

    response = shared_endpoint.session.post(
        shared_endpoint.url + TP2,
        data=json.dumps(envelope(*sent)).encode(),
        headers=headers(shared_endpoint.keys["dev"]),
    )
    assert (response.status_code, response.text) == (200, "ok")
    assert times_stored(shared_endpoint, *(g["eid"] for g in goods)) == [1, 1, 1, 1]
    rows = bad_rows_after(shared_endpoint, mark)
    assert len(rows) == len(faults), [row.reason for row in rows]
    for row, (faulty, reason) in zip(rows, faults, strict=True):
        assert row.reason.startswith(reason), (row.reason, reason)
        assert json.loads(row.payload) == faulty


def test_ids_of_36_characters_that_are_not_uuids_are_bad_rows(endpoint: Endpoint) -> None:
    key = endpoint.keys["dev"]
    valid = event(eid=str(uuid.uuid4()).upper())
    posted = [event(eid=text) for text in NOT_UUIDS_OF_36]
    response = endpoint.session.post(
        endpoint.url + TP2, json=envelope(valid, *posted), headers=headers(key)
    )
    assert (response.status_code, response.text) == (200, "ok")
    pixels = [event(eid=text, p="web") for text in NOT_UUIDS_OF_36]
    for pixel in pixels:
        answer = endpoint.session.get(endpoint.url + "/i", params=pixel, headers=headers(key))
        assert answer.status_code == 200

    assert totals(endpoint)["dev"] == (1, 2 * len(NOT_UUIDS_OF_36))
    rows = bad_rows_after(endpoint, 0)
    assert [row.reason for row in rows] == [f"eid: not a UUID: {t!r}" for t in NOT_UUIDS_OF_36] * 2
    assert all(row.event_id is None for row in rows)
    storage = endpoint.storage()
    try:
        (stored,) = storage.find_events(valid["eid"].lower())
    finally:
        storage.close()
    assert stored.event.event_id == valid["eid"].lower()


@st.composite
def hex_digits_and_four_dashes(draw: st.DrawFn) -> str:
    """A UUID's 32 hex digits (either case) with 4 dashes anywhere: 36 characters."""
    text = draw(st.uuids()).hex
    if draw(st.booleans()):
        text = text.upper()
    for position in sorted(draw(st.lists(st.integers(0, 32), min_size=4, max_size=4))):
        text = text[:position] + "-" + text[position:]
    return text


@given(
    hex_digits_and_four_dashes()
    | st.text(alphabet="0123456789abcdefABCDEF-{}", min_size=36, max_size=36)
)
def test_parse_uuid_accepts_exactly_the_canonical_form(text: str) -> None:
    try:
        canonical = str(uuid.UUID(text))
    except ValueError:
        canonical = None
    try:
        parsed = protocol.parse_uuid("eid", text)
    except EventRejected:
        parsed = None
    assert parsed == (canonical if canonical == text.lower() else None)


def test_parse_uuid_refuses_each_36_character_lookalike() -> None:
    for text in NOT_UUIDS_OF_36:
        try:
            protocol.parse_uuid("eid", text)
        except EventRejected as exc:
            assert exc.reason == f"eid: not a UUID: {text!r}"
        else:
            raise AssertionError(f"{text!r} was taken for a UUID")
