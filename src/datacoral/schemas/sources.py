"""Where schemas come from: the embedded set and local folders (registries.py: over HTTP).

Every source answers one question, :meth:`SchemaSource.fetch`, with one of three
typed results, and never raises for what a registry does:

- :class:`Found`: the schema, as a JSON object;
- :class:`Missing`: the source answered and has no such schema;
- :class:`Failed`: the source could not give a usable answer now (unreachable, timed
  out, a 5xx, an unreadable or oversized body). It is not a "no": the resolver keeps
  an earlier copy in use and asks again soon (resolver.py).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from datacoral.schemas.uri import SchemaKey

if sys.version_info >= (3, 11):
    from importlib.resources.abc import Traversable
else:  # pragma: no cover - 3.10
    from importlib.abc import Traversable

_EMBEDDED = resources.files("datacoral.schemas").joinpath("embedded")
#: A schema larger than this is not read (Iglu Central's largest is 52 KiB).
MAX_SCHEMA_BYTES = 1024 * 1024


class Found(NamedTuple):
    """The source has the schema."""

    schema: Mapping[str, Any]


class Missing(NamedTuple):
    """The source answered: it has no schema by that key."""

    reason: str


class Failed(NamedTuple):
    """The source could not answer now; ``reason`` says why (no secrets in it)."""

    reason: str


Lookup = Found | Missing | Failed


class SchemaSource(Protocol):
    """One place schemas are looked up in; the resolver asks its sources in order."""

    @property
    def name(self) -> str:
        """How messages and logs name the source, e.g. ``static https://iglu.example.com``."""
        ...

    def fetch(self, key: SchemaKey) -> Lookup:
        """The schema of ``key``, or why not. May block (disk, network); never raises."""
        ...


def parse_schema_document(where: str, body: bytes) -> Lookup:
    """A fetched body as a schema: a JSON object, else :class:`Failed` saying what it was."""
    if len(body) > MAX_SCHEMA_BYTES:
        return Failed(f"{where}: larger than {MAX_SCHEMA_BYTES} bytes")
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return Failed(f"{where}: not JSON")
    if not isinstance(document, dict):
        return Failed(f"{where}: not a JSON object")
    return Found(document)


class _TreeSource:
    """A static Iglu layout (``{vendor}/{name}/{format}/{version}``) under one root."""

    def __init__(self, name: str, root: Traversable) -> None:
        self._name = name
        self._root = root

    @property
    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._name}>"

    def fetch(self, key: SchemaKey) -> Lookup:
        entry = self._root
        for part in key:  # one part per call: 3.10's Traversable takes one
            entry = entry.joinpath(part)
        try:
            with entry.open("rb") as file:
                body = file.read(MAX_SCHEMA_BYTES + 1)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return Missing(f"{self._name}: no {key.path}")
        except OSError as exc:
            return Failed(f"{self._name}: {key.path}: {type(exc).__name__}")
        return parse_schema_document(f"{self._name}: {key.path}", body)


class EmbeddedSource(_TreeSource):
    """The schemas shipped in this package (embedded/README.md lists them): the protocol's
    own, and the meta-schema every schema is checked against. Always asked first."""

    def __init__(self) -> None:
        super().__init__("embedded", _EMBEDDED.joinpath("schemas"))


class LocalFolderSource(_TreeSource):
    """A folder in the static Iglu layout: ``root`` holds ``schemas/``, or is ``schemas/``.
    Files are read on each lookup (the resolver caches), so edits are seen after the TTL."""

    def __init__(self, root: Path) -> None:
        schemas = root / "schemas"
        super().__init__(f"folder {root}", schemas if schemas.is_dir() else root)


def embedded_document(*parts: str) -> dict[str, Any]:
    """A JSON document shipped in ``embedded/`` (e.g. the draft-04 meta-schema)."""
    entry = _EMBEDDED
    for part in parts:
        entry = entry.joinpath(part)
    text = entry.read_text("utf-8")
    document: dict[str, Any] = json.loads(text)
    return document
