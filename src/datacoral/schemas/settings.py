"""Iglu settings: ``--iglu URL_OR_DIR`` (repeatable) and ``DATACORAL_IGLU`` as typed values.

Each value names one source, looked up after the embedded set in the order given:

- ``DIR`` (a path; ``file:///abs/path`` too): a local folder in the static layout, one
  that holds ``schemas/`` or is ``schemas/`` itself;
- ``http(s)://HOST[:PORT][/PREFIX]``: a static repository, read as
  ``{url}/schemas/{vendor}/{name}/{format}/{version}``;
- ``iglu-server+http(s)://[KEY@]HOST[:PORT][/PREFIX]``: an Iglu Server, read as
  ``{url}/api/schemas/...`` with the ``apikey`` header: ``KEY``, else
  ``DATACORAL_IGLU_APIKEY`` when set (``/PREFIX`` may end in ``/api`` or not).

``DATACORAL_IGLU`` holds several values separated by commas or white space (a path
holding either goes through ``--iglu``). A key written in a value is a secret in the
process list: prefer ``DATACORAL_IGLU_APIKEY``. ``repr`` never shows a key.
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import requests

from datacoral.schemas.errors import InvalidIgluSource, shown
from datacoral.schemas.registries import DEFAULT_TIMEOUT, IgluServerSource, StaticRegistrySource
from datacoral.schemas.resolver import (
    DEFAULT_FAILURE_TTL,
    DEFAULT_MAX_ENTRIES,
    DEFAULT_MISS_TTL,
    DEFAULT_TTL,
    Resolver,
)
from datacoral.schemas.sources import EmbeddedSource, LocalFolderSource, SchemaSource

IGLU_VARIABLE = "DATACORAL_IGLU"
APIKEY_VARIABLE = "DATACORAL_IGLU_APIKEY"
#: The public registry (Iglu Central), for who wants it: ``--iglu http://iglucentral.com``.
IGLU_CENTRAL = "http://iglucentral.com"
_SERVER_PREFIX = "iglu-server+"
_SEPARATORS = re.compile(r"[\s,]+")


@dataclasses.dataclass(frozen=True)
class LocalFolder:
    """A folder in the static Iglu layout."""

    path: Path


@dataclasses.dataclass(frozen=True)
class StaticRepository:
    """A static Iglu repository under ``url`` (no trailing slash)."""

    url: str


@dataclasses.dataclass(frozen=True)
class IgluServer:
    """An Iglu Server under ``url``; ``apikey`` is sent as the ``apikey`` header."""

    url: str
    apikey: str | None = dataclasses.field(default=None, repr=False)


SourceSpec = LocalFolder | StaticRepository | IgluServer


def split_iglu_variable(text: str) -> list[str]:
    """The values of ``DATACORAL_IGLU``: separated by commas or white space."""
    return [value for value in _SEPARATORS.split(text.strip()) if value]


def parse_iglu_source(value: str, environ: Mapping[str, str] = os.environ) -> SourceSpec:
    """One ``--iglu`` value as a source; :class:`InvalidIgluSource` says what is wrong."""
    text = value.strip()
    if not text:
        raise InvalidIgluSource("--iglu: empty value; give a folder or an http(s) URL")
    server = text.startswith(_SERVER_PREFIX)
    url = text[len(_SERVER_PREFIX) :] if server else text
    parts = urlsplit(url)
    if parts.scheme == "file":
        return _folder(Path(unquote(parts.path)), value)
    if parts.scheme not in ("http", "https"):
        if server or "://" in text:
            raise InvalidIgluSource(
                f"--iglu {shown(value)}: not http(s); write http(s)://host[/prefix] for a "
                "static repository, iglu-server+https://host for an Iglu Server, or a folder"
            )
        return _folder(Path(text).expanduser(), value)
    if not parts.hostname:
        raise InvalidIgluSource(f"--iglu {shown(value)}: the URL has no host")
    if parts.query or parts.fragment:
        raise InvalidIgluSource(f"--iglu {shown(value)}: a registry URL takes no ?query or #")
    netloc = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    try:
        port = parts.port
    except ValueError:
        raise InvalidIgluSource(f"--iglu {shown(value)}: the port is not a number") from None
    if port is not None:
        netloc += f":{port}"
    base = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
    credentials = parts.username or parts.password
    if not server:
        if credentials:
            raise InvalidIgluSource(
                f"--iglu {parts.scheme}://...@{netloc}: a static repository takes no key; "
                "for an Iglu Server write iglu-server+https://KEY@host"
            )
        return StaticRepository(base)
    apikey = unquote(parts.password or parts.username or "") or environ.get(APIKEY_VARIABLE)
    return IgluServer(base, apikey or None)


def _folder(path: Path, value: str) -> LocalFolder:
    if not path.is_dir():
        raise InvalidIgluSource(f"--iglu {shown(value)}: no such folder")
    return LocalFolder(path.resolve())


@dataclasses.dataclass(frozen=True, kw_only=True)
class IgluSettings:
    """How schemas are resolved: the configured sources (after the embedded set, always
    first) and the resolver's timings (resolver.py has the policy)."""

    sources: tuple[SourceSpec, ...] = ()
    ttl: float = DEFAULT_TTL
    miss_ttl: float = DEFAULT_MISS_TTL
    failure_ttl: float = DEFAULT_FAILURE_TTL
    #: Seconds per connect and per read of one registry request.
    timeout: float = DEFAULT_TIMEOUT
    max_entries: int = DEFAULT_MAX_ENTRIES

    def __post_init__(self) -> None:
        if min(self.ttl, self.miss_ttl, self.failure_ttl) < 0:
            raise InvalidIgluSource("iglu: ttl, miss_ttl and failure_ttl must be >= 0")
        if self.timeout <= 0 or self.max_entries < 1:
            raise InvalidIgluSource("iglu: timeout must be > 0 and max_entries >= 1")

    @classmethod
    def from_values(
        cls,
        values: Iterable[str] = (),
        *,
        environ: Mapping[str, str] = os.environ,
    ) -> IgluSettings:
        """Settings from ``--iglu`` values; without any, from ``DATACORAL_IGLU`` in
        ``environ`` (a flag given replaces the variable, as for every setting). Timings
        keep their defaults: ``dataclasses.replace`` changes them."""
        given = list(values)
        if not given:
            given = split_iglu_variable(environ.get(IGLU_VARIABLE, ""))
        return cls(sources=tuple(parse_iglu_source(value, environ) for value in given))

    def build_sources(self, session: requests.Session | None = None) -> list[SchemaSource]:
        """The sources, embedded first; HTTP ones share ``session`` (one is made if None)."""
        sources: list[SchemaSource] = [EmbeddedSource()]
        if any(not isinstance(spec, LocalFolder) for spec in self.sources) and session is None:
            session = requests.Session()
        for spec in self.sources:
            if isinstance(spec, LocalFolder):
                sources.append(LocalFolderSource(spec.path))
            elif isinstance(spec, StaticRepository):
                sources.append(
                    StaticRegistrySource(spec.url, timeout=self.timeout, session=session)
                )
            else:
                sources.append(
                    IgluServerSource(spec.url, spec.apikey, timeout=self.timeout, session=session)
                )
        return sources

    def build_resolver(
        self,
        *,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> Resolver:
        """A resolver over :meth:`build_sources` with these timings."""
        return Resolver(
            self.build_sources(session),
            ttl=self.ttl,
            miss_ttl=self.miss_ttl,
            failure_ttl=self.failure_ttl,
            max_entries=self.max_entries,
            clock=clock,
        )
