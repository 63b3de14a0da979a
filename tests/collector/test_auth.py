"""Who may send: keys from header, path, query or legacy event fields; 401 and 403."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.collector.builders import TP2, envelope, event, headers
from tests.collector.conftest import Endpoint, totals

REFUSALS: list[tuple[str, dict[str, Any], int, str]] = [
    ("no key", {}, 401, "401 missing API key: send X-Api-Key"),
    ("unknown key", {"key": "dck_not-a-key"}, 401, "401 unknown API key"),
    (
        "header names another environment",
        {"key": "dev", "environment": "prod"},
        403,
        "403 environment mismatch: the key belongs to 'dev', not 'prod'",
    ),
    (
        "query names another environment",
        {"key": "dev", "query": {"env": "stage"}},
        403,
        "403 environment mismatch: the key belongs to 'dev', not 'stage'",
    ),
    (
        "an event names another environment",
        {"key": "dev", "fields": {"x_datacoral_environment": "prod"}},
        403,
        "403 environment mismatch: the key belongs to 'dev', not 'prod'",
    ),
    (
        "header names an environment that does not exist",
        {"key": "dev", "environment": "nope"},
        403,
        "403 environment mismatch: the key belongs to 'dev', not 'nope'",
    ),
    (
        "empty key header and nothing else",
        {"raw_key": ""},
        401,
        "401 missing API key: send X-Api-Key",
    ),
]


@pytest.mark.parametrize(
    ("case", "request_", "status", "answer"), REFUSALS, ids=[r[0] for r in REFUSALS]
)
def test_refused_requests_store_nothing(
    shared_endpoint: Endpoint, case: str, request_: dict[str, Any], status: int, answer: str
) -> None:
    before = totals(shared_endpoint)
    key = request_.get("key")
    sent = headers(shared_endpoint.keys.get(key, key), request_.get("environment"))
    if "raw_key" in request_:
        sent["X-Api-Key"] = request_["raw_key"]
    body = envelope(event(**request_.get("fields", {})))
    response = shared_endpoint.session.post(
        shared_endpoint.url + TP2, json=body, headers=sent, params=request_.get("query")
    )
    assert (response.status_code, response.text.strip()) == (status, answer), case
    assert response.headers["Content-Type"].startswith("text/plain")
    assert totals(shared_endpoint) == before


@pytest.mark.parametrize("where", ["header", "path", "query", "legacy event field"])
def test_key_is_accepted_from_each_documented_place(shared_endpoint: Endpoint, where: str) -> None:
    key = shared_endpoint.keys["stage"]
    sent = event(aid=f"via-{where}")
    url, params, hdrs = shared_endpoint.url + TP2, None, headers(None)
    if where == "header":
        hdrs = headers(key)
    elif where == "path":
        url = f"{shared_endpoint.url}/k/{key}{TP2}"
    elif where == "query":
        params = {"api_key": key, "env": "stage"}
    else:
        sent.update(x_api_key=key, x_datacoral_environment="stage")
    response = shared_endpoint.session.post(url, json=envelope(sent), headers=hdrs, params=params)
    assert (response.status_code, response.text) == (200, "ok")
    storage = shared_endpoint.storage()
    try:
        (stored,) = storage.find_events(sent["eid"])
    finally:
        storage.close()
    assert stored.event.environment == "stage"
    assert stored.event.app_id == f"via-{where}"
    # Neither the key nor the transport parameters become event fields.
    assert set(stored.event.extra) == set()
    assert key not in json.dumps(stored.event.extra)
    assert key not in shared_endpoint.server.log()


def test_pixel_key_from_path_and_query(shared_endpoint: Endpoint) -> None:
    key = shared_endpoint.keys["prod"]
    by_path = event(p="web")
    by_query = event(p="web")
    first = shared_endpoint.session.get(f"{shared_endpoint.url}/k/{key}/i", params=by_path)
    second = shared_endpoint.session.get(
        shared_endpoint.url + "/ice.png", params={**by_query, "api_key": key}
    )
    assert first.status_code == second.status_code == 200
    storage = shared_endpoint.storage()
    try:
        assert storage.find_events(by_path["eid"])[0].event.environment == "prod"
        assert storage.find_events(by_query["eid"])[0].event.environment == "prod"
        assert storage.find_events(by_query["eid"])[0].event.extra == {}
    finally:
        storage.close()


def test_events_with_different_legacy_keys_are_refused(shared_endpoint: Endpoint) -> None:
    before = totals(shared_endpoint)
    body = envelope(
        event(x_api_key=shared_endpoint.keys["dev"]), event(x_api_key=shared_endpoint.keys["prod"])
    )
    response = shared_endpoint.session.post(shared_endpoint.url + TP2, json=body)
    assert response.status_code == 401
    assert totals(shared_endpoint) == before


def test_revoked_key_is_refused_within_one_second(endpoint: Endpoint) -> None:
    storage = endpoint.storage()
    try:
        info, key = storage.create_key("dev")
        url = endpoint.url + TP2

        def send() -> int:
            response = endpoint.session.post(url, json=envelope(event()), headers=headers(key))
            return response.status_code

        assert send() == 200  # the key is now in the collector's cache
        storage.revoke_key(info.key_id)
        revoked_at = time.monotonic()
        stored_before = totals(endpoint)
        while (status := send()) == 200:
            stored_before = totals(endpoint)
            assert time.monotonic() - revoked_at < 1.0, "revoked key still accepted after 1 s"
        assert status == 401
        response = endpoint.session.post(url, json=envelope(event()), headers=headers(key))
        assert (response.status_code, response.text.strip()) == (401, "401 revoked API key")
        assert totals(endpoint) == stored_before
    finally:
        storage.close()
    assert key not in endpoint.server.log()
