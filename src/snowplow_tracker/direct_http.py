"""Requests over ``http.client`` keep-alive connections, for the emitter's private session.

A request through ``requests.Session`` costs several times more CPU than the same
request over a bare ``http.client`` connection (proxy lookup, request preparation,
hooks, adapters, urllib3's pool). When nothing could tell the difference, the
emitter's requests take the short way:

- the emitter uses its private session (a caller's ``session`` is always used);
- the endpoint URL has no user name, and no proxy applies to it (environment
  proxies and ``NO_PROXY`` are read once, as the session would read them);
- nothing in requests is patched: ``requests.post`` / ``requests.get``,
  ``Session.request``, ``Session.send``, ``Session.get_adapter``,
  ``HTTPAdapter.send`` and the session's own adapter are requests' own, checked
  on every request, so test suites that
  mock requests (``unittest.mock``, ``responses``, ``requests-mock``) keep seeing
  every request.

Otherwise, and for any answer that redirects, the request goes through requests.
The short way sends the same headers, verifies TLS against the same CA bundle
(``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE`` or certifi's) and uses the same
connect / read timeouts.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import select
import ssl
import weakref
from collections import deque
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
import requests.adapters
import requests.api
import requests.sessions
from requests.utils import requote_uri, select_proxy

_OWN = (
    (requests, "post", "requests.api", "post"),
    (requests, "get", "requests.api", "get"),
    (requests.Session, "request", "requests.sessions", "Session.request"),
    (requests.Session, "send", "requests.sessions", "Session.send"),
    (requests.Session, "get_adapter", "requests.sessions", "Session.get_adapter"),
    (requests.adapters.HTTPAdapter, "send", "requests.adapters", "HTTPAdapter.send"),
)


def _is_own(owner: object, name: str, module: str, qualname: str) -> bool:
    function = getattr(owner, name, None)
    return (
        getattr(function, "__module__", None) == module
        and getattr(function, "__qualname__", None) == qualname
    )


def session_request_untouched() -> bool:
    """True when ``requests.Session.request`` is requests' own (not a test's mock)."""
    return _is_own(*_OWN[2])


def requests_untouched(session: requests.Session, url: str) -> bool:
    """True when requests and ``session``'s adapter for ``url`` are as requests made them."""
    if not all(_is_own(*own) for own in _OWN):
        return False
    try:
        adapter = session.get_adapter(url)
    except requests.exceptions.InvalidSchema:
        return False
    return type(adapter) is requests.adapters.HTTPAdapter and "send" not in vars(adapter)


# How a kept-alive connection fails when the server closed it as the request went out.
_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


class DirectAnswer:
    """Status, ``Retry-After`` and (for errors) the start of the body of one answer."""

    __slots__ = ("body", "retry_after", "status")

    def __init__(self, status: int, retry_after: str | None, body: bytes) -> None:
        self.status = status
        self.retry_after = retry_after
        self.body = body


