"""The ``sp`` network user id cookie: when it is set, its attributes, what is stored."""

from __future__ import annotations

import email.utils
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from datacoral.collector.cookie import NetworkCookie, incoming_network_userid
from datacoral.collector.enrich import trusted_networks
from datacoral.collector.request import Request
from datacoral.config import Settings
from tests.collector.browser_requests import PAGE, browser_endpoint, from_page, stored_events
from tests.collector.builders import TP2, envelope, event
from tests.collector.conftest import Endpoint

UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
YEAR = 365 * 24 * 3600


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    with browser_endpoint(tmp_path_factory.mktemp("cookie") / "events.sqlite") as endpoint:
        yield endpoint


def set_cookie(response: requests.Response) -> dict[str, str]:
    """The one ``Set-Cookie`` of an answer, as {"sp": value, attribute: value or ""}."""
    header = response.headers["Set-Cookie"]
    assert "," not in header.split("Expires=")[0], "more than one Set-Cookie"
    first, *attributes = header.split("; ")
    name, _, value = first.partition("=")
    parsed = {name: value}
    for attribute in attributes:
        key, _, attribute_value = attribute.partition("=")
        parsed[key] = attribute_value
    return parsed


def send(
    endpoint: Endpoint, *events: dict[str, str], cookie: str | None = None, **headers: str
) -> requests.Response:
    """A page's POST of ``events`` with the dev key, and a Cookie header when given."""
    sent = from_page(key=endpoint.keys["dev"])
    if cookie is not None:
        sent["Cookie"] = cookie
    sent.update(headers)
    # A bare requests.post keeps no cookie jar: every Cookie header is the test's own.
    return requests.post(endpoint.url + TP2, json=envelope(*events), headers=sent, timeout=10)


def test_browser_request_over_http_gets_a_lax_cookie(site: Endpoint) -> None:
    sent = event()
    response = send(site, sent)
    assert response.status_code == 200
    cookie = set_cookie(response)
    assert UUID4.fullmatch(cookie["sp"])
    assert cookie["Max-Age"] == str(YEAR)
    expires = email.utils.parsedate_to_datetime(cookie["Expires"]).timestamp()
    assert abs(expires - (time.time() + YEAR)) < 60
    assert cookie["Path"] == "/"
    assert cookie["SameSite"] == "Lax"  # SameSite=None needs Secure, which http cannot set
    assert "HttpOnly" in cookie
    assert "Secure" not in cookie and "Domain" not in cookie
    (row,) = stored_events(site, sent["eid"])
    assert row.network_userid == cookie["sp"]


def test_an_incoming_cookie_is_kept_and_its_expiry_slides(site: Endpoint) -> None:
    first = send(site, event())
    nuid = set_cookie(first)["sp"]
    sent = event()
    second = send(site, sent, cookie=f"_sp_id.1fff=abc; sp={nuid}; other=1")
    assert set_cookie(second)["sp"] == nuid
    assert set_cookie(second)["Max-Age"] == str(YEAR)
    assert stored_events(site, sent["eid"])[0].network_userid == nuid
    # Any UUID is kept (lower-cased); anything else is replaced.
    upper = str(uuid.uuid1()).upper()
    assert set_cookie(send(site, event(), cookie=f"sp={upper}"))["sp"] == upper.lower()
    for junk in ("sp=not-a-uuid", "sp=", 'sp="; x', "sp=" + "a" * 36, "xsp=" + nuid):
        replaced = set_cookie(send(site, event(), cookie=junk))["sp"]
        assert UUID4.fullmatch(replaced) and replaced != nuid


def test_pixel_and_referer_only_requests_get_the_cookie(site: Endpoint) -> None:
    sent = event(p="web")
    response = requests.get(
        f"{site.url}/k/{site.keys['dev']}/i",
        params=sent,
        headers={"Referer": PAGE + "/page.html"},
        timeout=10,
    )
    assert response.status_code == 200
    assert stored_events(site, sent["eid"])[0].network_userid == set_cookie(response)["sp"]


def test_server_requests_get_no_cookie_but_theirs_is_used(site: Endpoint) -> None:
    plain, with_cookie = event(), event()
    nuid = str(uuid.uuid4())
    for sent, extra in ((plain, {}), (with_cookie, {"Cookie": f"sp={nuid}"})):
        response = requests.post(
            site.url + TP2,
            json=envelope(sent),
            headers={"X-Api-Key": site.keys["dev"], **extra},
            timeout=10,
        )
        assert response.status_code == 200
        assert "Set-Cookie" not in response.headers
    assert stored_events(site, plain["eid"])[0].network_userid is None
    assert stored_events(site, with_cookie["eid"])[0].network_userid == nuid


def test_refusals_set_no_cookie(site: Endpoint) -> None:
    response = requests.post(
        site.url + TP2, json=envelope(event()), headers=from_page(key="dck_wrong"), timeout=10
    )
    assert response.status_code == 401
    assert "Set-Cookie" not in response.headers


