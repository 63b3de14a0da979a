"""One key per request: carriers that name different keys get 401, and nothing is stored.

A key may travel in the ``X-Api-Key`` header, the ``/k/{key}/`` path, the ``api_key``
query parameter or (legacy) an ``x_api_key`` event field. Two of them naming
different keys leave it to guesswork which environment was meant; the same key
twice is fine.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.collector.builders import TP2, envelope, event, headers
from tests.collector.conftest import Endpoint, totals
from tests.collector.stored import times_stored


def carried(endpoint: Endpoint, carriers: dict[str, str], path: str = TP2) -> dict[str, Any]:
    """The URL, headers, query and event fields of a request carrying keys as asked:
    ``{"header": "dev", "query": "stage"}`` puts dev's key in X-Api-Key and stage's
    in ``api_key``."""
    keys = {where: endpoint.keys[env] for where, env in carriers.items()}
    url = endpoint.url + path
    if "path" in keys:
        url = f"{endpoint.url}/k/{keys['path']}{path}"
    return {
        "url": url,
        "headers": headers(keys.get("header")),
        "params": {"api_key": keys["query"]} if "query" in keys else None,
        "fields": {"x_api_key": keys["event"]} if "event" in keys else {},
    }


CONFLICTS: list[tuple[dict[str, str], str]] = [
    ({"header": "dev", "query": "stage"}, "X-Api-Key and api_key"),
    ({"header": "dev", "path": "stage"}, "X-Api-Key and the /k/ path"),
    ({"path": "dev", "query": "stage"}, "the /k/ path and api_key"),
    ({"header": "dev", "event": "stage"}, "X-Api-Key and x_api_key"),
    ({"query": "dev", "event": "prod"}, "api_key and x_api_key"),
    ({"header": "dev", "path": "dev", "query": "prod"}, "X-Api-Key and api_key"),
]


@pytest.mark.parametrize(("carriers", "named"), CONFLICTS, ids=["+".join(c) for c, _ in CONFLICTS])
def test_two_different_keys_are_refused(
    shared_endpoint: Endpoint, carriers: dict[str, str], named: str
) -> None:
    before = totals(shared_endpoint)
    request = carried(shared_endpoint, carriers)
    sent = event(**request["fields"])
    response = shared_endpoint.session.post(
        request["url"], json=envelope(sent), headers=request["headers"], params=request["params"]
    )
    answer = f"401 {named} name different API keys: send one key"
    assert (response.status_code, response.text.strip()) == (401, answer)
    assert totals(shared_endpoint) == before


def test_two_different_keys_on_the_pixel_are_refused(shared_endpoint: Endpoint) -> None:
    before = totals(shared_endpoint)
    request = carried(shared_endpoint, {"header": "dev", "query": "stage"}, path="/i")
    response = shared_endpoint.session.get(
        request["url"], params={**event(p="web"), **request["params"]}, headers=request["headers"]
    )
    assert response.status_code == 401
    assert response.text.strip().endswith("send one key")
    assert totals(shared_endpoint) == before


def test_an_unknown_key_beside_a_valid_one_is_not_overlooked(shared_endpoint: Endpoint) -> None:
    before = totals(shared_endpoint)
    response = shared_endpoint.session.post(
        shared_endpoint.url + TP2,
        json=envelope(event()),
        headers=headers("dck_not-a-key"),
        params={"api_key": shared_endpoint.keys["dev"]},
    )
    assert response.status_code == 401
    assert totals(shared_endpoint) == before


SAME_KEY = [
    {"header": "stage", "query": "stage"},
    {"header": "stage", "path": "stage"},
    {"path": "stage", "query": "stage"},
    {"header": "stage", "event": "stage"},
    {"header": "stage", "path": "stage", "query": "stage", "event": "stage"},
]


@pytest.mark.parametrize("carriers", SAME_KEY, ids=["+".join(c) for c in SAME_KEY])
def test_the_same_key_twice_is_fine(shared_endpoint: Endpoint, carriers: dict[str, str]) -> None:
    request = carried(shared_endpoint, carriers)
    sent = event(**request["fields"])
    response = shared_endpoint.session.post(
        request["url"], json=envelope(sent), headers=request["headers"], params=request["params"]
    )
    assert (response.status_code, response.text) == (200, "ok")
    assert times_stored(shared_endpoint, sent["eid"]) == [1]
    storage = shared_endpoint.storage()
    try:
        (stored,) = storage.find_events(sent["eid"])
    finally:
        storage.close()
    assert stored.event.environment == "stage"
    assert stored.event.extra == {}
