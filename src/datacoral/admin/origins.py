"""Allowed browser origins: how an allow-list entry is written, checked and matched.

An entry is one of two forms (PROTOCOL.md §2 "CORS"):

- exact, ``scheme://host[:port]``: matches that one origin; e.g.
  ``https://app.example.com`` or ``http://[::1]:3000``;
- wildcard subdomain, ``scheme://*.domain[:port]``: matches every subdomain of
  ``domain``, at any depth (``a.example.com``, ``a.b.example.com``), but **not**
  ``domain`` itself. The bare domain is a different site owner's choice as often
  as not (``example.com`` vs ``*.example.com``); allowing both takes two entries.

The scheme is ``http`` or ``https``; scheme and host are compared in lower case;
a default port (http 80, https 443) is the same as no port; any other port must
match exactly. A lone trailing ``/`` is forgiven (it is what a browser's address
bar shows); a path, query, fragment or user info is refused. Hosts are DNS names
(non-ASCII names are stored in their ``xn--`` form), dotted IPv4 addresses or
bracketed IPv6 literals. Entries are stored in the canonical form :func:`normalise`
returns, so ``https://App.Example.com:443/`` and ``https://app.example.com`` are
one entry.

A wildcard must name at least two labels after ``*.`` (``*.example.com``), or
``*.localhost``: ``*.com`` would let in every site under a top-level domain. Public
suffixes such as ``co.uk`` are not known here; ``*.co.uk`` is the writer's mistake.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
WILDCARD_PREFIX = "*."

_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_DOTTED_NUMBERS = re.compile(r"[0-9.]+")
_PORT = re.compile(r"[0-9]{1,5}")
_EXAMPLE = "e.g. https://app.example.com or https://*.example.com:8443"


@dataclass(frozen=True, slots=True)
class Origin:
    """A web origin: scheme, lowercase host (IPv6 without brackets) and effective port."""

    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        return _serialise(self.scheme, _bracketed(self.host), self.port)

    @property
    def is_ip(self) -> bool:
        """True for an IPv4 or IPv6 literal, which no wildcard matches."""
        return ":" in self.host or _DOTTED_NUMBERS.fullmatch(self.host) is not None


@dataclass(frozen=True, slots=True)
class OriginRule:
    """One allow-list entry: an exact origin, or every subdomain of ``host`` (``wildcard``)."""

    scheme: str
    host: str
    port: int
    wildcard: bool = False

    def __str__(self) -> str:
        host = WILDCARD_PREFIX + self.host if self.wildcard else _bracketed(self.host)
        return _serialise(self.scheme, host, self.port)

    def matches(self, origin: Origin | str | None) -> bool:
        """Whether this entry lets in ``origin`` (an :class:`Origin` or an ``Origin`` header
        value); ``None``, ``null`` and malformed values are never let in."""
        if isinstance(origin, str):
            origin = parse_origin(origin)
        if origin is None or origin.scheme != self.scheme or origin.port != self.port:
            return False
        if not self.wildcard:
            return origin.host == self.host
        return not origin.is_ip and origin.host.endswith("." + self.host)


class AllowList:
    """The entries of one environment (or of all), matched together."""

    __slots__ = ("_exact", "_wildcards")

    def __init__(self, rules: Iterable[OriginRule] = ()) -> None:
        exact: set[Origin] = set()
        wildcards: list[OriginRule] = []
        for rule in rules:
            if rule.wildcard:
                wildcards.append(rule)
            else:
                exact.add(Origin(rule.scheme, rule.host, rule.port))
        self._exact = frozenset(exact)
        self._wildcards = tuple(wildcards)

    @classmethod
    def from_entries(cls, entries: Iterable[str]) -> AllowList:
        """An allow-list from stored entries; an entry that does not parse lets nothing in."""
        rules = []
        for entry in entries:
            try:
                rules.append(parse_rule(entry))
            except ValueError:
                # Written before entries were validated: it cannot match a real Origin.
                continue
        return cls(rules)

    def __bool__(self) -> bool:
        return bool(self._exact or self._wildcards)

    def allows(self, origin: Origin | None) -> bool:
        """Whether some entry lets in ``origin``; ``None`` (null or malformed) never."""
        if origin is None:
            return False
        if origin in self._exact:
            return True
        return any(rule.matches(origin) for rule in self._wildcards)

    def matches(self, origin_header_value: str) -> bool:
        """Whether some entry lets in the request whose ``Origin`` header is this value."""
        return self.allows(parse_origin(origin_header_value))


def matches(entries: Iterable[str], origin_header_value: str) -> bool:
    """Whether any of the allow-list ``entries`` lets in this ``Origin`` header value."""
    return AllowList.from_entries(entries).matches(origin_header_value)


def parse_rule(text: str) -> OriginRule:
    """The allow-list entry ``text`` means; ValueError with a one-line reason when invalid."""
    if not isinstance(text, str):
        raise ValueError(f"invalid origin {text!r}: expected text like {_EXAMPLE}")
    scheme, authority = _split(text, allow_trailing_slash=True)
    wildcard = authority.startswith(WILDCARD_PREFIX)
    if wildcard:
        authority = authority[len(WILDCARD_PREFIX) :]
    host_text, port = _authority(text, scheme, authority)
    if wildcard:
        if host_text.startswith("["):
            raise _invalid(text, "a wildcard needs a domain name, not an IP address")
        host = _hostname(text, host_text)
        if _DOTTED_NUMBERS.fullmatch(host):
            raise _invalid(text, "a wildcard needs a domain name, not an IP address")
        if "." not in host and host != "localhost":
            raise _invalid(text, f"'*.{host}' would allow every site under {host!r}; name a domain")
        return OriginRule(scheme, host, port, wildcard=True)
    return OriginRule(scheme, _host(text, host_text), port)


def normalise(text: str) -> str:
    """The canonical stored form of an allow-list entry (ValueError when invalid)."""
    return str(parse_rule(text))


def parse_origin(value: str | None) -> Origin | None:
    """The origin an ``Origin`` header names; None for ``null``, absent or malformed values."""
    if not value or value == "null":
        return None
    try:
        scheme, authority = _split(value, allow_trailing_slash=False)
        host_text, port = _authority(value, scheme, authority)
        return Origin(scheme, _host(value, host_text), port)
    except ValueError:
        return None


def origin_of_url(url: str | None) -> Origin | None:
    """The origin of an http(s) URL (a ``Referer``); None when it has none we can read."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS or not parts.netloc or "@" in parts.netloc:
            return None
        host_text, port = _authority(url, scheme, parts.netloc)
        return Origin(scheme, _host(url, host_text), port)
    except ValueError:
        return None


