"""Sending requests: the only module that talks HTTP.

Callers may pass their own ``session`` (adapters, proxies, CA settings and their
own test mocks keep working). Without one, the emitter gets a private session
that keeps pooled keep-alive connections and accepts no cookies, so server-side
events never share a network user id; its requests go over bare ``http.client``
connections when nothing could tell the difference (see :mod:`direct_http`).

Whatever answers (a real server, a test's ``Mock``, an adapter mock), a request
ends in a :class:`SendResult`; nothing here raises because of what the HTTP
layer returned or raised.
"""

from __future__ import annotations

import email.utils
import http.client
import http.cookiejar
import logging
import time
from collections.abc import Callable, Mapping
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
from snowplow_tracker.json_text import ascii_json, dumps_event

logger = logging.getLogger("snowplow_tracker")

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


class Requester:
    """The two functions a request goes through when it goes through ``requests``.

    Upstream's emitters call ``request_method.post(url, data=..., headers=...,
    timeout=...)`` and ``request_method.get(url, params=..., timeout=...)``; ours
    do the same whenever ``requests`` is the way out (a caller's session, a patched
    ``requests.post``), and always when a caller replaced ``post`` or ``get`` here.
    """

    def __init__(self, post: Callable[..., Any], get: Callable[..., Any]) -> None:
        self.post = post
        self.get = get

    def __repr__(self) -> str:
        return f"Requester(post={self.post!r}, get={self.get!r})"


def private_session(pool_size: int = 1) -> requests.Session:
    """A keep-alive session that never stores cookies."""
    session = requests.Session()
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(1, pool_size), max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def encode_event(event: Mapping[str, Any]) -> bytes:
    """One event as compact UTF-8 JSON, as it appears inside a POST body."""
    return dumps_event(event)


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
        self._default_calls: tuple[Callable[..., Any], Callable[..., Any]]
        self.requester = self._default_requester()

    def _default_requester(self) -> Requester:
        calls: tuple[Callable[..., Any], Callable[..., Any]]
        if self.private:
            calls = (requests.post, requests.get)
        else:
            calls = (self.session.post, self.session.get)
        self._default_calls = calls
        return Requester(*calls)

    def _requests_call(self, method: str) -> Callable[..., Any]:
        """The function a request goes out through when it goes through requests."""
        post, get = self._default_calls
        if method == "POST":
            chosen = self.requester.post
            if chosen is not post:  # replaced by the caller
                return chosen
            return requests.post if self.private else chosen
        chosen = self.requester.get
        if chosen is not get:
            return chosen
        return requests.get if self.private else chosen

    def _requester_replaced(self, method: str) -> bool:
        post, get = self._default_calls
        if method == "POST":
            return self.requester.post is not post
        return self.requester.get is not get

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
        replaced = self._requester_replaced("POST") or self._requester_replaced("GET")
        if not replaced:
            self.requester = self._default_requester()

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
        return _call(
            lambda _url: self.session.send(prepared, timeout=self.timeout, **settings),
            prepared.url or "",
        )

    def post(self, body: bytes | str) -> SendResult:
        """POST one body: UTF-8 JSON bytes, or text (what ``http_post`` is given)."""
        url = self.endpoint.post_url
        if not self._requester_replaced("POST"):
            data = body if isinstance(body, bytes) else body.encode("utf-8", "surrogatepass")
            route = self._direct_route("POST", url)
            if route is not None:
                result = self._send_direct(route, "POST", self.endpoint.post_target, data)
                if result is not None:
                    return result
            if self.private and requests.post is _REQUESTS_POST and session_request_untouched():
                template, settings = self._template("POST", url)
                prepared = template.copy()
                prepared.body = data
                prepared.headers["Content-Length"] = str(len(data))
                return self._send(prepared, settings)
        # As upstream: the body as ASCII JSON text, through requests.post or session.post.
        text = ascii_json(body) if isinstance(body, bytes) else body
        headers = {"Content-Type": _POST_CONTENT_TYPE, **self.headers}
        return _call(
            self._requests_call("POST"), url, data=text, headers=headers, timeout=self.timeout
        )

    def get(self, event: Mapping[str, Any]) -> SendResult:
        """GET one event: its fields become the query string."""
        url = self.endpoint.get_url
        if not self._requester_replaced("GET"):
            route = self._direct_route("GET", url)
            if route is not None:
                target = f"{self.endpoint.get_target}?{query_string(event)}"
                result = self._send_direct(route, "GET", target, None)
                if result is not None:
                    return result
            if self.private and requests.get is _REQUESTS_GET and session_request_untouched():
                template, settings = self._template("GET", url)
                prepared = template.copy()
                prepared.url = f"{url}?{query_string(event)}"
                return self._send(prepared, settings)
        # As upstream: the event itself as params (a string only when it holds text
        # that requests could not encode), headers only when there are any.
        params: Mapping[str, Any] | str = event if _encodable(event) else query_string(event)
        extra: dict[str, Any] = {"headers": dict(self.headers)} if self.headers else {}
        return _call(self._requests_call("GET"), url, params=params, timeout=self.timeout, **extra)


def query_string(event: Mapping[str, Any]) -> str:
    """The event as a query string; a lone surrogate is sent as its UTF-8 bytes
    (``surrogatepass``), never an error."""
    return urlencode(event, errors="surrogatepass")


def _encodable(event: Mapping[str, Any]) -> bool:
    for value in event.values():
        if isinstance(value, str) and not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return False
    return True


def _call(send: Callable[..., Any], url: str, **kwargs: Any) -> SendResult:
    """One request the way upstream makes it; whatever comes back becomes a result."""
    try:
        response = send(url, **kwargs)
    except requests.RequestException as exc:
        return SendResult(-1, error=_describe(exc))
    except Exception as exc:  # a test double raising something else: never our caller's problem
        logger.warning("request to %s raised %r; it will be retried", url, exc)
        return SendResult(-1, error=f"{type(exc).__name__}: {exc}"[:300])
    return _result(response)


def _result(response: Any) -> SendResult:
    """A result from any response object: read by ``status_code``; headers and body only
    when they are what requests gives (a test's ``Mock`` may carry neither)."""
    status = status_of(response)
    if isinstance(response, requests.Response):
        _ = response.content  # read the (small) body so the connection goes back to the pool
    error = None
    if not 200 <= status < 300:
        text = getattr(response, "text", None)
        error = f"HTTP {status}: {text[:200]!r}" if isinstance(text, str) else f"HTTP {status}"
    headers = getattr(response, "headers", None)
    retry_after = headers.get("Retry-After") if isinstance(headers, Mapping) else None
    return SendResult(
        status, parse_retry_after(retry_after if isinstance(retry_after, str) else None), error
    )


def status_of(response: Any) -> int:
    """The response's ``status_code`` as an int, or -1 when it has none that is a number."""
    code = getattr(response, "status_code", None)
    if isinstance(code, int) and not isinstance(code, bool):
        return code
    return -1


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
