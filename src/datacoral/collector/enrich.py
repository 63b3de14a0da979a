"""What the collector adds to an event: who sent it, when, and what it is.

Timestamps follow reference/collector.md §1.6; the client address believes
``X-Forwarded-For`` only from configured proxies; the fingerprint identifies an
event's content for the duplicate rule.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from hashlib import blake2b
from typing import Any, NamedTuple

import orjson

_IGLU_URI = re.compile(
    r"iglu:([a-zA-Z0-9_.-]+)/([a-zA-Z0-9_-]+)/([a-zA-Z0-9_-]+)/([0-9]+-[0-9]+-[0-9]+)"
)
_IP_SEPARATORS = re.compile(r"[,| ]")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class Arrival(NamedTuple):
    """What the collector knows about the request an event arrived in (a named tuple:
    made once per request, three times cheaper than a frozen dataclass)."""

    environment: str
    collector_tstamp: int
    ip: str | None
    useragent: str | None
    #: The ``sp`` cookie's id (cookie.py); an event's ``tnuid`` or ``nuid`` wins over it.
    network_userid: str | None = None
    #: ``SP-Anonymous`` was sent: no address is stored, not even the event's ``ip``.
    anonymous: bool = False


def derived_tstamp(collector: int, created: int | None, sent: int | None, true: int | None) -> int:
    """The best guess of when the event happened, corrected for a wrong device clock."""
    if true is not None:
        return true
    if created is not None and sent is not None and created < sent:
        return collector - (sent - created)
    return collector


SchemaParts = tuple[str, str, str, str]
#: Parsed schema URIs: a site sends few distinct schemas, so parsing each once pays.
_schema_parts: dict[str, SchemaParts | None] = {}
_SCHEMA_CACHE_ENTRIES = 4096


def split_schema_uri(uri: str) -> SchemaParts | None:
    """Vendor, name, format and version of ``iglu:vendor/name/format/M-R-A``, else None."""
    try:
        return _schema_parts[uri]
    except KeyError:
        pass
    match = _IGLU_URI.fullmatch(uri)
    parts: SchemaParts | None = None
    if match is not None:
        vendor, name, format_, version = match.groups()
        parts = (vendor, name, format_, version)
    if len(_schema_parts) >= _SCHEMA_CACHE_ENTRIES:
        _schema_parts.clear()
    _schema_parts[uri] = parts
    return parts


def event_ip(value: str) -> str:
    """The address in a tracker's ``ip`` field: its first token."""
    return _IP_SEPARATORS.split(value.strip(), maxsplit=1)[0]


def trusted_networks(proxies: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Parsed ``Settings.trusted_proxies``."""
    return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies)


def _is_trusted(address: str, networks: tuple[IPNetwork, ...]) -> bool:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in networks)


def client_ip(
    peer: str | None, forwarded_for: str | None, networks: tuple[IPNetwork, ...]
) -> str | None:
    """The client's address: the peer, or, behind trusted proxies, the nearest untrusted
    hop named in ``X-Forwarded-For`` (read right to left, so a client cannot forge it)."""
    if peer is None or forwarded_for is None or not networks:
        return peer
    if not _is_trusted(peer, networks):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, networks):
            return hop
    return hops[0] if hops else peer


def fingerprint(event: dict[str, Any]) -> bytes:
    """16 bytes identifying the event's content; ``stm`` is left out because a tracker
    sets it at send time, so a retry of the same event differs only there."""
    if "stm" not in event:
        return blake2b(orjson.dumps(event, option=orjson.OPT_SORT_KEYS), digest_size=16).digest()
    content = event.copy()
    del content["stm"]
    return blake2b(orjson.dumps(content, option=orjson.OPT_SORT_KEYS), digest_size=16).digest()
