"""The Snowplow browser tracker v4 in Chromium against a real endpoint (issue 5, Acceptance).

Pages come from ``http://127.0.0.1:PORT_A`` (allowed in ``dev`` unless a test says
otherwise), the endpoint is ``http://127.0.0.1:PORT_B``; ``http://localhost:PORT_A`` is
another site that no environment allows. Every page tracks a page view and a
self-describing event, one flush each (see pages/harness.js).
"""

from __future__ import annotations

import re
import secrets
import uuid
from typing import Any

import pytest

from tests.browser.support import (
    EVENTS,
    STORED_KIND,
    Access,
    Browser,
    BrowserRun,
    Collector,
    StartCollector,
    StaticSite,
)

METHODS = ("post", "get")


def header_key(key: str) -> dict[str, Any]:
    return {"customHeaders": {"X-Api-Key": key}}


def key_carried(
    endpoint: Collector, key: str, carrier: str, method: str
) -> tuple[str, dict[str, Any]]:
    """The collector URL and tracker options that carry ``key`` in a header or the path."""
    if carrier == "header":
        return endpoint.url, {"eventMethod": method, **header_key(key)}
    return f"{endpoint.url}/k/{key}", {"eventMethod": method}


def assert_stored_once(endpoint: Collector, run: BrowserRun, environment: str = "dev") -> None:
    """Each tracked event is stored once, in ``environment``, and nothing else anywhere."""
    context = run.describe()
    tracked = {event["eid"]: STORED_KIND[event["e"]] for event in run.tracked}
    assert len(tracked) == len(run.tracked) == len(EVENTS) * len(run.results), context
    failures = [o for o in run.outcomes if not o["ok"]]
    assert not failures, f"the tracker reported failures: {failures}\n{context}"
    assert run.delivered() == set(tracked), context
    stored = endpoint.events(environment)
    assert sorted(e.event_id for e in stored) == sorted(tracked), context
    assert {e.event_id: e.event for e in stored} == tracked
    counts = endpoint.counts()
    assert counts[environment].bad == 0 and counts[environment].duplicates == 0, counts
    elsewhere = [c for env, c in counts.items() if env != environment and (c.good or c.bad)]
    assert not elsewhere, f"events stored outside {environment}: {elsewhere}"


def assert_refused(endpoint: Collector, run: BrowserRun) -> None:
    """Nothing stored anywhere, and the tracker was told nothing was accepted."""
    context = run.describe()
    assert len(run.tracked) == len(EVENTS), context
    assert not run.delivered(), f"the endpoint acknowledged events:\n{context}"
    assert not endpoint.stored_anything(), f"{endpoint.counts()}\n{context}"


def assert_bounded_attempts(endpoint: Collector, run: BrowserRun) -> list[Access]:
    """At most one preflight and one event request per flush the tracker made.

    The page flushes once per tracked event and nothing else resends, so the
    number of the tracker's callbacks is the number of its attempts.
    """
    context = run.describe()
    attempts = len(run.outcomes)
    assert attempts == len(run.tracked), f"one attempt per flush expected:\n{context}"
    seen = endpoint.access_log()
    preflights = [a for a in seen if a.method == "OPTIONS"]
    writes = [a for a in seen if a.is_tracking and a.method != "OPTIONS"]
    assert len(preflights) <= attempts, f"{seen}\n{context}"
    assert len(writes) <= attempts, f"{seen}\n{context}"
    return writes


@pytest.mark.parametrize("method", METHODS)
def test_key_in_custom_header_from_an_allowed_origin(
    method: str, browser: Browser, site: StaticSite, start_collector: StartCollector
) -> None:
    endpoint = start_collector(origins={"dev": [site.origin()]})
    page = site.tracker_page(
        endpoint.url, tracker={"eventMethod": method, **header_key(endpoint.keys["dev"])}
    )
    run = browser.run([f"{page}?load=1", f"{page}?load=2"], watch=[endpoint.url])

    assert_stored_once(endpoint, run)
    stored = endpoint.events("dev")
    # The network user id comes from the endpoint's `sp` cookie: one value for
    # both page loads, the one in the browser's cookie jar.
    network_ids = {e.network_userid for e in stored}
    assert len(network_ids) == 1, f"{network_ids}\n{run.describe()}"
    (network_id,) = network_ids
    assert network_id is not None, run.describe()
    uuid.UUID(network_id)
    cookies = run.cookie("sp")
    assert [c["value"] for c in cookies] == [network_id], f"{run.cookies}\n{run.describe()}"
    assert {e.page_url for e in stored} == {f"{page}?load=1", f"{page}?load=2"}