def test_event_nuid_and_tnuid_win_over_the_cookie(site: Endpoint) -> None:
    cookie_id = str(uuid.uuid4())
    by_cookie, by_nuid, by_tnuid = event(), event(nuid="n-1"), event(nuid="n-1", tnuid="t-1")
    response = send(site, by_cookie, by_nuid, by_tnuid, cookie=f"sp={cookie_id}")
    assert set_cookie(response)["sp"] == cookie_id
    assert stored_events(site, by_cookie["eid"])[0].network_userid == cookie_id
    assert stored_events(site, by_nuid["eid"])[0].network_userid == "n-1"
    assert stored_events(site, by_tnuid["eid"])[0].network_userid == "t-1"


def test_sp_anonymous_sets_no_cookie_and_stores_no_address(site: Endpoint) -> None:
    fresh, carrying = event(), event(ip="203.0.113.9")
    first = send(site, fresh, **{"SP-Anonymous": "*"})
    assert first.status_code == 200
    assert "Set-Cookie" not in first.headers
    nuid = str(uuid.uuid4())
    second = send(site, carrying, cookie=f"sp={nuid}", **{"SP-Anonymous": "*"})
    expired = set_cookie(second)
    assert expired["sp"] == ""
    assert expired["Max-Age"] == "0"
    assert email.utils.parsedate_to_datetime(expired["Expires"]).timestamp() < time.time()
    assert (expired["Path"], expired["SameSite"]) == ("/", "Lax")
    for sent in (fresh, carrying):
        (row,) = stored_events(site, sent["eid"])
        assert (row.user_ipaddress, row.network_userid) == (None, None)
    # The preflight lets the header through (the tracker sends it on GET too).
    preflight = requests.options(
        site.url + "/i",
        headers={
            "Origin": PAGE,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "sp-anonymous",
        },
        timeout=10,
    )
    assert preflight.headers["Access-Control-Allow-Headers"] == "sp-anonymous"


def test_https_through_a_trusted_proxy_and_the_cookie_domain(tmp_path: Path) -> None:
    db = tmp_path / "events.sqlite"
    settings = {"trusted_proxies": ("127.0.0.0/8",), "cookie_domain": "example.test"}
    with browser_endpoint(db, **settings) as endpoint:
        over_https = set_cookie(send(endpoint, event(), **{"X-Forwarded-Proto": "https"}))
        assert (over_https["SameSite"], over_https["Domain"]) == ("None", "example.test")
        assert "Secure" in over_https and "HttpOnly" in over_https
        over_http = set_cookie(send(endpoint, event(), **{"X-Forwarded-Proto": "http"}))
        assert over_http["SameSite"] == "Lax" and "Secure" not in over_http
        anonymous = set_cookie(
            send(
                endpoint,
                event(),
                cookie=f"sp={over_https['sp']}",
                **{"X-Forwarded-Proto": "https", "SP-Anonymous": "*"},
            )
        )
        assert (anonymous["sp"], anonymous["SameSite"], anonymous["Domain"]) == (
            "",
            "None",
            "example.test",
        )
        assert "Secure" in anonymous


def test_forwarded_proto_from_an_untrusted_peer_is_ignored(site: Endpoint) -> None:
    cookie = set_cookie(send(site, event(), **{"X-Forwarded-Proto": "https"}))
    assert cookie["SameSite"] == "Lax" and "Secure" not in cookie


def _request(**scope: object) -> Request:
    base: dict[str, object] = {
        "type": "http",
        "method": "POST",
        "path": TP2,
        "scheme": "http",
        "client": ("10.0.0.2", 5000),
        "headers": [(b"origin", PAGE.encode())],
    }
    base.update(scope)
    return Request(base)


def test_https_is_read_from_the_scope_or_a_trusted_proxy() -> None:
    cookie = NetworkCookie(domain=None, trusted_proxies=trusted_networks(["10.0.0.0/8"]))
    assert cookie.is_https(_request(scheme="https"))
    assert not cookie.is_https(_request())
    forwarded = [(b"origin", PAGE.encode()), (b"x-forwarded-proto", b"HTTPS, http")]
    assert cookie.is_https(_request(headers=forwarded))
    assert not cookie.is_https(_request(headers=forwarded, client=("192.0.2.1", 5000)))
    assert not cookie.is_https(_request(headers=forwarded, client=None))
    direct = cookie.identify(_request(scheme="https"))
    assert direct.headers[0][1].endswith(b"; Path=/; SameSite=None; Secure; HttpOnly")


def test_incoming_cookie_parsing() -> None:
    nuid = str(uuid.uuid4())
    assert incoming_network_userid(f"sp={nuid}") == nuid
    assert incoming_network_userid(f'a=1;sp="{nuid}"') == nuid
    assert incoming_network_userid(f"sp=junk; sp={nuid}") == nuid
    assert incoming_network_userid("sp") is None
    assert incoming_network_userid(None) is None
    assert incoming_network_userid("=;;sp=;") is None


@pytest.mark.parametrize("domain", ["Example.com", "example.com; Secure", "a b", ""])
def test_cookie_domain_is_validated(domain: str) -> None:
    with pytest.raises(ValueError, match="cookie_domain must be a lowercase domain name"):
        Settings(cookie_domain=domain)
    assert Settings(cookie_domain=".example.com").cookie_domain == ".example.com"
