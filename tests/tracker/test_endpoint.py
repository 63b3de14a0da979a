"""Endpoint forms and their URLs (PROTOCOL.md §1)."""

from __future__ import annotations

import pytest

from snowplow_tracker import Emitter
from snowplow_tracker.endpoint import parse_endpoint


@pytest.mark.parametrize(
    ("endpoint", "kwargs", "base"),
    [
        ("collector.example.com", {}, "https://collector.example.com"),
        ("collector.example.com", {"protocol": "http"}, "http://collector.example.com"),
        ("collector.example.com", {"port": 8080}, "https://collector.example.com:8080"),
        ("collector.example.com:9090", {"protocol": "http"}, "http://collector.example.com:9090"),
        ("http://h:81", {"protocol": "https"}, "http://h:81"),
        ("https://h/prefix/", {}, "https://h/prefix"),
        ("https://h:8443/a/b", {"port": 1}, "https://h:8443/a/b"),
        ("[::1]:8080", {"protocol": "http"}, "http://[::1]:8080"),
        ("  HTTPS://Host.Example/  ", {}, "https://host.example"),
    ],
)
def test_endpoint_forms(endpoint: str, kwargs: dict[str, object], base: str) -> None:
    assert parse_endpoint(endpoint, **kwargs).base == base  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("endpoint", "kwargs", "message"),
    [
        ("", {}, "empty"),
        ("ftp://h", {}, "scheme"),
        ("h", {"protocol": "gopher"}, "protocol"),
        ("https://h?x=1", {}, "query"),
        ("h:notaport", {}, "port"),
        ("h", {"port": 70000}, "port"),
    ],
)
def test_bad_endpoints(endpoint: str, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_endpoint(endpoint, **kwargs)  # type: ignore[arg-type]


def test_paths_and_collector_uri() -> None:
    e = parse_endpoint("h", post_path="tp2")
    assert e.post_url == "https://h/tp2"
    assert e.get_url == "https://h/i"
    assert Emitter.as_collector_uri("h") == "https://h/com.snowplowanalytics.snowplow/tp2"
    assert Emitter.as_collector_uri("h", "http", 80, "get") == "http://h:80/i"
