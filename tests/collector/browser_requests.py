"""Requests that look like a browser's, sent to an endpoint whose environments allow origins.

The real-browser tests live in tests/browser/; these send the same headers Chromium
sends (reference/browser.md §2) with ``requests``, so each rule can be checked alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests

from datacoral.storage import open_storage
from datacoral.storage.base import GoodEvent
from datacoral.storage.target import Target
from tests.collector.conftest import Endpoint, assert_no_keys_in, create_keys
from tests.support.server import running_server

#: The page's origin, allowed in dev (as in the browser tests: the page on one port,
#: the endpoint on another).
PAGE = "http://127.0.0.1:8081"
#: Allowed in dev through the wildcard entry.
SUBDOMAIN_PAGE = "https://shop.eu.example.com"
#: Allowed in stage only.
STAGE_PAGE = "http://stage.test:9000"
#: Allowed nowhere (another site than PAGE).
OTHER_PAGE = "http://localhost:8081"

ORIGINS = {
    "dev": [PAGE, "https://*.example.com"],
    "stage": [STAGE_PAGE],
}


def allow_origins(db: Target, origins: dict[str, list[str]] = ORIGINS) -> None:
    """Set up the allow-lists through the storage API, as the CLI does."""
    storage = open_storage(db)
    try:
        for environment, entries in origins.items():
            for entry in entries:
                storage.add_origin(environment, entry)
    finally:
        storage.close()


@contextmanager
def browser_endpoint(db: Target, **settings: Any) -> Iterator[Endpoint]:
    """A running server whose dev and stage environments allow :data:`ORIGINS`."""
    keys = create_keys(db)
    allow_origins(db)
    with running_server(db, **settings) as server, requests.Session() as session:
        yield Endpoint(server, db, keys, session)
    assert_no_keys_in(server.log(), keys)


def from_page(
    origin: str | None = PAGE,
    *,
    key: str | None = None,
    environment: str | None = None,
    referer: str | None = None,
    json_body: bool = True,
    **extra: str,
) -> dict[str, str]:
    """The headers a page's tracker request carries (Origin, Referer, custom headers)."""
    sent: dict[str, str] = {}
    if origin is not None:
        sent["Origin"] = origin
    if referer is not None:
        sent["Referer"] = referer
    if json_body:
        sent["Content-Type"] = "application/json; charset=UTF-8"
    if key is not None:
        sent["x-api-key"] = key
    if environment is not None:
        sent["x-datacoral-environment"] = environment
    sent.update(extra)
    return sent


def preflight_headers(
    origin: str | None, method: str = "POST", requested: str = ""
) -> dict[str, str]:
    """The headers of Chromium's preflight: no cookie and no custom header values."""
    sent = {"Access-Control-Request-Method": method}
    if origin is not None:
        sent["Origin"] = origin
    if requested:
        sent["Access-Control-Request-Headers"] = requested
    return sent


def cors_headers_of(response: requests.Response) -> dict[str, str]:
    """The CORS-related headers of an answer, names in lower case."""
    return {
        name.lower(): value
        for name, value in response.headers.items()
        if name.lower().startswith("access-control-") or name.lower() == "vary"
    }


def stored_events(endpoint: Endpoint, event_id: str) -> list[GoodEvent]:
    """The good events stored under ``event_id`` (one per environment at most)."""
    storage = endpoint.storage()
    try:
        return [found.event for found in storage.find_events(event_id)]
    finally:
        storage.close()
