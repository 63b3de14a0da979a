"""Sending requests: the only module that talks HTTP.

Callers may pass their own ``session`` (adapters, proxies, CA settings and their
own test mocks keep working). Without one, the emitter gets a private session
that keeps pooled keep-alive connections and accepts no cookies, so server-side
events never share a network user id; its requests go over bare ``http.client``
connections when nothing could tell the difference (see :mod:`direct_http`).
"""

from __future__ import annotations

import email.utils
import http.client
import http.cookiejar
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import requests
from requests.adapters import HTTPAdapter

from snowplow_tracker.constants import PAYLOAD_DATA_SCHEMA
from snowplow_tracker.direct_http import (
    DirectConnections,
    direct_connections,
    requests_untouched,
    session_request_untouched,
)
from snowplow_tracker.endpoint import Endpoint
from snowplow_tracker.json_text import dumps_event
from snowplow_tracker.typing import PayloadDict

DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 15.0
_ENVELOPE_HEAD = ('{"schema":"' + PAYLOAD_DATA_SCHEMA + '","data":[').encode()
_ENVELOPE_TAIL = b"]}"
_POST_CONTENT_TYPE = "application/json; charset=utf-8"
# The functions as imported; a test suite that patches them gets them called instead.
_REQUESTS_POST = requests.post
_REQUESTS_GET = requests.get
# Connections and the headers to send for one method.
_Route = tuple[DirectConnections, dict[str, str]]


@dataclass(frozen=True, slots=True)
class SendResult:
    """The outcome of one request: ``status`` is -1 when no HTTP answer came."""

    status: int
    retry_after: float | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def private_session(pool_size: int = 1) -> requests.Session:
    """A keep-alive session that never stores cookies."""
    session = requests.Session()
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(1, pool_size), max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def encode_event(event: PayloadDict) -> bytes:
    """One event as compact UTF-8 JSON, as it appears inside a POST body."""
    return dumps_event(event)


def encode_event_sent_at(event: PayloadDict, stm: bytes) -> bytes:
    """:func:`encode_event` with ``"stm"`` (``stm`` is its ASCII digits) as first field.

    Splicing saves copying the event dict for every attempt.
    """
    data = encode_event({k: v for k, v in event.items() if k != "stm"} if "stm" in event else event)
    if data == b"{}":
        return b'{"stm":"' + stm + b'"}'
    return b'{"stm":"' + stm + b'",' + data[1:]


def post_body(encoded_events: list[bytes]) -> bytes:
    """The payload_data envelope around already-encoded events."""
    return _ENVELOPE_HEAD + b",".join(encoded_events) + _ENVELOPE_TAIL


