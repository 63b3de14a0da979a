"""JSON nested too deep is a bad row naming the field and ``max_json_depth``, never a crash.

Depth counts levels of arrays and objects in what is stored: the self-describing
event ``{"schema": ..., "data": ...}`` of ``ue_px``/``ue_pr`` (``{}`` in data makes
2), the list of contexts of ``cx``/``co`` (one context with ``{}`` in data makes 3).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
import requests

from datacoral.config import Settings
from tests.collector.builders import CONTEXTS, TP2, UNSTRUCT, envelope, event, headers
from tests.collector.conftest import Endpoint, create_keys
from tests.collector.stored import bad_rows_after, last_bad_row, times_stored
from tests.support.backends import Targets
from tests.support.server import running_server

SCHEMA = "iglu:com.acme/x/jsonschema/1-0-0"


def nested(levels: int) -> str:
    """JSON text of arrays nested ``levels`` deep."""
    return "[" * levels + "]" * levels


def unstruct_text(data_levels: int) -> str:
    """An unstruct_event wrapper whose stored part nests ``data_levels + 1`` levels."""
    text = json.dumps({"schema": UNSTRUCT, "data": {"schema": SCHEMA, "data": None}})
    return text.replace("null", nested(data_levels))


def contexts_text(data_levels: int) -> str:
    """A contexts wrapper whose stored list nests ``data_levels + 2`` levels."""
    text = json.dumps({"schema": CONTEXTS, "data": [{"schema": SCHEMA, "data": None}]})
    return text.replace("null", nested(data_levels))


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


def post(endpoint: Endpoint, body: bytes) -> requests.Response:
    return endpoint.session.post(
        endpoint.url + TP2, data=body, headers=headers(endpoint.keys["dev"])
    )


def send(endpoint: Endpoint, *events: dict[str, str]) -> None:
    response = post(endpoint, json.dumps(envelope(*events)).encode())
    assert (response.status_code, response.text) == (200, "ok")


def self_describing(fields: dict[str, str]) -> dict[str, str]:
    """A self-describing event carrying ``fields``; a ue_px there replaces its ue_pr."""
    sent = {**event(e="ue", ue_pr=unstruct_text(1)), **fields}
    if "ue_px" in fields:
        del sent["ue_pr"]
    return sent


# (case, fields of the event, stored depth, how its bad row's reason starts or None if stored)
DEFAULT_LIMIT: list[tuple[str, dict[str, str], str | None]] = [
    ("ue_pr at the limit", {"ue_pr": unstruct_text(253)}, None),
    (
        "ue_pr one past the limit",
        {"ue_pr": unstruct_text(254)},
        "ue_pr: JSON nested 255 levels deep, more than max_json_depth (254)",
    ),
    (
        "ue_pr 300 deep",
        {"ue_pr": unstruct_text(299)},
        "ue_pr: JSON nested 300 levels deep, more than max_json_depth (254)",
    ),
    (
        "ue_pr 1000 deep",
        {"ue_pr": unstruct_text(999)},
        "ue_pr: JSON nested 1000 levels deep, more than max_json_depth (254)",
    ),
    (
        "ue_px 500 deep",
        {"ue_px": b64(unstruct_text(499))},
        "ue_px: JSON nested 500 levels deep, more than max_json_depth (254)",
    ),
    ("cx at the limit", {"cx": b64(contexts_text(252))}, None),
    (
        "cx one past the limit",
        {"cx": b64(contexts_text(253))},
        "cx: JSON nested 255 levels deep, more than max_json_depth (254)",
    ),
    # Deeper than orjson reads at all: the reason measures the text.
    (
        "co 2000 deep",
        {"co": contexts_text(2000)},
        "co: JSON nested 2003 levels deep, more than max_json_depth (254)",
    ),
]


@pytest.mark.parametrize(
    ("case", "fields", "reason"), DEFAULT_LIMIT, ids=[c[0] for c in DEFAULT_LIMIT]
)
def test_nesting_at_the_default_limit(
    shared_endpoint: Endpoint, case: str, fields: dict[str, str], reason: str | None
) -> None:
    mark = last_bad_row(shared_endpoint)
    neighbour = event(aid="beside-deep")
    sent = self_describing(fields)
    log_before = len(shared_endpoint.server.log())

    send(shared_endpoint, neighbour, sent)

    assert times_stored(shared_endpoint, neighbour["eid"]) == [1]
    rows = bad_rows_after(shared_endpoint, mark)
    if reason is None:
        assert rows == []
        assert times_stored(shared_endpoint, sent["eid"]) == [1]
    else:
        (row,) = rows
        assert row.reason == reason, case
        assert json.loads(row.payload) == sent
    # Client input is never a traceback, nor any log line at all.
    assert len(shared_endpoint.server.log()) == log_before


def test_a_batch_of_deep_events_writes_no_log(shared_endpoint: Endpoint) -> None:
    """The issue's request: hundreds of KB of deep ue_pr; it used to log a traceback each."""
    mark = last_bad_row(shared_endpoint)
    log_before = len(shared_endpoint.server.log())
    deep = [event(e="ue", ue_pr=unstruct_text(levels)) for levels in range(300, 1000, 50)]
    body = json.dumps(envelope(*deep)).encode()
    assert len(body) > 15_000
    response = post(shared_endpoint, body)
    assert response.status_code == 200
    rows = bad_rows_after(shared_endpoint, mark)
    assert len(rows) == len(deep)
    assert all("max_json_depth (254)" in row.reason for row in rows)
    assert len(shared_endpoint.server.log()) == log_before