# --- parsing -----------------------------------------------------------------


def _invalid(text: str, reason: str) -> ValueError:
    shown = text if len(text) <= 100 else text[:100] + "..."
    return ValueError(f"invalid origin {shown!r}: {reason}")


def _split(text: str, *, allow_trailing_slash: bool) -> tuple[str, str]:
    """Scheme and authority of ``scheme://authority``, refusing anything more."""
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise _invalid(text, f"expected scheme://host[:port] without spaces, {_EXAMPLE}")
    scheme, separator, rest = text.partition("://")
    scheme = scheme.lower()
    if not separator or scheme not in DEFAULT_PORTS:
        raise _invalid(text, f"must start with http:// or https://, {_EXAMPLE}")
    if allow_trailing_slash and rest.endswith("/"):
        rest = rest[:-1]
    if any(ch in rest for ch in "/?#\\"):
        raise _invalid(text, "an origin is scheme://host[:port]: no path, query or fragment")
    if "@" in rest:
        raise _invalid(text, "an origin has no user name or password")
    if not rest:
        raise _invalid(text, "no host")
    return scheme, rest


def _authority(text: str, scheme: str, authority: str) -> tuple[str, int]:
    """Host text (IPv6 still bracketed) and effective port of ``host[:port]``."""
    port_text: str | None = None
    if authority.startswith("["):
        close = authority.find("]")
        if close < 0:
            raise _invalid(text, "an IPv6 address needs its closing ']'")
        host, after = authority[: close + 1], authority[close + 1 :]
        if after:
            if not after.startswith(":"):
                raise _invalid(text, "unexpected text after the IPv6 address")
            port_text = after[1:]
    else:
        host, colon, port_text_found = authority.partition(":")
        if colon:
            port_text = port_text_found
        if ":" in port_text_found:
            raise _invalid(text, "an IPv6 address must be in brackets: http://[::1]:8080")
    if port_text is None:
        return host, DEFAULT_PORTS[scheme]
    if _PORT.fullmatch(port_text) is None or not 0 < int(port_text) <= 65535:
        raise _invalid(text, f"port must be a number from 1 to 65535, got {port_text!r}")
    return host, int(port_text)


def _host(text: str, host_text: str) -> str:
    """A canonical host: a compressed IPv6 literal, a dotted IPv4 address or a DNS name."""
    if host_text.startswith("["):
        try:
            return ipaddress.IPv6Address(host_text[1:-1]).compressed
        except ValueError:
            raise _invalid(text, f"not an IPv6 address: {host_text}") from None
    host = _hostname(text, host_text)
    if _DOTTED_NUMBERS.fullmatch(host) and host.rpartition(".")[2].isdigit():
        try:
            return str(ipaddress.IPv4Address(host))
        except ValueError:
            raise _invalid(text, f"not an IPv4 address: {host}") from None
    return host


def _hostname(text: str, host_text: str) -> str:
    """A lowercase DNS name; a non-ASCII name becomes its IDNA ``xn--`` form."""
    host = host_text
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise _invalid(text, f"not a valid host name: {host_text!r}") from None
    host = host.lower()
    if "*" in host:
        raise _invalid(text, f"'*' may only be the whole first label, {_EXAMPLE}")
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in host.split(".")):
        raise _invalid(text, f"not a valid host name: {host_text!r}")
    return host


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _serialise(scheme: str, host: str, port: int) -> str:
    if port == DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"
