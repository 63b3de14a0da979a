"""Iglu validation in a running ``datacoral serve``, by each environment's mode.

One server per backend, over ``shared/iglu-central`` served as a static registry on a
loopback port (``--iglu URL``), with ``prod`` strict, ``dev`` lenient (the default)
and ``stage`` off. Each environment gets the same request: a valid event, a failing
one, one whose schema no source has, one whose schema is not an Iglu URI (the seed
snippet's ``schema="test"``), and a page view, which has nothing to validate. What
each mode stores, refuses and counts is checked exactly, bad-row reasons included.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
import requests

from datacoral.admin.environments import ValidationMode
from datacoral.storage import open_storage
from datacoral.storage.target import Target
from tests.collector import schema_events as se
from tests.collector.builders import TP2, envelope, headers
from tests.collector.conftest import create_keys
from tests.schemas.registries import LoopbackServer
from tests.support.server import running_server

MODES = {"prod": ValidationMode.STRICT, "dev": ValidationMode.LENIENT, "stage": ValidationMode.OFF}


def _set_modes(db: Target) -> dict[str, str]:
    storage = open_storage(db)
    try:
        for environment, mode in MODES.items():
            storage.set_validation(environment, mode)
    finally:
        storage.close()
    return create_keys(db)


def test_each_mode_stores_refuses_and_counts_as_documented(
    db_path: Target, iglu_registry: LoopbackServer
) -> None:
    keys = _set_modes(db_path)
    sent: dict[str, dict[str, dict[str, str]]] = {}
    with running_server(db_path, iglu=iglu_registry.url) as server:
        for environment in MODES:
            events = {
                "valid": se.valid(),
                "failing": se.failing(),
                "unresolvable": se.unresolvable(),
                "not_iglu": se.not_iglu(),
                "page_view": se.page_view(),
            }
            sent[environment] = events
            answer = requests.post(
                server.url + TP2,
                json=envelope(*events.values()),
                headers=headers(keys[environment]),
                timeout=30,
            )
            assert (answer.status_code, answer.text) == (200, "ok")
    ids = {
        env: {name: event["eid"] for name, event in events.items()} for env, events in sent.items()
    }

    strict = se.stored(db_path, "prod")
    assert strict.validated == {ids["prod"]["valid"]: True, ids["prod"]["page_view"]: True}
    assert [(row.kind, row.event_id, row.reason) for row in strict.bad] == [
        ("schema_violation", ids["prod"]["failing"], se.FAILING_REASON),
        (
            "schema_violation",
            ids["prod"]["unresolvable"],
            se.unresolvable_reason(iglu_registry.url),
        ),
        ("schema_violation", ids["prod"]["not_iglu"], se.NOT_IGLU_REASON),
    ]
    assert [json.loads(row.payload) for row in strict.bad] == [
        sent["prod"][name] for name in ("failing", "unresolvable", "not_iglu")
    ]  # the event as it was sent
    assert (strict.counts.good, strict.counts.bad, strict.counts.unvalidated) == (2, 3, 0)

    lenient = se.stored(db_path, "dev")
    assert lenient.validated == {
        ids["dev"]["valid"]: True,
        ids["dev"]["unresolvable"]: False,
        ids["dev"]["not_iglu"]: False,
        ids["dev"]["page_view"]: True,
    }
    assert [(row.kind, row.event_id, row.reason) for row in lenient.bad] == [
        ("schema_violation", ids["dev"]["failing"], se.FAILING_REASON)
    ]
    assert (lenient.counts.good, lenient.counts.bad, lenient.counts.unvalidated) == (4, 1, 2)

    off = se.stored(db_path, "stage")
    assert off.validated == {event_id: False for event_id in ids["stage"].values()}
    assert off.bad == []
    assert (off.counts.good, off.counts.bad, off.counts.unvalidated) == (5, 0, 5)


def test_a_pixel_is_validated_too(db_path: Target, iglu_registry: LoopbackServer) -> None:
    keys = _set_modes(db_path)
    failing, fine = se.failing(), se.valid()
    with running_server(db_path, iglu=iglu_registry.url) as server:
        for event in (failing, fine):
            answer = requests.get(
                f"{server.url}/i?{urlencode(event)}", headers=headers(keys["prod"]), timeout=30
            )
            assert (answer.status_code, answer.headers["content-type"]) == (200, "image/gif")
    strict = se.stored(db_path, "prod")
    assert strict.validated == {fine["eid"]: True}
    assert [(row.event_id, row.reason) for row in strict.bad] == [
        (failing["eid"], se.FAILING_REASON)
    ]


def test_a_failure_in_one_event_leaves_the_rest_of_the_batch(
    db_path: Target, iglu_registry: LoopbackServer
) -> None:
    keys = _set_modes(db_path)
    batch = [se.valid() for _ in range(20)]
    batch[7] = se.failing()
    batch[13] = {"e": "ue", "p": "web", "tv": "t"}  # a protocol violation, judged first
    with running_server(db_path, iglu=iglu_registry.url) as server:
        answer = requests.post(
            server.url + TP2, json=envelope(*batch), headers=headers(keys["prod"]), timeout=30
        )
        assert answer.status_code == 200
    strict = se.stored(db_path, "prod")
    assert len(strict.validated) == 18 and all(strict.validated.values())
    assert sorted(row.kind for row in strict.bad) == [
        "schema_violation",
        "tracker_protocol_violation",
    ]


@pytest.mark.sqlite_only  # about the answer's bound, not the store
def test_a_bad_row_reason_is_bounded(db_path: Target, iglu_registry: LoopbackServer) -> None:
    keys = _set_modes(db_path)
    data = {f"member_{i:03d}_{'x' * 40}": i for i in range(300)}
    contexts = [(se.WEB_PAGE, {"id": "bad", **data})] * 10
    event = se.self_describing(se.LINK_CLICK, data, *contexts)
    with running_server(db_path, iglu=iglu_registry.url) as server:
        answer = requests.post(
            server.url + TP2, json=envelope(event), headers=headers(keys["prod"]), timeout=30
        )
        assert answer.status_code == 200
    [row] = se.stored(db_path, "prod").bad
    assert len(row.reason) <= 2048
    assert row.reason.startswith(f"event {se.LINK_CLICK}: /data/targetUrl: required; /data/member_")
    assert "context[0] iglu:" in row.reason