@pytest.mark.parametrize("method", METHODS)
def test_key_in_path_prefix_from_an_allowed_origin(
    method: str, browser: Browser, site: StaticSite, start_collector: StartCollector
) -> None:
    endpoint = start_collector(origins={"dev": [site.origin()]})
    page = site.tracker_page(
        f"{endpoint.url}/k/{endpoint.keys['dev']}", tracker={"eventMethod": method}
    )
    run = browser.run([page], watch=[endpoint.url])

    assert_stored_once(endpoint, run)
    requested = {r["url"].split("?")[0] for r in run.requests if r["method"] != "OPTIONS"}
    path = "/com.snowplowanalytics.snowplow/tp2" if method == "post" else "/i"
    assert requested == {f"{endpoint.url}/k/{endpoint.keys['dev']}{path}"}


@pytest.mark.parametrize("carrier", ("header", "path"))
@pytest.mark.parametrize("method", METHODS)
def test_a_disallowed_origin_stores_nothing(
    method: str,
    carrier: str,
    browser: Browser,
    site: StaticSite,
    start_collector: StartCollector,
) -> None:
    endpoint = start_collector(origins={"dev": [site.origin()]})
    key = endpoint.keys["dev"]
    collector_url, tracker = key_carried(endpoint, key, carrier, method)
    page = site.tracker_page(collector_url, tracker=tracker, host="localhost")
    run = browser.run([page], watch=[endpoint.url])

    assert_refused(endpoint, run)
    writes = assert_bounded_attempts(endpoint, run)
    assert all(w.status == 403 for w in writes), f"{writes}\n{run.describe()}"


@pytest.mark.parametrize("method", METHODS)
def test_a_wrong_key_is_read_as_401_and_not_retried(
    method: str, browser: Browser, site: StaticSite, start_collector: StartCollector
) -> None:
    endpoint = start_collector(origins={"dev": [site.origin()]})
    wrong = "dck_" + secrets.token_urlsafe(32)
    page = site.tracker_page(endpoint.url, tracker={"eventMethod": method, **header_key(wrong)})
    run = browser.run([page], watch=[endpoint.url])

    context = run.describe()
    assert_refused(endpoint, run)
    # The page can read the status (CORS headers on the 401), so the tracker drops the event.
    assert [(o["status"], o["willRetry"]) for o in run.outcomes] == [(401, False)] * len(EVENTS), (
        context
    )
    assert [o["eids"] for o in run.outcomes] == [[e["eid"]] for e in run.tracked], context
    writes = endpoint.tracking_requests()
    assert [w.status for w in writes] == [401] * len(EVENTS), f"{writes}\n{context}"


@pytest.mark.parametrize(("method", "carrier"), [("post", "header"), ("get", "path")])
def test_an_origin_allowed_only_in_stage_is_refused_with_a_dev_key(
    method: str,
    carrier: str,
    browser: Browser,
    site: StaticSite,
    start_collector: StartCollector,
) -> None:
    endpoint = start_collector(origins={"stage": [site.origin()]})
    key = endpoint.keys["dev"]
    collector_url, tracker = key_carried(endpoint, key, carrier, method)
    page = site.tracker_page(collector_url, tracker=tracker)
    run = browser.run([page], watch=[endpoint.url])

    assert_refused(endpoint, run)
    writes = assert_bounded_attempts(endpoint, run)
    assert all(w.status == 403 for w in writes), f"{writes}\n{run.describe()}"


@pytest.mark.parametrize("method", METHODS)
def test_sp_anonymous_sets_no_cookie_and_stores_no_ip(
    method: str, browser: Browser, site: StaticSite, start_collector: StartCollector
) -> None:
    endpoint = start_collector(origins={"dev": [site.origin()]})
    page = site.tracker_page(
        endpoint.url,
        tracker={
            "eventMethod": method,
            "anonymousTracking": {"withServerAnonymisation": True},
            **header_key(endpoint.keys["dev"]),
        },
    )
    run = browser.run([page], watch=[endpoint.url])

    context = run.describe()
    writes = [r for r in run.requests if r["method"] != "OPTIONS"]
    assert writes and all(r["headers"].get("sp-anonymous") == "*" for r in writes), context
    assert_stored_once(endpoint, run)
    assert [e.user_ipaddress for e in endpoint.events("dev")] == [None] * len(EVENTS)
    assert run.cookie("sp") == [], f"{run.cookies}\n{context}"
    # Nor did any answer try to set one (an expiring `sp=` would be harmless).
    set_cookies = [
        line
        for r in run.requests
        for line in (r["rawResponseHeaders"] or {}).get("set-cookie", "").splitlines()
    ]
    assert not [line for line in set_cookies if re.match(r"\s*sp=[^;\s]", line)], context
