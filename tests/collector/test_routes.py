"""The routes of PROTOCOL.md §2: answers, pixel bytes, 404/405, preflight placeholder."""

from __future__ import annotations

import pytest

from tests.collector.builders import TP2, envelope, event, headers
from tests.collector.conftest import Endpoint

PIXEL_HEX = "47494638396101000100f00000ffffff00000021f90405000000002c00000000010001000002024401003b"


@pytest.mark.parametrize("path", [TP2, "/tp2"])
def test_post_answers_ok_as_plain_text(shared_endpoint: Endpoint, path: str) -> None:
    response = shared_endpoint.session.post(
        shared_endpoint.url + path,
        json=envelope(event()),
        headers=headers(shared_endpoint.keys["dev"]),
    )
    assert (response.status_code, response.text) == (200, "ok")
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert "Cache-Control" not in response.headers


@pytest.mark.parametrize("path", ["/i", "/ice.png"])
def test_pixel_answers_the_43_byte_gif(shared_endpoint: Endpoint, path: str) -> None:
    sent = event(p="web")
    response = shared_endpoint.session.get(
        shared_endpoint.url + path, params=sent, headers=headers(shared_endpoint.keys["dev"])
    )
    assert response.status_code == 200
    assert response.content == bytes.fromhex(PIXEL_HEX)
    assert response.headers["Content-Type"] == "image/gif"
    assert response.headers["Cache-Control"] == "no-cache, no-store, must-revalidate"
    storage = shared_endpoint.storage()
    try:
        assert len(storage.find_events(sent["eid"])) == 1
    finally:
        storage.close()


def test_head_pixel_has_headers_and_no_body(shared_endpoint: Endpoint) -> None:
    response = shared_endpoint.session.head(
        f"{shared_endpoint.url}/k/{shared_endpoint.keys['dev']}/i", params=event(p="web")
    )
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["Content-Length"] == "43"
    assert response.headers["Cache-Control"] == "no-cache, no-store, must-revalidate"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/health", 200),
        ("GET", "/ready", 200),
        ("GET", "/", 404),
        ("GET", "/nope", 404),
        ("POST", "/r/tp2", 404),
        ("GET", "/tp2/", 404),
        ("GET", "/k/", 404),
        ("GET", "/k//i", 404),
        ("GET", "/k/somekey/health", 404),
        ("GET", TP2, 405),
        ("POST", "/i", 405),
        ("PUT", "/tp2", 405),
        ("DELETE", "/health", 405),
        ("OPTIONS", "/anything/at/all", 204),
        ("OPTIONS", TP2, 204),
    ],
)
def test_status_of_each_route(
    shared_endpoint: Endpoint, method: str, path: str, status: int
) -> None:
    response = shared_endpoint.session.request(method, shared_endpoint.url + path)
    assert response.status_code == status
    if status == 405:
        assert response.headers["Allow"] in ("POST", "GET, HEAD")
        assert response.text.startswith("405 method not allowed")


def test_origin_allowed_nowhere_is_refused_without_cors_headers(shared_endpoint: Endpoint) -> None:
    # The full CORS behaviour is in test_cors.py; this is the route-level summary.
    preflight = shared_endpoint.session.options(
        shared_endpoint.url + TP2,
        headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-api-key",
        },
    )
    assert preflight.status_code == 403
    sent = headers(shared_endpoint.keys["dev"])
    sent["Origin"] = "https://app.example.com"
    response = shared_endpoint.session.post(
        shared_endpoint.url + TP2, json=envelope(event()), headers=sent
    )
    assert response.status_code == 403
    for answer in (preflight, response):
        assert not [h for h in answer.headers if h.lower().startswith("access-control-")]