class Transport:
    """Sends POST batches and GET events to one endpoint with fixed headers and timeouts.

    With the emitter's private session, each request is a copy of a request
    prepared once, sent with environment settings (proxies, CA bundle) resolved
    once: ``Session.request`` would redo both for every event. Requests still go
    through ``Session.send`` and its adapters, so adapter-level mocks
    (``responses``, ``requests-mock``) see them. A session passed by the caller is
    used exactly as upstream does (``session.post`` / ``session.get``), and a
    patched ``requests.post`` / ``requests.get`` (a test mock) is called as
    upstream calls it.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        session: requests.Session,
        timeout: float | tuple[float, float],
        headers: Mapping[str, str],
        *,
        private: bool = False,
        pool_size: int = 1,
    ) -> None:
        self.endpoint = endpoint
        self.session = session
        self.timeout = timeout
        self.headers = dict(headers)
        self.private = private
        self.pool_size = pool_size
        self._prepared: dict[str, tuple[requests.PreparedRequest, dict[str, Any]]] = {}
        self._direct: DirectConnections | None = None
        self._direct_checked = False
        self._direct_headers: dict[str, dict[str, str]] = {}

    def set_header(self, name: str, value: str) -> None:
        """Send ``name: value`` on every later request."""
        self.headers[name] = value
        self._prepared.clear()
        self._direct_headers.clear()

    def replace_session(self, session: requests.Session) -> None:
        """Use another private session (after a fork)."""
        self.session = session
        self._prepared.clear()
        self._direct_headers.clear()
        self._direct = None
        self._direct_checked = False

    def close(self) -> None:
        """Close idle connections."""
        if self._direct is not None:
            self._direct.close()
        self.session.close()

    def _direct_route(self, method: str, url: str) -> _Route | None:
        """The short way for this request, or None when it must go through requests."""
        if not self.private:
            return None
        if not self._direct_checked:
            _, settings = self._template(method, url)
            self._direct = direct_connections(
                self.session, url, settings, self.timeout, self.pool_size
            )
            self._direct_checked = True
        if self._direct is None or not requests_untouched(self.session, url):
            return None
        headers = self._direct_headers.get(method)
        if headers is None:
            template, _ = self._template(method, url)
            # http.client writes Content-Length for the body it sends.
            headers = {k: v for k, v in template.headers.items() if k.lower() != "content-length"}
            self._direct_headers[method] = headers
        return self._direct, headers

    def _send_direct(
        self,
        route: _Route,
        method: str,
        target: str,
        body: bytes | None,
    ) -> SendResult | None:
        connections, headers = route
        try:
            answer = connections.request(method, target, body, headers)
        except (OSError, http.client.HTTPException) as exc:
            return SendResult(-1, error=f"{type(exc).__name__}: {exc}"[:300])
        status = answer.status
        if 300 <= status < 400 and status != 304:
            return None  # requests follows redirects as upstream's would
        error = None
        if not 200 <= status < 300:
            error = f"HTTP {status}: {answer.body[:200].decode('utf-8', 'replace')!r}"
        return SendResult(status, parse_retry_after(answer.retry_after), error)

    def _template(self, method: str, url: str) -> tuple[requests.PreparedRequest, dict[str, Any]]:
        cached = self._prepared.get(method)
        if cached is not None:
            return cached
        headers = dict(self.headers)
        if method == "POST":
            headers["Content-Type"] = _POST_CONTENT_TYPE
        prepared = self.session.prepare_request(requests.Request(method, url, headers=headers))
        settings: dict[str, Any] = dict(
            self.session.merge_environment_settings(url, {}, None, None, None)
        )
        self._prepared[method] = (prepared, settings)
        return prepared, settings

    def _send(self, prepared: requests.PreparedRequest, settings: dict[str, Any]) -> SendResult:
        try:
            response = self.session.send(prepared, timeout=self.timeout, **settings)
        except requests.RequestException as exc:
            return SendResult(-1, error=_describe(exc))
        return _result(response)

    def post(self, body: bytes) -> SendResult:
        url = self.endpoint.post_url
        route = self._direct_route("POST", url)
        if route is not None:
            result = self._send_direct(route, "POST", self.endpoint.post_target, body)
            if result is not None:
                return result
        if self.private and requests.post is _REQUESTS_POST and session_request_untouched():
            template, settings = self._template("POST", url)
            prepared = template.copy()
            prepared.body = body
            prepared.headers["Content-Length"] = str(len(body))
            return self._send(prepared, settings)
        headers = {**self.headers, "Content-Type": _POST_CONTENT_TYPE}
        send = requests.post if self.private else self.session.post
        try:
            response = send(url, data=body, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            return SendResult(-1, error=_describe(exc))
        return _result(response)

    def get(self, event: Mapping[str, str]) -> SendResult:
        url = self.endpoint.get_url
        route = self._direct_route("GET", url)
        if route is not None:
            target = f"{self.endpoint.get_target}?{urlencode(event)}"
            result = self._send_direct(route, "GET", target, None)
            if result is not None:
                return result
        if self.private and requests.get is _REQUESTS_GET and session_request_untouched():
            template, settings = self._template("GET", url)
            prepared = template.copy()
            prepared.url = f"{url}?{urlencode(event)}"
            return self._send(prepared, settings)
        send = requests.get if self.private else self.session.get
        try:
            response = send(url, params=event, headers=self.headers, timeout=self.timeout)
        except requests.RequestException as exc:
            return SendResult(-1, error=_describe(exc))
        return _result(response)


def _result(response: requests.Response) -> SendResult:
    status = response.status_code
    # Read the (small) body so the connection goes back to the pool.
    _ = response.content
    error = None if 200 <= status < 300 else f"HTTP {status}: {response.text[:200]!r}"
    return SendResult(status, parse_retry_after(response.headers.get("Retry-After")), error)


def _describe(exc: requests.RequestException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), 3600.0)
