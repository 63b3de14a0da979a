"""The network user id: the ``sp`` cookie the endpoint sets on browsers.

Answers to browser requests (those with an ``Origin`` or ``Referer``) that store
events carry ``Set-Cookie: sp=<UUID>``. An incoming ``sp`` that is a UUID is kept
and re-set (a sliding one-year expiry); anything else is replaced by a new UUID4.
Requests from servers get no cookie, though an ``sp`` they send is still used.
The id is stored as an event's ``network_userid`` unless the event carries
``tnuid`` or ``nuid`` (see :func:`datacoral.collector.events.build_good_event`).

Attributes, by how the endpoint is reached:

- over https (the ASGI scheme, or ``X-Forwarded-Proto: https`` from a trusted
  proxy): ``SameSite=None; Secure``, so the cookie also works when the page is
  on another site (where the browser still allows third-party cookies);
- over plain http: ``SameSite=Lax`` and no ``Secure``. Chromium rejects
  ``SameSite=None`` without ``Secure``, and ``Secure`` cookies are not set over
  http, so nothing would be kept at all. SameSite is about *sites*, not origins:
  a page on ``http://127.0.0.1:8080`` sending to ``http://127.0.0.1:9090`` is
  same-site, so a Lax cookie is set and sent back on its credentialed fetches.
  A cross-site page over http gets no cookie whatever the attributes.

Both are ``HttpOnly`` and ``Path=/``, with ``Domain`` from ``Settings.cookie_domain``
when set. ``SP-Anonymous`` (any value) sets no cookie, expires an incoming one,
and keeps the request's IP address out of the stored events.
"""

from __future__ import annotations

import ipaddress
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate

from datacoral.collector.enrich import IPNetwork
from datacoral.collector.request import Request

COOKIE_NAME = "sp"
#: One year, re-set on every answer (Snowplow's default expiry).
COOKIE_MAX_AGE = 365 * 24 * 3600

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_EXPIRED = "Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"

Header = tuple[bytes, bytes]


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a request's events are attributed to, and the cookie header its answer sends."""

    network_userid: str | None
    anonymous: bool
    headers: tuple[Header, ...] = ()


#: A request from a server without an ``sp`` cookie (the usual one): nothing to set.
_NOT_A_BROWSER = Identity(None, anonymous=False)


def incoming_network_userid(cookie_header: str | None) -> str | None:
    """The first ``sp`` cookie that is a UUID, in lower case; None when there is none."""
    if not cookie_header or COOKIE_NAME not in cookie_header:
        return None
    for pair in cookie_header.split(";"):
        name, equals, value = pair.partition("=")
        if equals and name.strip() == COOKIE_NAME:
            value = value.strip().strip('"')
            if _UUID.fullmatch(value):
                return value.lower()
    return None


class NetworkCookie:
    """Decides each request's network user id and the ``Set-Cookie`` of its answer."""

    def __init__(
        self,
        *,
        domain: str | None,
        trusted_proxies: tuple[IPNetwork, ...],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._domain = f"; Domain={domain}" if domain else ""
        self._trusted_proxies = trusted_proxies
        self._clock = clock

    def identify(self, request: Request) -> Identity:
        """The network user id for ``request``'s events and the cookie to answer with."""
        incoming = incoming_network_userid(request.header(b"cookie"))
        if request.has_header(b"sp-anonymous"):
            if incoming is None:
                return Identity(None, anonymous=True)
            expire = self._set_cookie("", _EXPIRED, secure=self.is_https(request))
            return Identity(None, anonymous=True, headers=(expire,))
        if request.origin is None:
            return _NOT_A_BROWSER if incoming is None else Identity(incoming, anonymous=False)
        network_userid = incoming or str(uuid.uuid4())
        expires = formatdate(self._clock() + COOKIE_MAX_AGE, usegmt=True)
        lifetime = f"Max-Age={COOKIE_MAX_AGE}; Expires={expires}"
        cookie = self._set_cookie(network_userid, lifetime, secure=self.is_https(request))
        return Identity(network_userid, anonymous=False, headers=(cookie,))

    def is_https(self, request: Request) -> bool:
        """Whether the browser reached the endpoint over https, directly or through a
        trusted TLS-terminating proxy (``X-Forwarded-Proto``)."""
        if request.scope.get("scheme") == "https":
            return True
        forwarded = request.header(b"x-forwarded-proto")
        if forwarded is None or not self._from_trusted_proxy(request.peer):
            return False
        # The first value is the one the client-facing proxy wrote.
        return forwarded.split(",", 1)[0].strip().lower() == "https"

    def _from_trusted_proxy(self, peer: str | None) -> bool:
        if peer is None or not self._trusted_proxies:
            return False
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self._trusted_proxies)

    def _set_cookie(self, value: str, lifetime: str, *, secure: bool) -> Header:
        same_site = "SameSite=None; Secure" if secure else "SameSite=Lax"
        text = f"{COOKIE_NAME}={value}; {lifetime}; Path=/{self._domain}; {same_site}; HttpOnly"
        return (b"set-cookie", text.encode("latin-1"))
