"""A lone surrogate (text cut inside an emoji) refuses its own event, never the batch.

``JSON.stringify("cat🐶".slice(0, 4))`` sends ``"cat\\ud83d"``: valid JSON, but not
text any UTF-8 column can hold. orjson refuses the whole body for it; the
endpoint must keep the other events and make a bad row of that one, naming the
field and the rule.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.collector.builders import TP2, UNSTRUCT, envelope, event, headers
from tests.collector.conftest import Endpoint, totals
from tests.collector.stored import bad_rows_after, last_bad_row, times_stored

CUT = "cat\ud83d"  # what remains of "cat🐶" cut after its high surrogate


def inner_json(label: str, *, ascii_only: bool) -> str:
    """A self-describing event wrapper whose data holds ``label``, as JSON text."""
    wrapper = {"schema": UNSTRUCT, "data": {"schema": "iglu:com.acme/x/jsonschema/1-0-0"}}
    wrapper["data"]["data"] = {"label": label}  # type: ignore[index]
    return json.dumps(wrapper, ensure_ascii=ascii_only)


# (case, the faulty event's fields, how its bad row's reason starts)
CASES: list[tuple[str, dict[str, str], str]] = [
    ("text field", {"e": "se", "se_ca": CUT, "se_ac": "play"}, "se_ca: lone surrogate"),
    ("low surrogate alone", {"page": "\ude00 dog"}, "page: lone surrogate"),
    ("unknown field kept in extra", {"custom": CUT}, "custom: lone surrogate"),
    ("field name", {"se\ud83d": "x"}, "'se\\ud83d': field name holds a lone surrogate"),
    # ue_pr is JSON text inside JSON: the surrogate is a character of the ue_pr string...
    (
        "inside ue_pr",
        {"e": "ue", "ue_pr": inner_json(CUT, ascii_only=False)},
        "ue_pr: lone surrogate",
    ),
    # ... or an escape the inner parser meets
    (
        "escaped inside ue_pr",
        {"e": "ue", "ue_pr": inner_json(CUT, ascii_only=True)},
        "ue_pr: lone surrogate",
    ),
    (
        "inside base64 ue_px",
        {
            "e": "ue",
            "ue_px": base64.urlsafe_b64encode(inner_json(CUT, ascii_only=True).encode()).decode(),
        },
        "ue_px: lone surrogate",
    ),
]


def post(endpoint: Endpoint, body: bytes) -> tuple[int, str]:
    response = endpoint.session.post(
        endpoint.url + TP2, data=body, headers=headers(endpoint.keys["dev"])
    )
    return response.status_code, response.text


@pytest.mark.parametrize(("case", "fields", "reason"), CASES, ids=[c[0] for c in CASES])
def test_only_the_event_with_a_lone_surrogate_is_refused(
    shared_endpoint: Endpoint, case: str, fields: dict[str, str], reason: str
) -> None:
    mark = last_bad_row(shared_endpoint)
    neighbours = [event(aid=f"beside-{i}") for i in range(10)]
    faulty = event(**fields)
    # json.dumps escapes the surrogate as JSON.stringify does: "cat\ud83d"
    body = json.dumps(envelope(*neighbours[:4], faulty, *neighbours[4:])).encode()
    assert body.isascii()

    assert post(shared_endpoint, body) == (200, "ok"), case
    assert times_stored(shared_endpoint, *(e["eid"] for e in neighbours)) == [1] * 10
    (row,) = bad_rows_after(shared_endpoint, mark)
    assert row.reason.startswith(reason), row.reason
    assert row.kind == "tracker_protocol_violation"
    # The bad row keeps the event as sent: the surrogate too (as a JSON escape).
    assert json.loads(row.payload) == faulty
    assert row.event_id == faulty["eid"]
    assert times_stored(shared_endpoint, faulty["eid"]) == [0]


def test_surrogate_bytes_in_the_body_refuse_only_their_event(shared_endpoint: Endpoint) -> None:
    """The surrogate as raw (CESU-8) bytes rather than a JSON escape: the same rule."""
    mark = last_bad_row(shared_endpoint)
    neighbour = event(aid="beside-bytes")
    faulty = event(e="se", se_la="@@")
    body = json.dumps(envelope(neighbour, faulty)).encode().replace(b"@@", b"cat\xed\xa0\xbd")

    assert post(shared_endpoint, body) == (200, "ok")
    assert times_stored(shared_endpoint, neighbour["eid"]) == [1]
    (row,) = bad_rows_after(shared_endpoint, mark)
    assert row.reason.startswith("se_la: lone surrogate"), row.reason
    assert json.loads(row.payload)["se_la"] == CUT


def test_a_complete_surrogate_pair_is_stored_as_the_character(shared_endpoint: Endpoint) -> None:
    whole = event(e="se", se_ca="cat\U0001f436", se_ac="play")
    body = json.dumps(envelope(whole)).encode()
    assert b"\\ud83d\\udc36" in body  # escaped as a pair, as JSON.stringify may send it

    assert post(shared_endpoint, body) == (200, "ok")
    storage = shared_endpoint.storage()
    try:
        (stored,) = storage.find_events(whole["eid"])
    finally:
        storage.close()
    assert stored.event.se_category == "cat🐶"


def test_a_lone_surrogate_as_the_only_key_is_an_unknown_key(shared_endpoint: Endpoint) -> None:
    """A legacy in-event key holding a surrogate cannot be any key issued: 401, no crash."""
    before = totals(shared_endpoint)
    body = json.dumps(envelope(event(x_api_key="dck_\ud83d"))).encode()
    response = shared_endpoint.session.post(
        shared_endpoint.url + TP2, data=body, headers=headers(None)
    )
    assert (response.status_code, response.text.strip()) == (401, "401 unknown API key")
    assert totals(shared_endpoint) == before


def test_a_body_that_is_not_json_for_another_reason_is_still_400(
    shared_endpoint: Endpoint,
) -> None:
    """The second, lenient parse reads lone surrogates and nothing else orjson refuses."""
    mark = last_bad_row(shared_endpoint)
    for body in (
        b'{"schema": "x", "data": [{"e": "pv", "a": "cat\\ud83d"}',  # cut short
        json.dumps(envelope({"e": "pv", "p": "web", "tv": "t", "se_va": float("nan")})).encode(),
    ):
        status, text = post(shared_endpoint, body)
        assert status == 400, body
        assert text.startswith("400 body: not valid JSON"), text
    reasons: list[Any] = [row.reason for row in bad_rows_after(shared_endpoint, mark)]
    assert len(reasons) == 2
    assert all(reason.startswith("body: not valid JSON") for reason in reasons)
