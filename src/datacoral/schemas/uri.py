"""Iglu schema keys: ``iglu:vendor/name/format/MODEL-REVISION-ADDITION`` parsed and formatted.

The characters allowed in each part are the self-describing meta-schema's; a key is
also the path of the schema in a static registry, so it can never climb out of one
(no part is ``.`` or ``..``, none contains ``/``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NamedTuple
from urllib.parse import urldefrag, urlsplit

from datacoral.schemas.errors import InvalidSchemaUri, shown

#: Longer is not a schema name but someone's payload; it is refused before any matching.
MAX_URI_LENGTH = 512
_IGLU = re.compile(
    r"iglu:([a-zA-Z0-9_.-]+)/([a-zA-Z0-9_-]+)/([a-zA-Z0-9_-]+)/([0-9]+-[0-9]+-[0-9]+)"
)
_VENDOR = re.compile(r"[a-zA-Z0-9_.-]+")
_NAME = re.compile(r"[a-zA-Z0-9_-]+")
_VERSION = re.compile(r"[0-9]+-[0-9]+-[0-9]+")
#: ``http(s)://host[/prefix]/schemas/vendor/name/format/version``: how Iglu schemas refer
#: to each other in ``$ref`` (e.g. ``http://iglucentral.com/schemas/...``).
_SCHEMAS_PATH = re.compile(
    r"(?:.*/)?schemas/([a-zA-Z0-9_.-]+)/([a-zA-Z0-9_-]+)/([a-zA-Z0-9_-]+)/([0-9]+-[0-9]+-[0-9]+)"
)


class SchemaKey(NamedTuple):
    """The four parts of an Iglu schema key (a named tuple: hashed on every event)."""

    vendor: str
    name: str
    format: str
    version: str

    @property
    def uri(self) -> str:
        """``iglu:vendor/name/format/version``."""
        return f"iglu:{self.vendor}/{self.name}/{self.format}/{self.version}"

    @property
    def path(self) -> str:
        """``vendor/name/format/version``: the schema's path under ``schemas/`` in a registry."""
        return f"{self.vendor}/{self.name}/{self.format}/{self.version}"

    def __str__(self) -> str:
        return self.uri


def _key(vendor: str, name: str, format_: str, version: str) -> SchemaKey | None:
    if not vendor.strip("."):  # "." or "..": a path that climbs
        return None
    return SchemaKey(vendor, name, format_, version)


def parse_schema_uri(uri: object) -> SchemaKey:
    """The key of ``iglu:vendor/name/format/M-R-A``; :class:`InvalidSchemaUri` otherwise."""
    if not isinstance(uri, str):
        raise InvalidSchemaUri(shown(uri), "schema: not a string")
    if len(uri) > MAX_URI_LENGTH:
        raise InvalidSchemaUri(shown(uri), f"schema: longer than {MAX_URI_LENGTH} characters")
    match = _IGLU.fullmatch(uri)
    key = None if match is None else _key(*match.groups())
    if key is None:
        raise InvalidSchemaUri(
            shown(uri), "schema: not an Iglu URI (iglu:vendor/name/format/MODEL-REVISION-ADDITION)"
        )
    return key


#: Keys parsed so far: a site sends few distinct schemas. Cleared when full, so hostile
#: URIs cannot grow it.
_parsed: dict[str, SchemaKey] = {}
_PARSED_ENTRIES = 4096


def cached_schema_key(uri: object) -> SchemaKey:
    """:func:`parse_schema_uri`, remembered for the URIs that parse (the hot path)."""
    try:
        return _parsed[uri]  # type: ignore[index]
    except (KeyError, TypeError):  # TypeError: an unhashable value, refused below
        pass
    key = parse_schema_uri(uri)
    if len(_parsed) >= _PARSED_ENTRIES:
        _parsed.clear()
    _parsed[uri] = key  # type: ignore[index]
    return key


def key_from_self(document: Mapping[str, object]) -> SchemaKey | None:
    """The key a schema's ``self`` block declares, or None when it declares none properly."""
    block = document.get("self")
    if not isinstance(block, Mapping):
        return None
    parts = [block.get(part) for part in ("vendor", "name", "format", "version")]
    if not all(isinstance(p, str) for p in parts):
        return None
    vendor, name, format_, version = (str(p) for p in parts)
    if not (
        _VENDOR.fullmatch(vendor)
        and _NAME.fullmatch(name)
        and _NAME.fullmatch(format_)
        and _VERSION.fullmatch(version)
    ):
        return None
    return _key(vendor, name, format_, version)


def key_from_reference(reference: str) -> SchemaKey | None:
    """The key a ``$ref`` names: an Iglu URI, or an http(s) URL ending in
    ``schemas/vendor/name/format/version`` (the static registry layout); else None.

    The URL's host is ignored on purpose: references are resolved through the configured
    sources, never fetched from where a schema says (no request goes to a host a schema
    chose).
    """
    url = urldefrag(reference).url
    if len(url) > MAX_URI_LENGTH:
        return None
    if url.startswith("iglu:"):
        match = _IGLU.fullmatch(url)
        return None if match is None else _key(*match.groups())
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.query:
        return None
    match = _SCHEMAS_PATH.fullmatch(parts.path)
    return None if match is None else _key(*match.groups())