class DirectConnections:
    """Keep-alive ``http.client`` connections to one origin, shared by sender threads."""

    def __init__(
        self,
        url: str,
        timeout: float | tuple[float, float],
        verify: bool | str,
        pool_size: int,
    ) -> None:
        parts = urlsplit(url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if self.https else 80)
        if isinstance(timeout, tuple):
            self.connect_timeout, self.read_timeout = timeout
        else:
            self.connect_timeout = self.read_timeout = timeout
        self.pool_size = max(1, pool_size)
        self._context = _tls_context(verify) if self.https else None
        self._idle: deque[http.client.HTTPConnection] = deque()
        self._pid = os.getpid()
        self._closed = False
        # An emitter dropped without close() must not leave open sockets behind.
        weakref.finalize(self, _close_all, self._idle)

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        """An idle connection still open (reused=True), else a new one."""
        if self._pid != os.getpid():  # forked: the parent's sockets are not ours
            self._idle.clear()
            self._pid = os.getpid()
        while True:
            try:
                connection = self._idle.pop()
            except IndexError:
                break
            if _still_open(connection):
                return connection, True
            connection.close()
        return self._new_connection(), False

    def _new_connection(self) -> http.client.HTTPConnection:
        if self._context is not None:
            return http.client.HTTPSConnection(
                self.host, self.port, timeout=self.connect_timeout, context=self._context
            )
        return http.client.HTTPConnection(self.host, self.port, timeout=self.connect_timeout)

    def request(
        self, method: str, target: str, body: bytes | None, headers: Mapping[str, str]
    ) -> DirectAnswer:
        """Send one request and read the whole answer; raises OSError / HTTPException.

        A kept-alive connection the server closed just as the request went out is
        replaced once by a new one (the endpoint de-duplicates by event id, so a
        request that did arrive is not counted twice).
        """
        connection, reused = self._connection()
        if not reused:
            return self._exchange(connection, reused, method, target, body, headers)
        try:
            return self._exchange(connection, reused, method, target, body, headers)
        except _STALE:
            connection, reused = self._new_connection(), False
            return self._exchange(connection, reused, method, target, body, headers)

    def _exchange(
        self,
        connection: http.client.HTTPConnection,
        reused: bool,
        method: str,
        target: str,
        body: bytes | None,
        headers: Mapping[str, str],
    ) -> DirectAnswer:
        try:
            if not reused:
                connection.connect()
                if connection.sock is not None:
                    connection.sock.settimeout(self.read_timeout)
            # The server may have answered before reading the whole body (a 413) and
            # closed: its answer is still there to read. If it is not, reading raises,
            # and a kept-alive connection is replaced as stale.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                connection.request(method, target, body, dict(headers))
            response = connection.getresponse()
            data = response.read()
        except BaseException:
            connection.close()
            raise
        if response.will_close or self._closed or len(self._idle) >= self.pool_size:
            connection.close()
        else:
            self._idle.append(connection)
        return DirectAnswer(response.status, response.getheader("Retry-After"), data)

    def close(self) -> None:
        """Close the idle connections, and each busy one when its request ends."""
        self._closed = True
        _close_all(self._idle)


def _close_all(connections: deque[http.client.HTTPConnection]) -> None:
    while True:
        try:
            connections.pop().close()
        except IndexError:
            return


def direct_connections(
    session: requests.Session,
    url: str,
    settings: Mapping[str, Any],
    timeout: float | tuple[float, float],
    pool_size: int,
) -> DirectConnections | None:
    """Connections for ``url``, or None when requests must send (proxy, credentials, ...)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.username or parts.password:
        return None
    if requote_uri(url) != url:  # requests would quote the path; let it
        return None
    if select_proxy(url, settings.get("proxies") or {}) is not None:
        return None
    if settings.get("cert") or session.auth is not None:
        return None
    verify = settings.get("verify", True)
    if not isinstance(verify, (bool, str)):
        return None
    return DirectConnections(url, timeout, verify, pool_size)


def _tls_context(verify: bool | str) -> ssl.SSLContext:
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    bundle = verify if isinstance(verify, str) else requests.utils.DEFAULT_CA_BUNDLE_PATH
    if os.path.isdir(bundle):
        return ssl.create_default_context(capath=bundle)
    return ssl.create_default_context(cafile=bundle)


def _still_open(connection: http.client.HTTPConnection) -> bool:
    """False when the server closed an idle connection (it is readable: EOF or junk)."""
    sock = connection.sock
    if sock is None:
        return False
    try:
        poller = select.poll()
    except AttributeError:  # pragma: no cover - platforms without poll()
        readable, _, _ = select.select([sock], [], [], 0)
        return not readable
    poller.register(sock, select.POLLIN)
    return not poller.poll(0)


__all__ = [
    "DirectAnswer",
    "DirectConnections",
    "direct_connections",
    "requests_untouched",
    "session_request_untouched",
]
