"""CORS: preflights, headers on every answer to an allowed origin, refusal of the others.

PROTOCOL.md §2 "CORS"; the requests carry the headers Chromium sends
(reference/browser.md §2), built by ``tests.collector.browser_requests``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from datacoral.cli.app import cli
from datacoral.storage.target import Target, target_argument
from tests.collector.browser_requests import (
    OTHER_PAGE,
    PAGE,
    STAGE_PAGE,
    SUBDOMAIN_PAGE,
    browser_endpoint,
    cors_headers_of,
    from_page,
    preflight_headers,
    stored_events,
)
from tests.collector.builders import TP2, envelope, event
from tests.collector.conftest import Endpoint, totals
from tests.support.backends import Targets

ALL_REQUESTED = "content-type,sp-anonymous,x-api-key,x-datacoral-environment"


@pytest.fixture(scope="module")
def site(module_targets: Targets) -> Iterator[Endpoint]:
    """One server for the module: dev allows PAGE and *.example.com, stage STAGE_PAGE."""
    with browser_endpoint(module_targets.new("cors")) as endpoint:
        yield endpoint


def expected_cors(origin: str) -> dict[str, str]:
    return {
        "access-control-allow-origin": origin,
        "access-control-allow-credentials": "true",
        "vary": "Origin",
    }


# --- preflights --------------------------------------------------------------


@pytest.mark.parametrize("origin", [PAGE, SUBDOMAIN_PAGE, STAGE_PAGE])
@pytest.mark.parametrize("path", [TP2, "/i", "/tp2", "/anything/at/all"])
def test_preflight_from_an_allowed_origin(site: Endpoint, origin: str, path: str) -> None:
    response = site.session.options(
        site.url + path, headers=preflight_headers(origin, requested=ALL_REQUESTED)
    )
    assert response.status_code == 204
    assert response.content == b""
    assert cors_headers_of(response) == {
        **expected_cors(origin),
        "access-control-allow-headers": "content-type, sp-anonymous, x-api-key,"
        " x-datacoral-environment",
        "access-control-max-age": "600",
    }


@pytest.mark.parametrize(
    ("requested", "allowed"),
    [
        ("content-type", "content-type"),
        ("x-api-key,x-datacoral-environment", "x-api-key, x-datacoral-environment"),
        ("Content-Type, X-Api-Key, X-Other", "content-type, x-api-key"),
        ("sp-anonymous,x-other,content-type,sp-anonymous", "sp-anonymous, content-type"),
        ("x-other", None),
        ("", None),
    ],
)
def test_preflight_allows_exactly_the_requested_headers_we_accept(
    site: Endpoint, requested: str, allowed: str | None
) -> None:
    response = site.session.options(
        site.url + TP2, headers=preflight_headers(PAGE, requested=requested)
    )
    assert response.status_code == 204
    assert response.headers.get("Access-Control-Allow-Headers") == allowed


@pytest.mark.parametrize(
    "origin",
    [
        OTHER_PAGE,
        "https://example.com",  # the bare domain of the wildcard entry
        "http://shop.example.com",  # the wildcard entry's scheme is https
        "http://127.0.0.1:8082",  # another port
        "null",
        "not an origin",
        "http://127.0.0.1:8081/",
    ],
)
def test_preflight_from_an_origin_allowed_nowhere_is_refused(site: Endpoint, origin: str) -> None:
    response = site.session.options(
        site.url + TP2, headers=preflight_headers(origin, requested="content-type")
    )
    assert response.status_code == 403
    assert cors_headers_of(response) == {}


def test_options_without_origin_is_not_a_preflight(site: Endpoint) -> None:
    response = site.session.options(site.url + TP2)
    assert response.status_code == 204
    assert cors_headers_of(response) == {}


def test_preflight_with_a_key_in_the_url_asks_that_keys_environment(site: Endpoint) -> None:
    dev_key, stage_key = site.keys["dev"], site.keys["stage"]

    def preflight(path: str, origin: str, **params: str) -> int:
        response = site.session.options(
            site.url + path, params=params, headers=preflight_headers(origin, "GET")
        )
        return response.status_code

    assert preflight(f"/k/{dev_key}/i", PAGE) == 204
    assert preflight(f"/k/{dev_key}{TP2}", PAGE) == 204
    assert preflight(f"/k/{stage_key}/i", STAGE_PAGE) == 204
    # Allowed somewhere, but not by the visible key's environment.
    assert preflight(f"/k/{dev_key}/i", STAGE_PAGE) == 403
    assert preflight(f"/k/{stage_key}/i", PAGE) == 403
    assert preflight(TP2, STAGE_PAGE, api_key=dev_key) == 403
    assert preflight(TP2, PAGE, api_key=dev_key, env="dev") == 204
    # An unknown key decides nothing: the actual request then gets a readable 401.
    assert preflight("/k/dck_unknown/i", PAGE) == 204
    assert preflight(TP2, PAGE, api_key="dck_unknown") == 204
    assert preflight("/k/dck_unknown/i", OTHER_PAGE) == 403
    # The key itself is never required on a preflight.
    assert preflight(TP2, PAGE) == 204


# --- actual requests from allowed origins ---------------------------------------


def test_post_from_an_allowed_origin_is_stored_with_cors_headers(site: Endpoint) -> None:
    sent = event(p="web")
    response = site.session.post(
        site.url + TP2,
        json=envelope(sent),
        headers=from_page(key=site.keys["dev"], environment="dev", referer=PAGE + "/page.html"),
    )
    assert (response.status_code, response.text) == (200, "ok")
    assert cors_headers_of(response) == expected_cors(PAGE)
    (row,) = stored_events(site, sent["eid"])
    assert row.environment == "dev"


@pytest.mark.parametrize("carrier", ["header", "path", "query"])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_pixel_from_an_allowed_origin(site: Endpoint, carrier: str, method: str) -> None:
    key = site.keys["dev"]
    sent = event(p="web")
    url, params, hdrs = site.url + "/i", dict(sent), from_page(SUBDOMAIN_PAGE, json_body=False)
    if carrier == "header":
        hdrs.update({"x-api-key": key, "x-datacoral-environment": "dev"})
    elif carrier == "path":
        url = f"{site.url}/k/{key}/i"
    else:
        params.update(api_key=key, env="dev")
    response = site.session.request(method, url, params=params, headers=hdrs)
    assert response.status_code == 200
    assert cors_headers_of(response) == expected_cors(SUBDOMAIN_PAGE)
    assert [row.environment for row in stored_events(site, sent["eid"])] == ["dev"]


def test_post_with_the_key_in_the_path_prefix(site: Endpoint) -> None:
    sent = event(p="web")
    response = site.session.post(
        f"{site.url}/k/{site.keys['stage']}{TP2}",
        json=envelope(sent),
        headers=from_page(STAGE_PAGE),
    )
    assert response.status_code == 200
    assert cors_headers_of(response) == expected_cors(STAGE_PAGE)
    assert [row.environment for row in stored_events(site, sent["eid"])] == ["stage"]


@pytest.mark.parametrize(
    ("headers", "status", "answer"),
    [
        ({}, 401, "401 missing API key: send X-Api-Key"),
        ({"x-api-key": "dck_wrong"}, 401, "401 unknown API key"),
        (
            {"x-api-key": "dev", "x-datacoral-environment": "prod"},
            403,
            "403 environment mismatch: the key belongs to 'dev', not 'prod'",
        ),
    ],
)
def test_errors_for_allowed_origins_carry_cors_headers(
    site: Endpoint, headers: dict[str, str], status: int, answer: str
) -> None:
    before = totals(site)
    sent = from_page(PAGE)
    sent.update(headers)
    if "x-api-key" in headers:
        sent["x-api-key"] = site.keys.get(headers["x-api-key"], headers["x-api-key"])
    response = site.session.post(site.url + TP2, json=envelope(event()), headers=sent)
    assert response.status_code == status
    assert response.text.startswith(answer)
    assert cors_headers_of(response) == expected_cors(PAGE)
    assert totals(site) == before


def test_other_errors_for_allowed_origins_carry_cors_headers(site: Endpoint) -> None:
    malformed = site.session.post(
        site.url + TP2, data=b"{not json", headers=from_page(key=site.keys["dev"])
    )
    assert malformed.status_code == 400
    missing = site.session.get(site.url + "/nope", headers=from_page())
    assert missing.status_code == 404
    wrong_method = site.session.get(site.url + TP2, headers=from_page())
    assert wrong_method.status_code == 405
    too_large = site.session.post(
        site.url + TP2, data=b"x" * (1024 * 1024 + 1), headers=from_page(key=site.keys["dev"])
    )
    assert too_large.status_code == 413
    for response in (malformed, missing, wrong_method, too_large):
        assert cors_headers_of(response) == expected_cors(PAGE)


def test_unknown_key_from_an_origin_allowed_nowhere_has_no_cors_headers(site: Endpoint) -> None:
    response = site.session.post(
        site.url + TP2, json=envelope(event()), headers=from_page(OTHER_PAGE, key="dck_wrong")
    )
    assert response.status_code == 401
    assert cors_headers_of(response) == {}


# --- refusals --------------------------------------------------------------------


@pytest.mark.parametrize("origin", [OTHER_PAGE, "null", "garbage", "https://example.com"])
def test_writes_from_origins_allowed_nowhere_are_refused(site: Endpoint, origin: str) -> None:
    before = totals(site)
    key = site.keys["dev"]
    post = site.session.post(
        site.url + TP2, json=envelope(event()), headers=from_page(origin, key=key)
    )
    get = site.session.get(
        f"{site.url}/k/{key}/i", params=event(p="web"), headers=from_page(origin, json_body=False)
    )
    # Nothing is stored, not even the bad row a malformed body would otherwise leave.
    malformed = site.session.post(site.url + TP2, data=b"{", headers=from_page(origin, key=key))
    for response in (post, get, malformed):
        assert response.status_code == 403
        assert response.text.startswith("403 origin not allowed: environment 'dev' does not allow")
        assert cors_headers_of(response) == {}
    assert totals(site) == before


def test_origin_allowed_in_stage_only_with_a_dev_key_is_refused(site: Endpoint) -> None:
    before = totals(site)
    dev_key = site.keys["dev"]
    post = site.session.post(
        site.url + TP2, json=envelope(event()), headers=from_page(STAGE_PAGE, key=dev_key)
    )
    get = site.session.get(
        site.url + "/i",
        params={**event(p="web"), "api_key": dev_key},
        headers=from_page(STAGE_PAGE, json_body=False),
    )
    legacy = site.session.post(
        site.url + TP2, json=envelope(event(x_api_key=dev_key)), headers=from_page(STAGE_PAGE)
    )
    for response in (post, get, legacy):
        assert response.status_code == 403
        assert response.text == (
            "403 origin not allowed: environment 'dev' does not allow 'http://stage.test:9000'\n"
        )
        # The origin is allowed somewhere, so the page may read the 403 and stop resending.
        assert cors_headers_of(response) == expected_cors(STAGE_PAGE)
    assert totals(site) == before
    # The same origin with a stage key is fine.
    sent = event()
    ok = site.session.post(
        site.url + TP2, json=envelope(sent), headers=from_page(STAGE_PAGE, key=site.keys["stage"])
    )
    assert ok.status_code == 200
    assert [row.environment for row in stored_events(site, sent["eid"])] == ["stage"]


def test_referer_stands_in_for_a_missing_origin(site: Endpoint) -> None:
    before = totals(site)
    key = site.keys["dev"]
    refused = site.session.get(
        f"{site.url}/k/{key}/i",
        params=event(p="web"),
        headers=from_page(None, referer=OTHER_PAGE + "/page.html?q=1", json_body=False),
    )
    assert refused.status_code == 403
    assert refused.text == (
        "403 origin not allowed: environment 'dev' does not allow 'http://localhost:8081'\n"
    )
    unreadable = site.session.get(
        f"{site.url}/k/{key}/i",
        params=event(p="web"),
        headers=from_page(None, referer="android-app://com.example/", json_body=False),
    )
    assert unreadable.status_code == 403
    assert totals(site) == before

    sent = event(p="web")
    allowed = site.session.get(
        f"{site.url}/k/{key}/i",
        params=sent,
        headers=from_page(None, referer=PAGE + "/page.html", json_body=False),
    )
    assert allowed.status_code == 200
    # No Origin header: not a CORS request, so nothing to echo.
    assert cors_headers_of(allowed) == {}
    assert len(stored_events(site, sent["eid"])) == 1


def test_requests_without_origin_or_referer_need_only_a_key(site: Endpoint) -> None:
    sent = event()
    response = site.session.post(
        site.url + TP2,
        json=envelope(sent),
        # What the Node tracker sends: sec-fetch-mode cors, but no Origin.
        headers={"X-Api-Key": site.keys["prod"], "sec-fetch-mode": "cors"},
    )
    assert response.status_code == 200
    assert cors_headers_of(response) == {}
    assert "Set-Cookie" not in response.headers
    assert [row.environment for row in stored_events(site, sent["eid"])] == ["prod"]


# --- changes reach the running server ----------------------------------------------


def test_origin_changes_reach_the_running_server_within_one_second(db_path: Target) -> None:
    db = db_path
    runner = CliRunner(env={"DATACORAL_DB": None})
    origin = "https://new.example.org"

    def cli_ok(*args: str) -> None:
        result = runner.invoke(cli, [*args, "--db", target_argument(db)], catch_exceptions=False)
        assert result.exit_code == 0, result.output

    with browser_endpoint(db) as endpoint:

        def preflight() -> int:
            response = endpoint.session.options(
                f"{endpoint.url}/k/{endpoint.keys['prod']}/i", headers=preflight_headers(origin)
            )
            return response.status_code

        def wait_for(status: int) -> float:
            changed = time.monotonic()
            while (seen := preflight()) != status:
                assert time.monotonic() - changed < 1.0, f"still {seen} after 1 s"
            return time.monotonic() - changed

        assert preflight() == 403  # also fills the server's cache
        cli_ok("env", "add-origin", "prod", origin)
        wait_for(204)
        sent = event()
        response = endpoint.session.post(
            endpoint.url + TP2,
            json=envelope(sent),
            headers=from_page(origin, key=endpoint.keys["prod"]),
        )
        assert response.status_code == 200
        cli_ok("env", "remove-origin", "prod", origin)
        wait_for(403)
        refused = endpoint.session.post(
            endpoint.url + TP2,
            json=envelope(event()),
            headers=from_page(origin, key=endpoint.keys["prod"]),
        )
        assert refused.status_code == 403