def test_a_deep_value_where_a_string_belongs(shared_endpoint: Endpoint) -> None:
    """An event field holding JSON 900 levels deep: the rule is "not a string"; its bad row
    keeps the event, cut where it is nested deeper than any stored JSON may be."""
    mark = last_bad_row(shared_endpoint)
    neighbour = event(aid="beside-deep-value")
    deep = event(aid="deep-value")
    body = json.dumps(envelope(neighbour, {**deep, "se_ca": None})).encode()
    body = body.replace(b'"se_ca": null', b'"se_ca": ' + nested(900).encode())

    response = post(shared_endpoint, body)
    assert (response.status_code, response.text) == (200, "ok")
    assert times_stored(shared_endpoint, neighbour["eid"]) == [1]
    (row,) = bad_rows_after(shared_endpoint, mark)
    assert row.reason == "se_ca: value is not a string: list"
    kept = json.loads(row.payload)
    assert {k: v for k, v in kept.items() if k != "se_ca"} == deep
    assert "(cut: nested deeper than 254 levels)" in row.payload
    assert "Traceback" not in shared_endpoint.server.log()


def test_a_body_nested_deeper_than_any_parser_reads_is_400(shared_endpoint: Endpoint) -> None:
    mark = last_bad_row(shared_endpoint)
    body = json.dumps(envelope(event(se_ca="@@"))).encode()
    body = body.replace(b'"@@"', nested(1100).encode())
    response = post(shared_endpoint, body)
    assert response.status_code == 400
    assert response.text.startswith("400 body: not valid JSON: depth limit exceeded")
    (row,) = bad_rows_after(shared_endpoint, mark)
    assert row.reason.startswith("body: not valid JSON: depth limit exceeded")
    assert "Traceback" not in shared_endpoint.server.log()


@pytest.fixture(scope="module")
def shallow_endpoint(module_targets: Targets) -> Iterator[Endpoint]:
    """A server that stores JSON at most 8 levels deep."""
    db = module_targets.new("shallow")
    keys = create_keys(db)
    with running_server(db, max_json_depth=8) as server, requests.Session() as session:
        yield Endpoint(server, db, keys, session)


LOW_LIMIT: list[tuple[str, dict[str, str], str | None]] = [
    ("ue_pr at the limit", {"ue_pr": unstruct_text(7)}, None),
    (
        "ue_pr one past",
        {"ue_pr": unstruct_text(8)},
        "ue_pr: JSON nested 9 levels deep, more than max_json_depth (8)",
    ),
    (
        "ue_px one past",
        {"ue_px": b64(unstruct_text(8))},
        "ue_px: JSON nested 9 levels deep, more than max_json_depth (8)",
    ),
    ("cx at the limit", {"cx": b64(contexts_text(6))}, None),
    (
        "co one past",
        {"co": contexts_text(7)},
        "co: JSON nested 9 levels deep, more than max_json_depth (8)",
    ),
    # Brackets inside strings are text, not nesting.
    (
        "brackets in strings",
        {"ue_pr": unstruct_text(1).replace("[]", '["[[[[[[[[[[{{{{{{{{{{"]')},
        None,
    ),
]


@pytest.mark.parametrize(("case", "fields", "reason"), LOW_LIMIT, ids=[c[0] for c in LOW_LIMIT])
def test_nesting_at_a_lower_limit(
    shallow_endpoint: Endpoint, case: str, fields: dict[str, str], reason: str | None
) -> None:
    mark = last_bad_row(shallow_endpoint)
    sent = self_describing(fields)
    send(shallow_endpoint, sent)
    rows = bad_rows_after(shallow_endpoint, mark)
    if reason is None:
        assert rows == []
        assert times_stored(shallow_endpoint, sent["eid"]) == [1]
    else:
        assert [row.reason for row in rows] == [reason], case


def test_max_json_depth_is_a_setting() -> None:
    assert Settings().max_json_depth == 254
    assert Settings.from_env({"DATACORAL_MAX_JSON_DEPTH": "32"}).max_json_depth == 32
    for bad in (1, 255):
        with pytest.raises(ValueError, match="max_json_depth must be 2-254"):
            Settings(max_json_depth=bad)
